"""Self-describing checkpoints: weights + the resolved model config + version, safely loaded.

A checkpoint file is a plain dict saved with ``torch.save``::

    {"format": "lstm-probe-checkpoint", "format_version": 1, "lstm_probe_version": "...",
     "model": {"name": "lstm_pm", "preset": "small", "config": {...}},
     "state_dict": {...}, "meta": {...}, "train_state": {...} (optional, for --resume)}

``meta["trained_on"]`` (written by training and by the Caffe import; derived for older files by
:func:`trained_on`) says what the weights have seen.

Loading uses ``torch.load(weights_only=True)``: tensors and plain containers only, no pickled
code is executed. The model is rebuilt from the file alone.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import torch

from . import __version__
from .models import MODELS, ModelConfig, PoseMachine
from .utils import InputError, atomic_path

FORMAT = "lstm-probe-checkpoint"
FORMAT_VERSION = 1
DEMO_CHECKPOINT = "demo_lstm_pm_small.pt"


def packaged_checkpoint() -> Path:
    """The small LSTM PM shipped in the package (trained on the synthetic set), used by
    ``lstm-probe demo``, the benchmarks and the notebooks."""
    from importlib import resources

    return Path(str(resources.files("lstm_probe") / "assets" / DEMO_CHECKPOINT))


#: what a checkpoint can have been trained on: kind -> how the warning and the docs name it
TRAINED_ON_KINDS = {
    "synthetic": "the built-in synthetic figures",
    "penn": "Penn Action",
    "jhmdb": "sub-JHMDB",
    "lsp": "LSP single images",
    "lsp-extended": "LSP-extended single images",
    "mpii": "MPII single images",
    "caffe": "the authors' released Caffe weights",
    "own": "own footage with keypoints",
    "unknown": "unrecorded data",
}


def source_kinds(source: str) -> list[str]:
    """The kinds (keys of :data:`TRAINED_ON_KINDS`) of a training data source string."""
    from .data.stills import split_sources

    kinds = []
    for part in split_sources(str(source or "")):
        while part.startswith("repeat:"):
            part = part.partition(":")[2].partition(":")[2]
        kind = part.partition(":")[0]
        kind = kind if kind in TRAINED_ON_KINDS else "own" if part else "unknown"
        if kind not in kinds:
            kinds.append(kind)
    return kinds or ["unknown"]


def training_record(cfg: dict, model: PoseMachine) -> dict:
    """``meta["trained_on"]`` of a training run's checkpoint (its config's data source, the
    teacher of own-footage keypoints, the checkpoint it started from)."""
    source = str(cfg.get("data", {}).get("source", ""))
    size = model.config.input_size
    record = {"kinds": source_kinds(source), "source": source, "input_size": int(size)}
    if source.startswith("own:"):
        from .data.own import parse_own, teacher_of

        try:
            record["teacher"] = teacher_of(parse_own(source[4:])[1])
        except InputError:
            record["teacher"] = None
    init = (cfg.get("run") or {}).get("init_from")
    if init:
        record["init_from"] = _trained_on_file(str(init))
    return record


def _trained_on_file(path: str) -> dict | None:
    p = Path(path)
    try:
        return _trained_on_cached(str(p.resolve()), p.stat().st_mtime)
    except (OSError, InputError):
        return None


@lru_cache(maxsize=8)
def _trained_on_cached(path: str, mtime: float) -> dict:
    return trained_on(read_checkpoint(path))


def trained_on(payload: dict) -> dict:
    """What a checkpoint was trained on -> ``{"kinds": [...], "source": str, "input_size": int,
    "init_from": {...} | None, "teacher": {...} | None}`` (``kinds``: keys of
    :data:`TRAINED_ON_KINDS`; ``init_from``: the same for the checkpoint its training started
    from). Read from ``meta["trained_on"]``; for older checkpoints derived from the config in
    the meta (``config.data.source``) or from the Caffe import's ``imported_from``."""
    meta = payload.get("meta") or {}
    size = (payload.get("model") or {}).get("config", {}).get("input_size")
    recorded = meta.get("trained_on")
    if isinstance(recorded, dict) and recorded.get("kinds"):
        out = dict(recorded)
    elif meta.get("imported_from"):
        out = {"kinds": ["caffe"], "source": str(meta["imported_from"])}
    else:
        source = (meta.get("config") or {}).get("data", {}).get("source")
        out = {"kinds": source_kinds(source), "source": str(source or "")}
        init = (meta.get("config") or {}).get("run", {}).get("init_from")
        if init:
            out["init_from"] = _trained_on_file(str(init))
    out.setdefault("input_size", size)
    out.setdefault("init_from", None)
    out.setdefault("teacher", None)
    return out


def save_checkpoint(
    path: str | os.PathLike,
    model: PoseMachine,
    preset: str | None = None,
    meta: dict | None = None,
    train_state: dict | None = None,
) -> Path:
    """Write atomically: a crash mid-write leaves the previous file intact."""
    model = getattr(model, "module", model)  # unwrap DistributedDataParallel
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "lstm_probe_version": __version__,
        "model": {
            "name": model.name,
            "preset": preset or "",
            "config": model.config.to_dict(),
        },
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "meta": meta or {},
    }
    if train_state is not None:
        payload["train_state"] = train_state
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def read_checkpoint(path: str | os.PathLike) -> dict:
    """Load and validate the container (no model built)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "checkpoint file not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt zip, truncated file, a pickled object that is not allowed
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(path, f"not a readable lstm-probe checkpoint ({msg})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise InputError(path, "not an lstm-probe checkpoint (missing format marker)")
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise InputError(
            path, f"checkpoint format version {version} is not supported (need {FORMAT_VERSION})"
        )
    for key in ("model", "state_dict"):
        if key not in payload:
            raise InputError(path, f"checkpoint has no {key!r} entry")
    return payload


def load_checkpoint(
    path: str | os.PathLike,
    device: str | torch.device = "cpu",
    expect_model: str | None = None,
) -> tuple[PoseMachine, dict]:
    """Rebuild the model from the file alone -> (model in eval mode, payload)."""
    payload = read_checkpoint(path)
    info = payload["model"]
    name = info.get("name")
    if name not in MODELS:
        raise InputError(path, f"unknown model {name!r} in checkpoint")
    if expect_model is not None and name != expect_model:
        raise InputError(path, f"checkpoint holds a {name!r} model, expected {expect_model!r}")
    try:
        cfg = ModelConfig.from_dict(info["config"])
    except (TypeError, ValueError) as e:
        raise InputError(path, f"invalid model config: {e}") from None
    model = MODELS[name](cfg)
    load_weights(model, payload["state_dict"], path)
    return model.to(device).eval(), payload


def load_weights(model: PoseMachine, state_dict: dict, path: str | os.PathLike | None) -> None:
    """Strict load with an error that lists what does not match."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    shapes = [
        f"{k}: file {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state_dict and tuple(state_dict[k].shape) != tuple(own[k].shape)
    ]
    problems = []
    if missing:
        problems.append(f"missing {len(missing)} tensors (e.g. {', '.join(missing[:3])})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected tensors (e.g. {', '.join(unexpected[:3])})")
    if shapes:
        problems.append(f"{len(shapes)} shape mismatches (e.g. {'; '.join(shapes[:3])})")
    if problems:
        raise InputError(path, "weights do not match the model: " + "; ".join(problems))
    model.load_state_dict(state_dict)
