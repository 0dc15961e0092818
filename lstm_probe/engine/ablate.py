"""``lstm-probe ablate``: what a memory channel causes, not just what it looks like.

Streams the same videos with and without an intervention on the memory (by default: zero the
chosen channels of C_t from a frame on) and compares PCK per joint and per split (clean, occluded,
cue-less on the synthetic set). ``sweep_channels`` ablates every channel alone and returns the
channel-importance matrix: PCK drop (baseline − ablated) per channel and joint, over a set of
clips — to put next to the correlational channel × joint map of the channel analysis.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..data.video import Video
from ..metrics import pck as P
from ..models import PoseMachine
from ..probe.recorder import Intervention, MemoryProbe, mean_of
from ..skeleton import SKELETON
from ..transforms.augment import CropPolicy
from ..transforms.heatmaps import HeatmapCodec
from ..utils import LstmProbeError, progress_bar
from .evaluate import collect, score


def joint_pck(records: list[dict], alpha: float = 0.2, from_frame: int = 0) -> np.ndarray:
    """(J,) PCK per joint over labelled joints, frames ≥ from_frame."""
    hits, valid = [], []
    for r in records:
        h, v = P.pck_hits(r["pred"], r["gt"], r["vis"] >= 0, P.box_size(r["bbox"]), alpha)
        hits.append(h[from_frame:])
        valid.append(v[from_frame:])
    return P.per_joint(np.concatenate(hits), np.concatenate(valid))


def compare(base: list[dict], ablated: list[dict], alpha: float = 0.2) -> dict:
    a, b = score(base, alpha), score(ablated, alpha)
    key = f"pck@{alpha:g}"
    out = {
        "joints": {
            n: {"baseline": a[key]["joints"][n], "ablated": b[key]["joints"][n]}
            for n in SKELETON.names
        },
        "groups": {
            g: {"baseline": a[key]["groups"][g], "ablated": b[key]["groups"][g]}
            for g in a[key]["groups"]
        },
    }
    if "splits" in a:
        out["splits"] = {
            s: {"baseline": a["splits"][s], "ablated": b["splits"][s]} for s in a["splits"]
        }
    return out


def sweep_channels(
    model: PoseMachine,
    videos: Sequence[Video],
    policy: CropPolicy,
    codec: HeatmapCodec,
    point: str = "cell",
    from_frame: int = 0,
    alpha: float = 0.2,
    device: torch.device | str = "cpu",
    progress: bool = True,
    channels: Sequence[int] | None = None,
) -> dict:
    """Ablate each channel alone -> {"importance": (C, J) PCK drop, "baseline": (J,)}.

    With ``channels`` only those are swept; the other rows of the matrix are NaN."""
    videos = list(videos)
    base = joint_pck(collect(model, videos, policy, codec, device), alpha, from_frame)
    C = model.config.hidden_channels
    rows = np.full((C, len(base)), np.nan)
    todo = range(C) if channels is None else list(channels)
    for c in progress_bar(progress, todo, desc="ablate channels", unit="channel"):
        iv = Intervention(point, [c], "zero", frames=(from_frame, None))
        ablated = collect(model, videos, policy, codec, device, interventions=[iv])
        rows[c] = base - joint_pck(ablated, alpha, from_frame)
    return {
        "point": point,
        "from_frame": from_frame,
        "alpha": alpha,
        "joints": list(SKELETON.names),
        "baseline": base.tolist(),
        "importance": rows.tolist(),
        "videos": [v.video_id for v in videos],
    }


def ablate_channels(
    model: PoseMachine,
    videos: Sequence[Video],
    policy: CropPolicy,
    codec: HeatmapCodec,
    channels: Sequence[int],
    point: str = "cell",
    from_frame: int = 0,
    mode: str = "zero",
    device: torch.device | str = "cpu",
) -> dict:
    """Ablate ``channels`` of ``point`` together from ``from_frame`` on and compare with the
    unablated run (:func:`compare`). ``mode="mean"`` replaces them by their mean over the same
    clips, unablated (the reference run is recorded first)."""
    C = model.config.hidden_channels
    bad = [c for c in channels if not 0 <= c < C]
    if not channels or bad:
        raise LstmProbeError(f"--channels must be channels in 0..{C - 1}, got {list(channels)}")
    value = None
    if mode == "mean":
        seen: dict = {}
        with MemoryProbe(model, [point], keep="none",
                         on_record=lambda n, t, x: seen.__setitem__(len(seen), x)):  # fmt: skip
            base = collect(model, videos, policy, codec, device)
        value = mean_of(seen, channels)
    else:
        base = collect(model, videos, policy, codec, device)
    iv = Intervention(point, list(channels), mode, frames=(from_frame, None), value=value)
    result = compare(base, collect(model, videos, policy, codec, device, interventions=[iv]))
    result.update(channels=list(channels), point=point, from_frame=from_frame, mode=mode)
    return result


def ablate_checkpoint(
    checkpoint,
    data: str,
    channels: Sequence[int] | None = None,
    sweep: bool = False,
    point: str = "cell",
    from_frame: int = 0,
    mode: str = "zero",
    device=None,
    accel: str = "plain",
    progress: bool = True,
) -> dict:
    """``lstm-probe ablate``: ``channels`` together (:func:`ablate_channels`) or, with ``sweep``,
    every channel alone (:func:`sweep_channels`) on the videos of ``data``."""
    from ..data import open_source
    from .infer import load_for_inference

    model, _, policy, codec = load_for_inference(checkpoint, device, accel)
    dev = next(model.parameters()).device
    if not model.has_memory:
        raise LstmProbeError(f"{checkpoint}: a {model.name!r} model has no memory to ablate")
    videos = [v for v in open_source(data) if v.annotations.labelled]
    if not videos:
        raise LstmProbeError(f"{data}: no annotated video: an ablation is scored against labels")
    if sweep:
        result = sweep_channels(model, videos, policy, codec, point, from_frame, device=dev,
                                progress=progress)  # fmt: skip
    elif not channels:
        raise LstmProbeError("give --channels C[,C…] or --sweep")
    else:
        result = ablate_channels(model, videos, policy, codec, channels, point, from_frame, mode,
                                 dev)  # fmt: skip
    result.update(checkpoint=str(checkpoint), data=data)
    return result


def format_result(result: dict) -> str:
    """A sweep's top channels, or an ablation's table."""
    if "importance" in result:
        return format_sweep(result)
    head = (
        f"ablating {result['point']} channels {result['channels']} from frame "
        f"{result['from_frame']} ({result['mode']}):"
    )
    return head + "\n" + format_comparison(result)


def format_sweep(result: dict, top: int = 5) -> str:
    """The ``top`` channels of a sweep by mean PCK drop over joints, each with its joint."""
    imp = np.asarray(result["importance"])
    mean = np.nanmean(imp, 1)
    order = [c for c in np.argsort(-np.nan_to_num(mean, nan=-np.inf)) if np.isfinite(mean[c])]
    lines = ["most important channels (mean PCK drop over joints):"]
    for c in order[:top]:
        j = int(np.nanargmax(imp[c]))
        lines.append(
            f"  channel {c:>2}: mean drop {mean[c]:5.2f}, most on {SKELETON.names[j]} "
            f"({imp[c, j]:.1f})"
        )
    return "\n".join(lines)


def format_comparison(result: dict) -> str:
    lines = [f"{'':<10}{'baseline':>10}{'ablated':>10}{'drop':>8}"]
    for g, e in result["groups"].items():
        lines.append(
            f"{g:<10}{e['baseline']:>10.1f}{e['ablated']:>10.1f}{e['baseline'] - e['ablated']:>8.1f}"
        )
    for s, e in result.get("splits", {}).items():
        k = next(k for k in e["baseline"] if k.startswith("pck@"))
        b, a = e["baseline"][k], e["ablated"][k]
        lines.append(f"{s:<10}{b:>10.1f}{a:>10.1f}{b - a:>8.1f}")
    return "\n".join(lines)


def agreement(importance: np.ndarray, attention: np.ndarray) -> dict:
    """Do causal importance (C, J) and correlational attention scores (C, J) agree?

    Returns the Spearman correlation over all (channel, joint) cells, and the share of channels
    whose most important joint is also the joint their memory attends to most."""
    from scipy.stats import spearmanr

    rho, p = spearmanr(np.ravel(importance), np.ravel(attention))
    same = np.argmax(importance, 1) == np.argmax(attention, 1)
    return {"spearman": float(rho), "p_value": float(p), "same_top_joint": float(same.mean())}


def occlusion_cut(
    model: PoseMachine,
    videos: Sequence[Video],
    policy: CropPolicy,
    codec: HeatmapCodec,
    channels: Sequence[int] | None = None,
    point: str = "cell",
    device: torch.device | str = "cpu",
) -> dict:
    """Which channels carry an occluded joint through the occlusion? For every synthetic video with
    an occluder, ablate one channel at a time from the frame the occluder arrives and measure the
    mean error (px) at the hidden joints while they are hidden, against the unablated run."""
    channels = list(range(model.config.hidden_channels)) if channels is None else list(channels)
    cases = []
    for v in videos:
        occ = v.annotations.flags.get("occluded")
        if occ is not None and occ.any():
            cases.append((v, int(np.nonzero(occ.any(1))[0][0]), occ))
    if not cases:
        return {"cases": 0}

    def hidden_error(interventions_for):
        errs = []
        for v, start, occ in cases:
            rec = collect(
                model, [v], policy, codec, device, interventions=interventions_for(start)
            )[0]
            d = np.linalg.norm(rec["pred"] - rec["gt"], axis=-1)
            errs.append(d[occ[: len(d)]])
        return float(np.concatenate(errs).mean())

    base = hidden_error(lambda s: [])
    per_channel = {
        c: hidden_error(lambda s, c=c: [Intervention(point, [c], "zero", frames=(s, None))]) - base
        for c in channels
    }
    all_cut = (
        hidden_error(lambda s: [Intervention(point, channels, "zero", frames=(s, None))]) - base
    )
    return {
        "cases": len(cases),
        "baseline_error": base,
        "increase": per_channel,
        "all_channels": all_cut,
    }
