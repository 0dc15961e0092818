"""The heatmap codec: one object encodes training targets and decodes predictions.

encode: keypoints in crop pixels (J, 2) + visibility -> (J+1, h, w) targets: a Gaussian of sigma
7 input pixels per joint at grid positions ``stride·g + stride/2 − 0.5``, values < 0.01 set to 0
(as the reference's ``produceLabelMap``), joints without a label all zero, and the background
channel max(1 − max_j, 0).

decode: beliefs (..., J+1, h, w) -> keypoints (..., J, 2) on the grid with sub-cell precision (a
parabola through the log-values around the arg-max, exact for a Gaussian peak) and the peak value
as confidence; ``to_frame`` maps grid positions through a stored ``grid_to_frame`` affine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .geometric import apply_points, grid_size, grid_to_crop


def center_map(size: int, sigma: float) -> np.ndarray:
    """(size, size) Gaussian of ``sigma`` pixels at the crop centre, unthresholded as at test time."""
    r = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    return np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2.0 * sigma**2)).astype(np.float32)


@dataclass(frozen=True)
class HeatmapCodec:
    input_size: int
    stride: int = 8
    sigma: float = 7.0  # input pixels
    num_joints: int = 14
    threshold: float = 0.01

    @property
    def grid_size(self) -> int:
        return grid_size(self.input_size)

    def grid_coords(self) -> np.ndarray:
        """Crop-pixel position of each grid index, (h,)."""
        return np.arange(self.grid_size) * self.stride + self.stride / 2.0 - 0.5

    def encode(self, keypoints: np.ndarray, labelled: np.ndarray) -> np.ndarray:
        """keypoints (J, 2) crop pixels, labelled (J,) bool -> targets (J+1, h, w) float32."""
        g = self.grid_coords()
        dx = (g[None, :] - keypoints[:, 0:1]) ** 2  # (J, w)
        dy = (g[None, :] - keypoints[:, 1:2]) ** 2  # (J, h)
        heat = np.exp(-(dy[:, :, None] + dx[:, None, :]) / (2.0 * self.sigma**2))
        heat[heat < self.threshold] = 0.0
        heat = np.minimum(heat, 1.0)
        heat[~np.asarray(labelled, bool)] = 0.0
        background = np.maximum(1.0 - heat.max(axis=0), 0.0)
        return np.concatenate([heat, background[None]], 0).astype(np.float32)

    def encode_clip(self, keypoints: np.ndarray, labelled: np.ndarray) -> np.ndarray:
        """(T, J, 2), (T, J) -> (T, J+1, h, w)."""
        return np.stack([self.encode(k, v) for k, v in zip(keypoints, labelled)])

    def decode(self, beliefs: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """beliefs (..., C, h, w) with C ≥ J -> (grid xy (..., J, 2), peak value (..., J))."""
        if isinstance(beliefs, torch.Tensor):
            beliefs = beliefs.detach().float().cpu().numpy()
        b = np.asarray(beliefs, dtype=np.float32)[..., : self.num_joints, :, :]
        lead, (h, w) = b.shape[:-3], b.shape[-2:]
        flat = b.reshape(-1, h * w)
        idx = flat.argmax(axis=1)
        peak = flat[np.arange(len(flat)), idx]
        y, x = np.divmod(idx, w)
        maps = b.reshape(-1, h, w)
        n = np.arange(len(flat))

        def refine(v_minus, v0, v_plus):
            # parabola through log-values: exact for a Gaussian; 0 at the border or flat tops
            lm, l0, lp = (np.log(np.maximum(v, 1e-10)) for v in (v_minus, v0, v_plus))
            denom = lm - 2 * l0 + lp
            with np.errstate(divide="ignore", invalid="ignore"):
                off = np.where(denom < -1e-6, 0.5 * (lm - lp) / denom, 0.0)
            return np.clip(off, -0.5, 0.5)

        xm, xp = np.clip(x - 1, 0, w - 1), np.clip(x + 1, 0, w - 1)
        ym, yp = np.clip(y - 1, 0, h - 1), np.clip(y + 1, 0, h - 1)
        ox = refine(maps[n, y, xm], peak, maps[n, y, xp])
        oy = refine(maps[n, ym, x], peak, maps[n, yp, x])
        ox = np.where((x > 0) & (x < w - 1), ox, 0.0)
        oy = np.where((y > 0) & (y < h - 1), oy, 0.0)
        xy = np.stack([x + ox, y + oy], -1).astype(np.float32)
        return xy.reshape(*lead, self.num_joints, 2), peak.reshape(*lead, self.num_joints)

    def center_map(self, sigma: float = 21.0) -> np.ndarray:
        """The centre map of the crop, (S, S), as fed to every stage (see :func:`center_map`)."""
        return center_map(self.input_size, sigma)

    def grid_to_crop_points(self, grid_xy: np.ndarray) -> np.ndarray:
        return apply_points(grid_to_crop(self.stride), grid_xy)

    @staticmethod
    def to_frame(grid_xy: np.ndarray, grid_to_frame: np.ndarray) -> np.ndarray:
        """Grid positions (..., J, 2) of one frame -> frame pixels through its (2, 3) affine."""
        return apply_points(grid_to_frame, grid_xy).astype(np.float32)
