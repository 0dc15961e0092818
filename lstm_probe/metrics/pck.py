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


# --- the paper's tables, as the authors' benchmark scripts and the paper define them ----------

#: The 13 annotated Penn joints in network order (every joint but the synthesised neck).
PENN_JOINTS = tuple(j for j in range(SKELETON.num_joints) if SKELETON.names[j] != "neck")


def paper_hits(
    pred: np.ndarray,
    gt: np.ndarray,
    mask: np.ndarray,
    norm: np.ndarray,
    alpha: float = 0.2,
    zero_box: str = "miss",
) -> tuple[np.ndarray, np.ndarray]:
    """As :func:`pck_hits`, with the authors' rule for a frame whose box has zero size
    (``zero_box="miss"``): its joints count, and a joint is correct only at distance 0
    (the threshold α · 0) — run_benchmark_GPU_PENN.m:138–150. ``zero_box="drop"`` leaves such
    frames out (:func:`pck_hits`). A non-finite box always drops the frame."""
    if zero_box not in ("miss", "drop"):
        raise ValueError(f"zero_box must be 'miss' or 'drop', got {zero_box!r}")
    if zero_box == "drop":
        return pck_hits(pred, gt, mask, norm, alpha)
    norm = np.asarray(norm, np.float64)
    ok = np.isfinite(norm) & (norm >= 0)
    valid = np.asarray(mask, bool) & ok[:, None]
    d = np.linalg.norm(np.asarray(pred, np.float64) - np.asarray(gt, np.float64), axis=-1)
    with np.errstate(invalid="ignore"):
        hits = (d <= alpha * np.where(ok, norm, 0.0)[:, None]) & valid
    return hits, valid


def paper_table(joint_acc: np.ndarray, dataset: str) -> dict[str, float]:
    """Per-joint accuracy (network order, 14) -> the paper's columns Head…Ank (left and right
    averaged) and ``Mean`` as the paper reports it:

    - ``penn`` (and the Penn-format synthetic set): the mean over the 13 annotated joints (Table 1's
      97.7 is this mean of the authors' per-joint numbers, 97.70; the mean of the 7 groups is 97.79);
    - ``jhmdb``: the mean of the 7 groups (Table 2's 93.6: the authors' per-joint numbers give
      93.66 over the groups, 93.30 over the 13 joints).
    """
    table = {
        g: float(np.nanmean(joint_acc[list(js)]))
        if np.isfinite(joint_acc[list(js)]).any()
        else float("nan")
        for g, js in SKELETON.groups.items()
    }
    if dataset == "jhmdb":
        vals = np.array(list(table.values()))
    elif dataset == "penn":
        vals = np.asarray(joint_acc, np.float64)[list(PENN_JOINTS)]
    else:
        raise ValueError(f"dataset must be 'penn' or 'jhmdb', got {dataset!r}")
    table["Mean"] = float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan")
    return table


#: What ``Mean`` of :func:`paper_table` is, per dataset (printed with the table).
MEAN_DEFINITION = {
    "penn": "mean of the 13 annotated joints",
    "jhmdb": "mean of the 7 groups",
}
