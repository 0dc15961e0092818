"""Is a model run on what it was trained for? The one rule behind the warning of ``infer``,
``dump`` and the dashboard, and the "guessing" summary of ``infer``.

A checkpoint trained only on the built-in synthetic figures (:func:`lstm_probe.checkpoint.
trained_on`; its ``init_from`` chain included) has never seen a person: on real footage — any
source that is not the synthetic set — its poses mean nothing. Such a run prints one warning
naming the three ways to a model that sees people. A model trained or fine-tuned on anything
else, an imported Caffe model, and a checkpoint that does not say what it saw, get none.

The per-frame confidence is the mean over joints of the peak height of each joint's belief map
(``confidence`` in the infer JSON and in dumps). A frame whose mean lies below
:data:`GUESS_THRESHOLD` counts as a guess (docs/real-footage.md).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from .checkpoint import TRAINED_ON_KINDS, trained_on

#: a frame whose mean peak belief lies below this counts as a guess
GUESS_THRESHOLD = 0.55

WAYS_FORWARD = (
    "Three ways to a model that sees people (docs/real-footage.md): "
    "(1) import the authors' Caffe weights: lstm-probe import-caffe MODEL.caffemodel --out "
    "lstm_pm_penn.pt (docs/caffe-import.md); "
    "(2) train on Penn Action or sub-JHMDB: lstm-probe train "
    "training/configs/lstm_pm_penn_368.yaml (needs the dataset and a GPU); "
    "(3) fine-tune on your own footage from teacher labels: lstm-probe label VIDEO --teacher "
    "mediapipe --out keypoints.json, then lstm-probe train "
    "training/configs/finetune_own_footage.yaml --data.source=own:VIDEO:keypoints.json:train."
)


def synthetic_only(info: dict | None) -> bool:
    """Has a model (its :func:`trained_on` record) seen nothing but the synthetic figures?"""
    if not info or set(info.get("kinds") or ()) != {"synthetic"}:
        return False
    init = info.get("init_from")
    return init is None or synthetic_only(init)


def is_synthetic_source(source: str) -> bool:
    """A video's ``attrs["source"]`` or a source string of the built-in synthetic set."""
    s = str(source or "")
    return s == "synthetic" or s.startswith("synthetic:")


def describe(info: dict) -> str:
    """``the built-in synthetic figures (synthetic:train), input 128 px``."""
    kinds = " + ".join(TRAINED_ON_KINDS.get(k, k) for k in info.get("kinds") or ["unknown"])
    source = f" ({info['source']})" if info.get("source") else ""
    size = f", input {info['input_size']} px" if info.get("input_size") else ""
    return f"{kinds}{source}{size}"


def domain_warning(payload: dict, sources: Iterable[str]) -> str | None:
    """The warning for a checkpoint (its payload: ``meta`` and ``model``) run on videos from
    ``sources`` (their ``attrs["source"]`` or paths), or None when there is nothing to say."""
    info = trained_on(payload)
    real = [s for s in sources if not is_synthetic_source(s)]
    if not real or not synthetic_only(info):
        return None
    more = f" and {len(real) - 1} more" if len(real) > 1 else ""
    return (
        f"warning: this model was trained only on {describe(info)}; it has never seen a person, "
        f"so its poses on real footage ({real[0]}{more}) are not meaningful. {WAYS_FORWARD}"
    )


def warn_domain(payload: dict, sources: Iterable[str], file=None) -> str | None:
    """Print :func:`domain_warning` (to stderr) when there is one; return it."""
    msg = domain_warning(payload, list(sources))
    if msg:
        print(f"lstm-probe: {msg}", file=file or sys.stderr)
    return msg


def warn_dumps(manifests: Iterable[dict], file=None) -> str | None:
    """The dashboard: one warning for all the dumps it serves (the first dump it concerns)."""
    for m in manifests:
        ckpt = m.get("checkpoint") or {}
        payload = {"meta": ckpt.get("meta") or {}, "model": m.get("model") or {}}
        # a video's source as the dump recorded it (older dumps: in its attrs; none: unknown)
        sources = [
            v.get("source") or (v.get("attrs") or {}).get("source") for v in m.get("videos", [])
        ]
        sources = [str(s) for s in sources if s]
        msg = warn_domain(payload, sources, file)
        if msg:
            return msg
    return None


def guessing_summary(mean_confidences: Iterable[float]) -> str:
    """``the model is guessing on 57 % of frames (mean peak belief < 0.55); median 0.53``."""
    import numpy as np

    c = np.asarray(list(mean_confidences), dtype=float)
    if not len(c):
        return "no frame was processed"
    share = 100 * float((c < GUESS_THRESHOLD).mean())
    return (
        f"the model is guessing on {share:.0f} % of frames (mean peak belief < "
        f"{GUESS_THRESHOLD:g}); median mean peak belief {float(np.median(c)):.2f}"
    )
