"""PCK as the authors compute it, and the temporal measures — pure numpy, no state.

PCK@α: a joint is correct when ‖pred − gt‖ ≤ α · max(box width, box height) of its frame's person
box (Penn: the annotated box; sub-JHMDB: the puppet-mask box). Only joints in ``mask`` count
(Penn: visible ones; JHMDB: all). Per-joint accuracy is hits/count over all frames; the paper's
table averages left and right into Head, Sho, Elb, Wri, Hip, Knee, Ank and reports the mean of
those seven groups (reference-implementation.md §4.2–4.3). A joint with no valid instance is NaN.
"""

from __future__ import annotations

import numpy as np

from ..skeleton import SKELETON


def box_size(bbox: np.ndarray) -> np.ndarray:
    """(N, 4) x1 y1 x2 y2 -> (N,) max(w, h)."""
    b = np.asarray(bbox, np.float64)
    return np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])


def pck_hits(
    pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, norm: np.ndarray, alpha: float = 0.2
) -> tuple[np.ndarray, np.ndarray]:
    """pred, gt (N, J, 2); mask (N, J) bool; norm (N,) -> (hits (N, J) bool, valid (N, J) bool).

    A frame with a zero or non-finite normaliser has no valid joints."""
    norm = np.asarray(norm, np.float64)
    ok = np.isfinite(norm) & (norm > 0)
    valid = np.asarray(mask, bool) & ok[:, None]
    d = np.linalg.norm(np.asarray(pred, np.float64) - np.asarray(gt, np.float64), axis=-1)
    with np.errstate(invalid="ignore"):
        hits = (d <= alpha * norm[:, None]) & valid
    return hits, valid


def frame_pck(
    pred: np.ndarray,
    gt: np.ndarray,
    visible: np.ndarray,
    bbox: np.ndarray | None = None,
    alpha: float = 0.2,
) -> np.ndarray:
    """Per-frame PCK@alpha in [0, 1] over labelled joints of one video.

    pred, gt (F, J, 2); visible (F, J), a joint counts when ``visible >= 0`` (−1: not labelled);
    bbox (F, 4) x1 y1 x2 y2 or None -> (F,). The threshold is alpha · the larger side of the
    frame's person box, or of the ground-truth joints' extent when there is no (finite) box. A frame
    without valid joints scores 0."""
    gt = np.asarray(gt, np.float64)
    if bbox is not None and np.isfinite(bbox).all():
        side = box_size(bbox)
    else:
        side = np.maximum(np.ptp(gt[..., 0], 1), np.ptp(gt[..., 1], 1))
    hits, valid = pck_hits(pred, gt, np.asarray(visible) >= 0, side, alpha)
    return hits.sum(1) / np.maximum(valid.sum(1), 1)


def per_joint(hits: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(J,) accuracy in percent; NaN for a joint without valid instances."""
    count = valid.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, 100.0 * hits.sum(0) / np.maximum(count, 1), np.nan)


def group_table(joint_acc: np.ndarray) -> dict[str, float]:
    """Per-joint accuracy (network order) -> the paper's columns Head…Ank and Mean (of groups)."""
    table = {}
    for g, joints in SKELETON.groups.items():
        vals = joint_acc[list(joints)]
        table[g] = float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan")
    vals = np.array(list(table.values()))
    table["Mean"] = float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan")
    return table


def jhmdb_belly(kp: np.ndarray) -> np.ndarray:
    """The sub-JHMDB belly, interpolated as the authors do, from network-order joints (..., 14, 2):
    x = mean of shoulders and hips, y = mean shoulder y + 0.65 · (mean hip y − mean shoulder y)."""
    J = SKELETON.index
    sho = (kp[..., J("right_shoulder"), :] + kp[..., J("left_shoulder"), :]) / 2
    hip = (kp[..., J("right_hip"), :] + kp[..., J("left_hip"), :]) / 2
    x = (sho[..., 0] + hip[..., 0]) / 2
    y = sho[..., 1] + 0.65 * (hip[..., 1] - sho[..., 1])
    return np.stack([x, y], -1)


def swap_rate(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> float:
    """Fraction of left/right pairs (both valid) whose prediction is closer to the swapped truth:
    a per-frame model that cannot tell the sides apart scores about 50 %."""
    swaps = total = 0
    for a, b in SKELETON.swap_pairs:
        ok = mask[:, a] & mask[:, b]
        if not ok.any():
            continue
        p, g = pred[ok], gt[ok]
        straight = np.linalg.norm(p[:, a] - g[:, a], axis=-1) + np.linalg.norm(
            p[:, b] - g[:, b], axis=-1
        )
        crossed = np.linalg.norm(p[:, a] - g[:, b], axis=-1) + np.linalg.norm(
            p[:, b] - g[:, a], axis=-1
        )
        swaps += int((crossed < straight).sum())
        total += int(ok.sum())
    return 100.0 * swaps / total if total else float("nan")


def acceleration_error(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> float:
    """Mean ‖a_pred − a_gt‖ in pixels/frame² over joints valid in three consecutive frames of one
    video (pred, gt (T, J, 2)): flicker shows up here even when PCK does not move."""
    if len(pred) < 3:
        return float("nan")
    acc = lambda x: x[2:] - 2 * x[1:-1] + x[:-2]  # noqa: E731
    ok = mask[2:] & mask[1:-1] & mask[:-2]
    if not ok.any():
        return float("nan")
    return float(np.linalg.norm(acc(pred) - acc(gt), axis=-1)[ok].mean())
