"""Deterministic geometry: 2×3 affine matrices between frame pixels, crop pixels and the belief grid.

Conventions (0-based pixel centres throughout):

- ``frame_to_crop`` (2×3) maps a point of the original video frame to the model's input crop.
- The belief grid cell (gx, gy) sits at crop pixel ``stride·g + stride/2 − 0.5`` (3.5 for stride
  8), CPM's convention.
- ``grid_to_frame`` = inverse(frame_to_crop) ∘ grid_to_crop: where a belief or memory cell lands
  on the original frame. Every dumped frame stores it; the probe overlays, decoding and PCK use it.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch


def grid_size(input_size: int) -> int:
    """Belief-grid side for a crop: three 3/2 max pools rounding up, as Caffe does (368 -> 46)."""
    s = input_size
    for _ in range(3):
        s = -(-(s - 3) // 2) + 1
    return s


def to_homogeneous(a: np.ndarray) -> np.ndarray:
    """(..., 2, 3) -> (..., 3, 3)."""
    a = np.asarray(a, dtype=np.float64)
    bottom = np.zeros((*a.shape[:-2], 1, 3))
    bottom[..., 0, 2] = 1.0
    return np.concatenate([a, bottom], axis=-2)


def compose(*mats: np.ndarray) -> np.ndarray:
    """compose(A, B) applies B first, then A (like matrix products)."""
    out = np.eye(3)
    for m in mats:
        out = out @ to_homogeneous(m)
    return out[:2]


def invert(a: np.ndarray) -> np.ndarray:
    return np.linalg.inv(to_homogeneous(a))[..., :2, :]


def apply_points(a: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Apply (2, 3) to points (..., 2)."""
    a = np.asarray(a, dtype=np.float64)
    pts = np.asarray(pts, dtype=np.float64)
    return pts @ a[:, :2].T + a[:, 2]


def crop_affine(
    center: tuple[float, float],
    scale: float,
    rotation_deg: float,
    flip: bool,
    out_size: int,
) -> np.ndarray:
    """frame -> crop: scale about ``center``, rotate (counter-clockwise on screen), put the centre
    at the crop centre, then mirror horizontally (x' = S − 1 − x) when ``flip``."""
    c = (out_size - 1) / 2.0
    th = np.deg2rad(rotation_deg)
    cos, sin = np.cos(th) * scale, np.sin(th) * scale
    # image y points down, so a screen-counter-clockwise rotation uses +sin in x, −sin in y
    m = np.array(
        [
            [cos, sin, c - cos * center[0] - sin * center[1]],
            [-sin, cos, c + sin * center[0] - cos * center[1]],
        ]
    )
    if flip:
        m = compose(np.array([[-1.0, 0.0, out_size - 1.0], [0.0, 1.0, 0.0]]), m)
    return m


def grid_to_crop(stride: int) -> np.ndarray:
    off = stride / 2.0 - 0.5
    return np.array([[stride, 0.0, off], [0.0, stride, off]])


def grid_to_frame(frame_to_crop: np.ndarray, stride: int) -> np.ndarray:
    return compose(invert(frame_to_crop), grid_to_crop(stride))


def warp_frame(frame: np.ndarray, frame_to_crop: np.ndarray, size: int) -> np.ndarray:
    """Crop one uint8 frame (H, W, 3) to (size, size, 3); outside pixels are grey 128."""
    return cv2.warpAffine(
        frame,
        np.asarray(frame_to_crop, dtype=np.float64),
        (size, size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(128, 128, 128),
    )


def to_network_input(
    crops: np.ndarray, memory_format: torch.memory_format = torch.contiguous_format
) -> torch.Tensor:
    """uint8 BGR crops (..., S, S, 3) -> float (..., 3, S, S) as (pixel − 128) / 256 (reference).
    ``torch.channels_last`` (4-d input) keeps the pixels' own layout: no copy."""
    t = torch.from_numpy(np.ascontiguousarray(crops)).float()
    t = (t - 128.0) / 256.0
    return t.movedim(-1, -3).contiguous(memory_format=memory_format)
