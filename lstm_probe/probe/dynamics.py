"""The paper's Section 4.6 claims as numbers, computed from a dump.

- **Retention vs speed**: the forget term should keep static joints and the input term bring in
  moving ones. Per joint-frame (t ≥ 1): retention = ‖f⊙C_{t−1}‖ / (‖f⊙C_{t−1}‖ + ‖i⊙g‖), the
  norms taken over channels at the joint's grid position, against the joint's speed (pixels per
  frame, from the ground truth). The claim predicts a negative rank correlation.
- **Carrying an occluded joint**: for joints hidden by the synthetic occluder, the memory norm
  and the prediction error at the hidden joint during the occlusion, against the same joint in
  the frames just before the occluder arrived.

These are the raw measurements (pooled over joint-frames). Effect sizes with bootstrap intervals
over videos, nulls and verdicts with a minimum meaningful effect are in :mod:`.claims`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import map_coordinates
from scipy.stats import spearmanr

from .analysis import joint_grid_positions
from .store import PHASES, DumpVideo


def _norm_at(maps: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """maps (C, h, w), pos (J, 2) grid xy -> (J,) channel norm at each position (bilinear)."""
    coords = np.stack([pos[:, 1], pos[:, 0]])
    vals = np.stack([map_coordinates(m, coords, order=1, mode="nearest") for m in maps])
    return np.linalg.norm(vals, axis=0)


@dataclass
class RetentionResult:
    speed: np.ndarray  # (N,) px/frame
    retention: np.ndarray  # (N,)
    joint: np.ndarray  # (N,) joint index
    spearman: float
    p_value: float


def retention_vs_speed(videos: list[DumpVideo]) -> RetentionResult:
    speeds, rets, joints = [], [], []
    for v in videos:
        if v.keypoints_gt is None:
            continue
        pos = joint_grid_positions(v)
        gt = v.keypoints_gt
        vis = v.visible >= 0
        mem = v.memory
        for t in range(1, v.num_frames):
            m = mem[t].astype(np.float32)
            keep = _norm_at(m[PHASES.index("forget_term")], pos[t])
            new = _norm_at(m[PHASES.index("input_term")], pos[t])
            r = keep / np.maximum(keep + new, 1e-8)
            s = np.linalg.norm(gt[t] - gt[t - 1], axis=-1)
            ok = vis[t] & vis[t - 1]
            speeds.append(s[ok])
            rets.append(r[ok])
            joints.append(np.nonzero(ok)[0])
    speed, ret = np.concatenate(speeds), np.concatenate(rets)
    rho, p = spearmanr(speed, ret) if len(speed) > 2 else (np.nan, np.nan)
    return RetentionResult(speed, ret, np.concatenate(joints), float(rho), float(p))


@dataclass
class OcclusionCarry:
    memory_before: float  # mean channel norm of C_t at the joint, frames before the occluder
    memory_during: float
    error_before: float  # mean prediction error, px
    error_during: float
    count: int  # occluded joint-frames


def occlusion_carry(videos: list[DumpVideo], before: int = 3) -> OcclusionCarry:
    mb, md, eb, ed = [], [], [], []
    for v in videos:
        occ = v.flags.get("occluded")
        if occ is None or v.keypoints_gt is None or not occ.any():
            continue
        pos = joint_grid_positions(v)
        err = np.linalg.norm(v.keypoints - v.keypoints_gt, axis=-1)
        cell = PHASES.index("cell")
        for j in np.nonzero(occ.any(0))[0]:
            frames = np.nonzero(occ[:, j])[0]
            start = frames[0]
            pre = [t for t in range(max(0, start - before), start) if not occ[t, j]]
            if not pre:
                continue
            for ts, mem_acc, err_acc in ((pre, mb, eb), (frames, md, ed)):
                for t in ts:
                    m = v.memory[t, cell].astype(np.float32)
                    mem_acc.append(_norm_at(m, pos[t, j : j + 1])[0])
                    err_acc.append(err[t, j])
    f = lambda x: float(np.mean(x)) if x else float("nan")  # noqa: E731
    return OcclusionCarry(f(mb), f(md), f(eb), f(ed), len(md))
