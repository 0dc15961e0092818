"""Evaluation: stream every video, decode keypoints on the original frames, and score them.

Returns a plain dict (written as JSON/CSV by the command line):

- ``pck`` per joint and the paper's group table at α (default 0.2) and at 0.1;
- on the synthetic set, the same split by joint-frames: ``clean`` (not occluded), ``occluded``
  (hidden under the occluder, ground truth kept) and ``cueless`` (not occluded, in frames after
  the left/right cue vanished), plus the left/right swap rate on cue-less frames;
- ``acceleration_error``: mean per-joint acceleration error, pixels/frame² (flicker);
- on sub-JHMDB, all 15 joints count, the belly interpolated (``jhmdb_belly``).

Two protocols (:data:`PROTOCOLS`):

- ``paper`` — the authors' benchmark scripts (run_benchmark_GPU_PENN.m, ..._JHMDB.m; table in
  docs/protocol.md): 7 scales spread over the training range, beliefs mapped back onto the frame
  and summed before the arg-max; every frame cropped around its own box with its own scale check
  (:class:`~lstm_probe.engine.stream.FrameBoxCrops`, /1.05); Penn counts joints whose raw
  visibility is 1 and a frame with a zero-size box counts as misses; the paper's table with the
  paper's ``Mean`` (Penn: the 13 joints; sub-JHMDB: the 7 groups, belly and neck in the authors'
  ``overall``). ``exclude`` drops ``off_image`` joints or ``zero_box`` frames instead.
- ``quick`` — one scale (the middle of the range), the crop scale fixed from the first box
  (:class:`~lstm_probe.engine.stream.BoxCrops`), joints the loader marks visible; the group table
  with the mean of the groups. The synthetic benchmark's numbers are this protocol.

``eval`` on a checkpoint of the paper preset, or one trained on Penn or sub-JHMDB, runs ``paper``;
any other ``quick``; ``--protocol`` chooses.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..data.video import Video
from ..metrics import pck as P
from ..models import PoseMachine
from ..probe.recorder import MemoryProbe
from ..skeleton import SKELETON
from ..transforms.augment import CropPolicy
from ..transforms.heatmaps import HeatmapCodec
from ..utils import LstmProbeError, atomic_path, progress_bar, write_json_atomic
from .stream import FrameBoxCrops, crops_for, stream_video

PROTOCOLS = ("paper", "quick")
PAPER_SCALES = 7  # scale_search 0.8:0.1:1.4 / 1.2:0.1:1.8 (run_benchmark_GPU_PENN.m:7)
EXCLUSIONS = ("off_image", "zero_box")


def collect(
    model: PoseMachine,
    videos: Sequence[Video],
    policy: CropPolicy,
    codec: HeatmapCodec,
    device: torch.device | str = "cpu",
    progress: bool = False,
    scales: int = 1,
    interventions: Sequence = (),
    beliefs: bool = False,
    protocol: str = "quick",
    crop: str = "gt",
) -> list[dict]:
    """Stream every annotated video; ``scales`` > 1 runs the reference's multi-scale test with
    that many factors spread evenly over the crop policy's scale range; ``protocol="paper"`` crops
    every frame by its own box (:class:`FrameBoxCrops`), ``quick`` at the first box's scale
    (:class:`~lstm_probe.engine.stream.BoxCrops`); ``interventions`` (see
    :class:`lstm_probe.probe.recorder.Intervention`) are attached for every video; ``beliefs``
    keeps each frame's belief maps (single scale) in the record as ``beliefs`` (F, J+1, h, w);
    ``crop`` "track" lets the crop follow the model's own predictions from the first labelled
    frame's box on (as ``infer`` does) instead of each frame's labelled box."""
    _check_protocol(protocol)
    out = []
    factors = list(np.linspace(*policy.scale_range, scales)) if scales > 1 else None
    if protocol == "paper" and factors is None:  # one scale, still the per-frame box rule
        factors = [policy.test_transform().scale]
    for v in progress_bar(progress, videos, desc="evaluate", unit="video"):
        ann = v.annotations
        if ann.keypoints is None:
            continue
        preds, maps = [], []
        first = None
        if crop == "track":
            labelled = np.flatnonzero((ann.visibility >= 0).any(1))
            first = ann.bbox[labelled[0]] if len(labelled) else None
        with MemoryProbe(model, [], interventions=interventions, keep="none"):
            if protocol == "paper" and crop == "gt":
                if ann.bbox is None:
                    raise LstmProbeError(f"{v.video_id}: the paper protocol needs person boxes")
                crops = FrameBoxCrops(policy, ann.bbox)
            else:
                crops = crops_for(v, policy, crop, first)
            stream = stream_video(model, v, crops, codec, device, scales=factors)
            for r in stream:
                preds.append(r.keypoints)
                if beliefs and r.belief is not None:
                    maps.append(r.belief.cpu().numpy())
        n = len(preds)
        rec = {
            "video_id": v.video_id,
            "pred": np.stack(preds),
            "gt": ann.keypoints[:n],
            "vis": ann.visibility[:n],
            "bbox": ann.bbox[:n],
            "flags": {k: a[:n] for k, a in ann.flags.items()},
            "source": v.attrs.get("source", ""),
        }
        if maps:
            rec["beliefs"] = np.stack(maps)
        out.append(rec)
    return out


def checkpoint_protocol(payload: dict) -> str:
    """The protocol ``eval`` runs by default for a checkpoint: ``paper`` for the paper preset or a
    model trained on Penn Action or sub-JHMDB (its recorded ``data.source``), else ``quick``."""
    preset = (payload.get("model") or {}).get("preset", "")
    config = (payload.get("meta") or {}).get("config") or {}
    source = str((config.get("data") or {}).get("source", ""))
    trained_on = {part.split(":", 1)[0] for part in source.split("+")}
    return "paper" if preset == "paper" or trained_on & {"penn", "jhmdb"} else "quick"


def evaluate_checkpoint(
    checkpoint,
    data: str,
    alpha: float = 0.2,
    scales: int | None = None,
    device=None,
    accel: str = "plain",
    progress: bool = True,
    protocol: str | None = None,
    exclude: Sequence[str] = (),
    crop: str = "gt",
) -> dict:
    """``lstm-probe eval``: score a checkpoint on a data source -> :func:`score`'s result plus
    what ran (checkpoint, data, model, protocol, scales, accel). ``protocol`` None: the
    checkpoint's default (:func:`checkpoint_protocol`); ``scales`` None: the protocol's (paper 7,
    quick 1)."""
    from ..data import open_source
    from .infer import load_for_inference

    model, payload, policy, codec = load_for_inference(checkpoint, device, accel)
    protocol = protocol or checkpoint_protocol(payload)
    _check_protocol(protocol, exclude)
    if scales is None:  # a checkpoint without a scale range (one factor) needs one scale
        ranged = policy.scale_range[0] != policy.scale_range[1]
        scales = PAPER_SCALES if protocol == "paper" and ranged else 1
    dev = next(model.parameters()).device
    videos = open_source(data)
    records = collect(model, videos, policy, codec, dev, progress, scales, protocol=protocol,
                      crop=crop)  # fmt: skip
    if not records:
        raise LstmProbeError(f"{data}: no annotated video to evaluate")
    result = score(records, alpha, protocol=protocol, exclude=exclude)
    factors = (
        np.linspace(*policy.scale_range, scales) if scales > 1 else [policy.test_transform().scale]
    )
    result.update(checkpoint=str(checkpoint), data=data, model=model.name, scales=scales,
                  scale_factors=[round(float(f), 4) for f in factors],
                  accel=model.accel.mode, crop=crop)  # fmt: skip
    own = data.startswith("own:")
    teacher = (
        next((v.attrs["teacher"] for v in videos if v.attrs.get("teacher")), None) if own else None
    )
    if teacher:  # labels from a pose estimator: PCK measures agreement with it, not accuracy
        result["teacher"] = teacher
        if crop == "gt":  # the null of crops at the labelled boxes
            result["box_only"] = box_only_baseline(records, alpha)
    return result


def _check_protocol(protocol: str, exclude: Sequence[str] = ()) -> None:
    if protocol not in PROTOCOLS:
        raise LstmProbeError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    bad = [e for e in exclude if e not in EXCLUSIONS]
    if bad:
        raise LstmProbeError(f"exclusions must be among {', '.join(EXCLUSIONS)}, got {bad}")
    if exclude and protocol != "paper":
        raise LstmProbeError("exclusions apply to the paper protocol (quick already excludes both)")


def score(
    records: list[dict], alpha: float = 0.2, protocol: str = "quick", exclude: Sequence[str] = ()
) -> dict:
    """PCK of :func:`collect`'s records under ``protocol`` (see the module docstring)."""
    _check_protocol(protocol, exclude)
    if not records:
        return {"videos": 0, "protocol": protocol}
    pred = np.concatenate([r["pred"] for r in records])
    gt = np.concatenate([r["gt"] for r in records])
    vis = np.concatenate([r["vis"] for r in records])
    norm = P.box_size(np.concatenate([r["bbox"] for r in records]))
    jhmdb = records[0]["source"] == "sub_jhmdb"
    result: dict = {"videos": len(records), "frames": len(pred), "alpha": alpha,
                    "protocol": protocol}  # fmt: skip
    if protocol == "paper":
        result.update(_paper_scores(records, pred, gt, vis, norm, alpha, jhmdb, exclude))
    else:
        # Penn and the synthetic set: visible joints only; JHMDB: every joint (and never the
        # neck in the tables, which the group table leaves out anyway)
        mask = vis >= 0 if jhmdb else vis == 1
        for a in (alpha, 0.1):
            hits, valid = P.pck_hits(pred, gt, mask, norm, a)
            joint = P.per_joint(hits, valid)
            result[f"pck@{a:g}"] = {
                "joints": dict(zip(SKELETON.names, map(float, joint))),
                "groups": P.group_table(joint),
                "overall": float(100 * hits.sum() / max(valid.sum(), 1)),
            }
        if jhmdb:
            fifteen = np.concatenate([r["flags"]["jhmdb_keypoints"] for r in records])
            belly_hits, belly_valid = P.pck_hits(
                P.jhmdb_belly(pred)[:, None],
                fifteen[:, 1:2],
                np.ones((len(pred), 1), bool),
                norm,
                alpha,
            )
            result["belly"] = float(P.per_joint(belly_hits, belly_valid)[0])
    flags = [r["flags"] for r in records]
    if all("occluded" in f and "cue_visible" in f for f in flags):
        occ = np.concatenate([f["occluded"] for f in flags])
        cue = np.concatenate([f["cue_visible"] for f in flags])
        labelled = vis >= 0
        splits = {
            "clean": labelled & ~occ,
            "occluded": labelled & occ,
            "cueless": labelled & ~occ & ~cue[:, None],
        }
        result["splits"] = {}
        for name, m in splits.items():
            entry = {"count": int(m.sum())}
            for a in (alpha, 0.1):
                hits, valid = P.pck_hits(pred, gt, m, norm, a)
                entry[f"pck@{a:g}"] = (
                    float(100 * hits.sum() / max(valid.sum(), 1)) if valid.any() else float("nan")
                )
            result["splits"][name] = entry
        result["splits"]["cueless"]["lr_swap_percent"] = P.swap_rate(pred, gt, splits["cueless"])
    accel = [P.acceleration_error(r["pred"], r["gt"], r["vis"] >= 0) for r in records]
    result["acceleration_error"] = (
        float(np.nanmean(accel)) if np.isfinite(accel).any() else float("nan")
    )
    return result


def _paper_scores(records, pred, gt, vis, norm, alpha, jhmdb, exclude) -> dict:
    """The authors' counting and the paper's table (run_benchmark_GPU_PENN.m:131–167,
    run_benchmark_GPU_JHMDB.m:129–164)."""
    zero_box = "drop" if "zero_box" in exclude else "miss"
    dataset = "jhmdb" if jhmdb else "penn"
    shipped = False  # Penn's raw flags (the loader's visibility has off-image joints at −1)
    if jhmdb:  # every joint of the 15, the belly interpolated from the predicted torso
        mask = np.ones(vis.shape, bool)
        fifteen = np.concatenate([r["flags"]["jhmdb_keypoints"] for r in records])
        extra_pred, extra_gt = P.jhmdb_belly(pred)[:, None], fifteen[:, 1:2]
        counted = list(range(SKELETON.num_joints))  # the neck counts in the authors' overall
    else:  # raw visibility == 1 over the 13 Penn joints (the neck is never evaluated)
        raw = [r["flags"].get("raw_visibility", r["vis"]) for r in records]
        mask = np.concatenate(raw) == 1
        shipped = all("raw_visibility" in r["flags"] for r in records)
        counted = list(P.PENN_JOINTS)
    if "off_image" in exclude:
        mask = mask & (vis >= 0)
    out: dict = {
        "counting": {
            "joints": "all 15 (neck, belly interpolated)"
            if jhmdb
            else ("raw visibility == 1" if shipped else "visibility == 1"),
            "zero_size_box": "frame dropped" if zero_box == "drop" else "counted as misses",
            "off_image": "dropped"
            if "off_image" in exclude or not (jhmdb or shipped)
            else "counted",
        },
        "mean_definition": P.MEAN_DEFINITION[dataset],
    }
    for a in (alpha, 0.1):
        hits, valid = P.paper_hits(pred, gt, mask, norm, a, zero_box)
        joint = P.per_joint(hits, valid)
        table = P.paper_table(joint, dataset)
        joints = {SKELETON.names[j]: float(joint[j]) for j in counted}
        h, n = hits[:, counted].sum(), valid[:, counted].sum()
        if jhmdb:
            bh, bv = P.paper_hits(extra_pred, extra_gt, np.ones((len(pred), 1), bool), norm, a,
                                  zero_box)  # fmt: skip
            joints["belly"] = float(P.per_joint(bh, bv)[0])
            h, n = h + bh.sum(), n + bv.sum()
        groups = [table[g] for g in SKELETON.groups]
        out[f"pck@{a:g}"] = {
            "joints": joints,
            "groups": table,
            # the authors' script's last column: Σ correct / Σ counted joint-frames
            "overall": float(100 * h / max(n, 1)),
            "count": int(n),
            "mean_of_groups" if dataset == "penn" else "mean_of_joints": float(
                np.nanmean(groups) if dataset == "penn" else np.nanmean(list(joints.values()))
            ),
        }
    if jhmdb:
        out["belly"] = out[f"pck@{alpha:g}"]["joints"]["belly"]
    return out


def describe_protocol(result: dict) -> str:
    """One line naming the protocol that produced ``result``."""
    f = result.get("scale_factors") or []
    if len(f) > 1:
        scales = f"{len(f)} scales {f[0]:g}-{f[-1]:g} summed, "
    else:
        scales = f"1 scale ({f[0]:g}), " if f else ""
    if result.get("protocol") == "paper":
        c = result.get("counting", {})
        return (f"protocol: paper — {scales}each frame cropped by its own box (/1.05 when "
                f"oversized), joints: {c.get('joints')}, zero-size boxes {c.get('zero_size_box')}, "
                f"off-image joints {c.get('off_image')}; Mean = {result.get('mean_definition')}")  # fmt: skip
    return (f"protocol: quick — {scales}crop scale fixed from the first box, joints the loader "
            "marks visible; Mean = mean of the groups")  # fmt: skip


def box_only_baseline(records: list[dict], alpha: float = 0.2) -> dict:
    """The null of a scored own-footage run: no image at all, the scored frames' mean pose (in
    box coordinates) placed in each frame's box -> {"pck@α", "pck@0.1"} overall. With boxes
    drawn around the labels themselves this is high, and a model must beat it to have learnt
    more than the box tells."""
    gt = np.concatenate([r["gt"] for r in records])
    vis = np.concatenate([r["vis"] for r in records])
    box = np.concatenate([r["bbox"] for r in records]).astype(np.float64)
    lo, size = box[:, None, :2], np.maximum(box[:, None, 2:] - box[:, None, :2], 1e-6)
    unit = (gt - lo) / size
    m = vis >= 0
    mean = np.array([unit[m[:, j], j].mean(0) if m[:, j].any() else [0.5, 0.5]
                     for j in range(gt.shape[1])])  # fmt: skip
    pred = lo + mean[None] * size
    out = {}
    for a in (alpha, 0.1):
        hits, valid = P.pck_hits(pred, gt, vis == 1, P.box_size(box), a)
        out[f"pck@{a:g}"] = float(100 * hits.sum() / max(valid.sum(), 1))
    return out


def format_table(result: dict, title: str = "") -> str:
    """The paper's table layout: Head Sho Elb Wri Hip Knee Ank Mean."""
    a = result.get("alpha", 0.2)
    cols = [*SKELETON.groups, "Mean"]
    lines = [title] if title else []
    if "protocol" in result:
        lines.append(describe_protocol(result))
    if result.get("teacher"):
        t = result["teacher"]
        lines.append(f"against teacher labels ({t.get('name', '?')} {t.get('version', '')}): "
                     "agreement with the teacher, not accuracy")  # fmt: skip
    lines.append(f"{'PCK@' + format(a, 'g'):<10}" + "".join(f"{c:>7}" for c in cols))
    for key in (f"pck@{a:g}", "pck@0.1"):
        if key in result:
            g = result[key]["groups"]
            lines.append(f"{key:<10}" + "".join(f"{g[c]:>7.1f}" for c in cols))
    if result.get("protocol") == "paper":
        e = result[f"pck@{a:g}"]
        extra = ("mean of the 7 groups" if "mean_of_groups" in e else
                 "mean of the 15 joints")  # fmt: skip
        value = e.get("mean_of_groups", e.get("mean_of_joints"))
        lines.append(f"also at PCK@{a:g}: authors' overall (Σ correct / Σ counted, "
                     f"{e['count']} joint-frames) {e['overall']:.2f}; {extra} {value:.2f}"
                     + (f"; belly {result['belly']:.2f}" if "belly" in result else ""))  # fmt: skip
    if "splits" in result:
        lines.append("synthetic splits (joint-frames):")
        for name, e in result["splits"].items():
            extra = f", L/R swaps {e['lr_swap_percent']:.1f} %" if "lr_swap_percent" in e else ""
            lines.append(
                f"  {name:<9} n={e['count']:<6} PCK@{a:g} {e[f'pck@{a:g}']:.1f}  PCK@0.1 {e['pck@0.1']:.1f}{extra}"
            )
    lines.append(
        f"acceleration error {result.get('acceleration_error', float('nan')):.2f} px/frame²"
    )
    if "box_only" in result:
        b = result["box_only"]
        lines.append(f"box-only null (the mean pose placed in each frame's box, no image): "
                     f"PCK@{a:g} {b[f'pck@{a:g}']:.1f}  PCK@0.1 {b['pck@0.1']:.1f} (overall; "
                     f"the model: {result[f'pck@{a:g}']['overall']:.1f} and "
                     f"{result['pck@0.1']['overall']:.1f})")  # fmt: skip
    return "\n".join(lines)


def write_result(stem, result: dict) -> list[Path]:
    """``STEM.json`` (the whole result) and ``STEM.csv`` (groups, joints and splits at α and
    at 0.1), each written atomically -> the two paths."""
    stem = Path(stem)
    write_json_atomic(stem.with_suffix(".json"), result)
    key = f"pck@{result['alpha']:g}"
    with atomic_path(stem.with_suffix(".csv")) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["kind", "name", key, "pck@0.1"])
        for kind in ("groups", "joints"):
            for name, v in result[key][kind].items():
                w.writerow([kind, name, f"{v:.2f}", f"{result['pck@0.1'][kind][name]:.2f}"])
        for name, e in result.get("splits", {}).items():
            w.writerow(["split", name, f"{e[key]:.2f}", f"{e['pck@0.1']:.2f}"])
    return [stem.with_suffix(".json"), stem.with_suffix(".csv")]
