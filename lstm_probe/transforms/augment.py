"""Random policy -> one deterministic transform per clip, applied to every frame and its joints.

As the reference code: one draw of scale, rotation and flip per clip; each frame's crop is
centred on that frame's own person box; a flip mirrors the crop and swaps left/right joints.
Two scale modes:

- ``raw`` (the authors' Penn/JHMDB recipe): the frame is scaled by the drawn factor as it is,
  then shrunk to fit if the clip's largest box would exceed the crop (by 1/1.1 of the fit).
- ``fit``: the clip's largest box side is first normalised to ``fit_fraction`` of the crop, then
  the drawn factor applies — for footage of any size (the synthetic set, one's own video).

The grid -> frame affine of every frame is returned with the crop, so the belief grid can be
mapped back onto the original frame exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from ..skeleton import SKELETON
from .geometric import apply_points, crop_affine, grid_to_frame, warp_frame


@dataclass(frozen=True)
class ClipTransform:
    scale: float = 1.0
    rotation: float = 0.0  # degrees
    flip: bool = False


@dataclass(frozen=True)
class CropPolicy:
    input_size: int
    scale_mode: str = "fit"  # "fit" or "raw"
    scale_range: tuple[float, float] = (0.85, 1.15)
    rotation: float = 40.0
    flip_prob: float = 0.5
    fit_fraction: float = 0.8

    @classmethod
    def from_config(cls, crop: dict, input_size: int) -> CropPolicy:
        """From a config's (or a checkpoint's) ``data.crop`` table; lists become tuples."""
        known = {f.name for f in fields(cls)} - {"input_size"}
        if not isinstance(crop, dict) or set(crop) - known:
            raise ValueError(
                f"data.crop must be a table with keys from {sorted(known)}, got {crop!r}"
            )
        crop = dict(crop)
        if "scale_range" in crop:
            crop["scale_range"] = tuple(float(v) for v in crop["scale_range"])
        return cls(input_size=input_size, **crop)

    def sample(self, rng: np.random.Generator) -> ClipTransform:
        return ClipTransform(
            scale=float(rng.uniform(*self.scale_range)),
            rotation=float(rng.uniform(-self.rotation, self.rotation)),
            flip=bool(rng.random() < self.flip_prob),
        )

    def test_transform(self) -> ClipTransform:
        return ClipTransform(scale=float(np.mean(self.scale_range)))

    def frame_to_crop(self, bboxes: np.ndarray, transform: ClipTransform) -> np.ndarray:
        """bboxes (T, 4) of the clip's frames -> (T, 2, 3) frame -> crop affines."""
        bboxes = np.asarray(bboxes, np.float64)
        S = self.input_size
        max_side = float(
            np.max(np.maximum(bboxes[:, 2] - bboxes[:, 0], bboxes[:, 3] - bboxes[:, 1]))
        )
        max_side = max(max_side, 1.0)
        if self.scale_mode == "fit":
            scale = self.fit_fraction * S / max_side * transform.scale
        elif self.scale_mode == "raw":
            scale = transform.scale
            if max_side * scale > S:
                scale = S / max_side / 1.1
        else:
            raise ValueError(f"scale_mode must be 'fit' or 'raw', got {self.scale_mode!r}")
        centers = (bboxes[:, :2] + bboxes[:, 2:]) / 2
        return np.stack(
            [crop_affine(c, scale, transform.rotation, transform.flip, S) for c in centers]
        )


def crop_clip(
    frames: list[np.ndarray],
    keypoints: np.ndarray | None,
    visibility: np.ndarray | None,
    affines: np.ndarray,
    flip: bool,
    input_size: int,
    stride: int = 8,
) -> dict:
    """Warp frames and joints of a clip. Returns crops (T, S, S, 3) uint8, keypoints in crop pixels
    (T, J, 2), visibility (T, J) (−1 for joints outside the crop), grid_to_frame (T, 2, 3).

    After a flip the joint arrays are permuted so that channel "right_wrist" still holds the
    person's right wrist as it appears in the mirrored crop.
    """
    crops = np.stack([warp_frame(f, a, input_size) for f, a in zip(frames, affines)])
    out = {
        "crops": crops,
        "grid_to_frame": np.stack([grid_to_frame(a, stride) for a in affines]).astype(np.float32),
    }
    if keypoints is not None:
        kp = np.stack([apply_points(a, k) for a, k in zip(affines, keypoints)]).astype(np.float32)
        vis = np.asarray(visibility, np.int8).copy()
        if flip:
            perm = SKELETON.flip_permutation()
            kp, vis = kp[:, perm], vis[:, perm]
        outside = (kp < 0).any(-1) | (kp > input_size - 1).any(-1)
        vis[outside] = -1
        out["keypoints"], out["visibility"] = kp, vis
    return out
