"""Maps on the belief grid -> onto the original video frame, and coloured overlays.

One function does the geometry (:func:`map_to_frame`: the inverse of the frame's crop/scale,
bilinear), one the colour (:func:`overlay`: diverging colormap with symmetric normalisation for
signed maps, per-channel or global scale, percentile clipping, opacity). The dashboard, the
notebooks and figure export all call these.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
from matplotlib import colormaps

from ..transforms.geometric import invert


def map_to_frame(
    grid_map: np.ndarray, grid_to_frame: np.ndarray, frame_size: tuple[int, int]
) -> np.ndarray:
    """(h, w) grid map -> (H, W) float32 on the frame; NaN outside the crop.

    Pixel (x, y) of the frame takes the bilinear value of the map at grid position
    inverse(grid_to_frame)·(x, y): the map is laid back exactly where the crop came from.
    """
    W, H = frame_size
    frame_to_grid = invert(np.asarray(grid_to_frame, np.float64))
    m = np.asarray(grid_map, np.float32)
    out = cv2.warpAffine(
        m,
        frame_to_grid,
        (W, H),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=np.nan,
    )
    return out


def scale_limits(
    maps: np.ndarray, symmetric: bool = True, clip_percentile: float | None = None
) -> tuple[float, float]:
    """Colour limits for one or several maps (global scale: pass them all)."""
    v = np.asarray(maps, np.float32)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return (-1.0, 1.0) if symmetric else (0.0, 1.0)
    if symmetric:
        a = np.abs(v)
        vmax = float(np.percentile(a, clip_percentile) if clip_percentile else a.max())
        vmax = vmax if vmax > 0 else 1.0
        return -vmax, vmax
    lo = float(np.percentile(v, 100 - clip_percentile) if clip_percentile else v.min())
    hi = float(np.percentile(v, clip_percentile) if clip_percentile else v.max())
    return lo, hi if hi > lo else lo + 1.0


@lru_cache(maxsize=16)
def colormap_lut(cmap: str) -> np.ndarray:
    """A matplotlib colormap as a 256-entry uint8 table, (256, 1, 3), for cv2.applyColorMap."""
    rgb = colormaps[cmap](np.linspace(0, 1, 256))[:, :3]
    return np.ascontiguousarray((rgb * 255 + 0.5).astype(np.uint8)[:, None, :])


def overlay(
    frame_rgb: np.ndarray,
    m: np.ndarray,
    limits: tuple[float, float],
    cmap: str = "RdBu_r",
    alpha: float = 0.6,
    weight_by_magnitude: bool = True,
) -> np.ndarray:
    """Blend a frame-sized map over an RGB frame -> RGB uint8 (NaN leaves the frame as it is).

    With ``weight_by_magnitude`` the opacity grows with |value| (signed maps) so that the frame
    stays visible where the memory is near zero. Runs on uint8 lookup tables and OpenCV's
    per-pixel blend: about 0.5 ms for a 320×320 frame.
    """
    lo, hi = limits
    m = np.asarray(m, np.float32)
    finite = np.isfinite(m)
    span = (hi - lo) or 1.0
    idx = np.clip((np.where(finite, m, lo) - lo) * (255.0 / span) + 0.5, 0, 255).astype(np.uint8)
    color = cv2.applyColorMap(idx, colormap_lut(cmap))  # channels as in the table: RGB
    a = np.full(m.shape, alpha, np.float32)
    if weight_by_magnitude:
        top = max(abs(lo), abs(hi)) or 1.0
        a *= 0.25 + 0.75 * np.clip(np.abs(np.where(finite, m, 0.0)) / top, 0, 1)
    a[~finite] = 0.0
    frame = np.ascontiguousarray(frame_rgb, dtype=np.uint8)
    return cv2.blendLinear(color, frame, a, 1.0 - a)
