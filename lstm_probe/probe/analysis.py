"""Channel analysis of dumped memory: which channels attend to which joint, and which are global.

For channel c and joint j, the attention score is the mean over frames of

    |C_t,c| at joint j's grid position  /  mean of |C_t,c| over the whole map

(ground-truth positions when the dump has them, else predictions). A score near 1 means the
channel is no stronger at the joint than anywhere; a channel whose best score is ≥ ``threshold``
and clearly above its second best (``margin``) is labelled with that joint, else "global" — the
"trunks or edges" channels of the paper's Figure 4.

These are per-video, quick labels (one clip in the dashboard or a notebook). Labels of a channel
for a whole dump — with a null, corrected p-values, bootstrap stability and the limb, side,
trunk, background and inactive categories — come from :mod:`.semantics`
(``channel_semantics(dump)``; ``.as_report()`` gives this module's :class:`ChannelReport` shape).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import map_coordinates

from ..skeleton import SKELETON
from ..transforms.geometric import apply_points, invert
from .store import PHASES, STATS, DumpVideo


@dataclass
class ChannelReport:
    scores: np.ndarray  # (C, J) attention scores
    labels: list[str]  # per channel: a joint name or "global"
    energy: np.ndarray  # (C,) mean energy of C_t
    order: np.ndarray  # channel indices, most energetic first


def joint_grid_positions(video: DumpVideo) -> np.ndarray:
    """(F, J, 2) joint positions on the grid (ground truth if stored, else predictions)."""
    kp = video.keypoints_gt if video.keypoints_gt is not None else video.keypoints
    g2f = video.grid_to_frame
    return np.stack([apply_points(invert(a), k) for a, k in zip(g2f, kp)]).astype(np.float32)


def channel_scores(
    video: DumpVideo, phase: str = "cell", frames: slice | None = None
) -> np.ndarray:
    """(C, J) attention scores of one video (see module doc)."""
    mem = np.abs(video.memory[frames or slice(None), PHASES.index(phase)].astype(np.float32))
    pos = joint_grid_positions(video)[frames or slice(None)]
    F, C = mem.shape[:2]
    scores = np.zeros((C, SKELETON.num_joints), np.float64)
    for t in range(F):
        mean = mem[t].reshape(C, -1).mean(-1) + 1e-6
        coords = np.stack([pos[t, :, 1], pos[t, :, 0]])  # (2, J): rows, cols
        for c in range(C):
            at = map_coordinates(mem[t, c], coords, order=1, mode="nearest")
            scores[c] += at / mean[c]
    return (scores / max(F, 1)).astype(np.float32)


def analyse_channels(
    videos: list[DumpVideo], threshold: float = 2.0, margin: float = 1.25
) -> ChannelReport:
    scores = np.mean([channel_scores(v) for v in videos], 0)
    cell, energy_stat = PHASES.index("cell"), STATS.index("energy")
    energy = np.mean([v.stats[:, cell, :, energy_stat].mean(0) for v in videos], 0)
    labels = []
    for s in scores:
        best = np.argsort(s)[::-1]
        top, second = s[best[0]], s[best[1]]
        joint = top >= threshold and top >= margin * second
        labels.append(SKELETON.names[best[0]] if joint else "global")
    return ChannelReport(scores, labels, energy, np.argsort(-energy))
