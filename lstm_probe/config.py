"""Run configuration: YAML files with dotted command-line overrides.

The CPU configs ship inside the package (``lstm_probe/configs/``: ``synthetic_lstm_pm_small``,
``synthetic_rpm_small``, ``synthetic_cpm_small``, ``tiny_cpu``) and are named without a path
(``lstm-probe train synthetic_lstm_pm_small``); the paper's recipes are in ``training/configs/``
of the repository.

A config is a plain nested dict with four sections, each with defaults here::

    model:  name, preset (+ any ModelConfig field as an override)
    data:   source, clip_length, crop {scale_mode, scale_range, rotation, flip_prob, fit_fraction},
            sigma, synthetic {SyntheticConfig fields}
    optim:  name (adam | sgd), lr, momentum, weight_decay, schedule (cosine | step), warmup,
            step_size, gamma, grad_clip, batch_size, steps, caffe_lr_mult
    run:    seed, checkpoint_every, workers, pretrain_single_image, init_from, probe_every,
            probe_videos

``--optim.lr=3e-4`` style overrides are parsed with YAML, so numbers and lists keep their types.
The resolved config is written into every run directory and checkpoint.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from .utils import InputError

DEFAULTS: dict = {
    "model": {"name": "lstm_pm", "preset": "small"},
    "data": {
        "source": "synthetic:train",
        "clip_length": 5,
        "sigma": 7.0,
        "crop": {
            "scale_mode": "fit",
            "scale_range": [0.85, 1.15],
            "rotation": 20.0,
            "flip_prob": 0.0,
            "fit_fraction": 0.8,
        },
        "synthetic": {"num_videos": 100000, "num_frames": 24},
    },
    "optim": {
        "name": "adam",
        "lr": 1.0e-3,
        "momentum": 0.9,
        "weight_decay": 0.0,
        "schedule": "cosine",
        "warmup": 100,
        "step_size": 40000,
        "gamma": 0.333,
        "grad_clip": 10.0,
        "batch_size": 8,
        "steps": 1500,
        "caffe_lr_mult": False,
    },
    "run": {
        "seed": 0,
        "checkpoint_every": 250,
        "workers": 1,
        "pretrain_single_image": False,
        "init_from": None,
        "probe_every": 0,
        "probe_videos": 2,
    },
}


def merge(base: dict, update: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in update.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def apply_overrides(cfg: dict, overrides: list[str]) -> dict:
    cfg = copy.deepcopy(cfg)
    for item in overrides:
        key, sep, raw = item.lstrip("-").partition("=")
        if not sep or not key:
            raise InputError(None, f"override {item!r} is not of the form --section.key=value")
        node = cfg
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise InputError(None, f"override {item!r}: {p!r} is not a section")
        node[leaf] = yaml.safe_load(raw)
    return cfg


def packaged_configs() -> dict[str, Path]:
    """Name -> path of every config shipped in the package."""
    from importlib import resources

    folder = Path(str(resources.files("lstm_probe") / "configs"))
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))}


def config_path(name_or_path: str | Path) -> Path:
    """A config file: an existing path, else the packaged config of that name."""
    path = Path(name_or_path)
    if path.exists():
        return path
    packaged = packaged_configs()
    if path.stem in packaged and path.name in (path.stem, f"{path.stem}.yaml"):
        return packaged[path.stem]
    raise InputError(path, f"config file not found (packaged configs: {', '.join(packaged)})")


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> dict:
    cfg = DEFAULTS
    if path is not None:
        path = config_path(path)
        try:
            user = yaml.safe_load(path.read_text()) or {}
        except FileNotFoundError:
            raise InputError(path, "config file not found") from None
        except yaml.YAMLError as e:
            raise InputError(path, f"invalid YAML ({e})") from None
        if not isinstance(user, dict):
            raise InputError(path, "a config file must be a mapping of sections")
        unknown = set(user) - set(DEFAULTS)
        if unknown:
            raise InputError(path, f"unknown sections {sorted(unknown)}")
        cfg = merge(cfg, user)
    return apply_overrides(cfg, overrides or [])
