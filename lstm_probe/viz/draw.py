"""Drawing on frames with OpenCV: the skeleton of a pose, panel labels, zoomed frames."""

from __future__ import annotations

import cv2
import numpy as np

from ..probe.store import DumpVideo
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


def label_panel(img: np.ndarray, text: str) -> np.ndarray:
    """A copy of an RGB panel with ``text`` in white on a black band along its top edge."""
    out = img.copy()
    scale = max(0.3, img.shape[1] / 400)
    cv2.rectangle(out, (0, 0), (img.shape[1], int(16 * scale) + 4), (0, 0, 0), -1)
    cv2.putText(out, text, (3, int(13 * scale)), cv2.FONT_HERSHEY_SIMPLEX, 0.45 * scale,
                (255, 255, 255), 1, cv2.LINE_AA)  # fmt: skip
    return out


def display_zoom(frame_size: tuple[int, int], target: int = 320) -> int:
    """Integer zoom so that small frames are drawn at least ``target`` pixels wide."""
    return max(1, int(round(target / max(1, frame_size[0]))))


def zoomed_frame(video: DumpVideo, t: int, zoom: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame t (RGB) and its grid->frame affine, both at ``zoom``× the frame's resolution."""
    img = video.frame_image(t)
    g2f = video.grid_to_frame[t].astype(np.float64)
    if zoom == 1:
        return img, g2f
    img = cv2.resize(img, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_LINEAR)
    # pixel centres: x_zoomed = zoom · x + (zoom − 1) / 2
    return img, zoom * g2f + np.array([[0, 0, (zoom - 1) / 2]] * 2)
