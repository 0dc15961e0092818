"""Drawing on frames with OpenCV: the skeleton of a pose."""

from __future__ import annotations

import cv2
import numpy as np

from ..skeleton import SKELETON


def draw_pose(
    rgb: np.ndarray,
    keypoints: np.ndarray,
    color: tuple[int, int, int] | None = None,
    thickness: int = 2,
    hollow: np.ndarray | None = None,
) -> np.ndarray:
    """Draw a skeleton (J, 2) on a copy of an RGB image; ``hollow`` marks joints (e.g. occluded)."""
    out = rgb.copy()
    pts = [tuple(int(round(v)) for v in p) for p in keypoints]
    hexes = SKELETON.edge_colors()
    for (a, b), hx in zip(SKELETON.edges, hexes):
        c = color or tuple(int(hx[i : i + 2], 16) for i in (1, 3, 5))
        cv2.line(out, pts[a], pts[b], c, thickness, cv2.LINE_AA)
    for j, p in enumerate(pts):
        filled = hollow is None or not hollow[j]
        cv2.circle(
            out, p, thickness + 1, color or (255, 255, 255), -1 if filled else 1, cv2.LINE_AA
        )
    return out
