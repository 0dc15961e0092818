"""Evaluation: stream every video, decode keypoints on the original frames, and score them.

Returns a plain dict (written as JSON/CSV by the command line):

- ``pck`` per joint and the paper's group table at α (default 0.2) and at 0.1;
- on the synthetic set, the same split by joint-frames: ``clean`` (not occluded), ``occluded``
  (hidden under the occluder, ground truth kept) and ``cueless`` (not occluded, in frames after
  the left/right cue vanished), plus the left/right swap rate on cue-less frames;
- ``acceleration_error``: mean per-joint acceleration error, pixels/frame² (flicker);
- on sub-JHMDB, all 15 joints count, the belly interpolated (``jhmdb_belly``).

Crops follow each frame's ground-truth box, as in the reference protocol, at one scale (the middle
of the training range) or at several (``scales=7``: beliefs mapped back onto the frame and combined
over scales before the arg-max, as the reference does).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..data.video import Video
from ..metrics import pck as P
from ..models import PoseMachine
from ..skeleton import SKELETON
from ..transforms.augment import CropPolicy
from ..transforms.heatmaps import HeatmapCodec
from .infer import stream_video, stream_video_multiscale


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
) -> list[dict]:
    """Stream every annotated video; ``scales`` > 1 runs the reference's multi-scale test with
    that many factors spread evenly over the crop policy's scale range; ``interventions`` (see
    :class:`lstm_probe.probe.recorder.Intervention`) are attached for every video; ``beliefs``
    keeps each frame's belief maps (single scale) in the record as ``beliefs`` (F, J+1, h, w)."""
    from ..probe.recorder import MemoryProbe

    out = []
    factors = np.linspace(*policy.scale_range, scales) if scales > 1 else None
    it = videos
    if progress:
        from tqdm import tqdm

        it = tqdm(videos, desc="evaluate", unit="video")
    for v in it:
        ann = v.annotations
        if ann.keypoints is None:
            continue
        with MemoryProbe(model, [], interventions=interventions, keep=False):
            maps = []
            if factors is None:
                preds = []
                for r in stream_video(model, v, policy, codec, device, "gt"):
                    preds.append(r.keypoints)
                    if beliefs:
                        maps.append(r.belief.cpu().numpy())
            else:
                stream = stream_video_multiscale(model, v, policy, codec, factors, device)
                preds = [kp for _, kp, _ in stream]
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


def score(records: list[dict], alpha: float = 0.2) -> dict:
    if not records:
        return {"videos": 0}
    pred = np.concatenate([r["pred"] for r in records])
    gt = np.concatenate([r["gt"] for r in records])
    vis = np.concatenate([r["vis"] for r in records])
    norm = P.box_size(np.concatenate([r["bbox"] for r in records]))
    jhmdb = records[0]["source"] == "sub_jhmdb"
    # Penn and the synthetic set: visible joints only; JHMDB: every joint (and never the neck
    # in the tables, which the group table leaves out anyway)
    mask = vis >= 0 if jhmdb else vis == 1
    result: dict = {"videos": len(records), "frames": len(pred), "alpha": alpha}
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


def format_table(result: dict, title: str = "") -> str:
    """The paper's table layout: Head Sho Elb Wri Hip Knee Ank Mean."""
    a = result.get("alpha", 0.2)
    cols = [*SKELETON.groups, "Mean"]
    lines = [title] if title else []
    lines.append(f"{'PCK@' + format(a, 'g'):<10}" + "".join(f"{c:>7}" for c in cols))
    for key in (f"pck@{a:g}", "pck@0.1"):
        if key in result:
            g = result[key]["groups"]
            lines.append(f"{key:<10}" + "".join(f"{g[c]:>7.1f}" for c in cols))
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
    return "\n".join(lines)
