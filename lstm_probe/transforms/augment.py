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

Training-target rules of the authors' transforms, each a field of the policy (``data.crop``);
the defaults keep the earlier behaviour, the paper configs set the authors' values:

- ``oversize_box``: ``axis`` measures the clip's largest box before rotation; ``rotated`` measures
  the axis-aligned hull of the rotated box, as imgCrop after imgRotate does
  (transformation_PENN.m:278–345; JHMDB: :223–290).
- ``outside_crop``: ``zero`` gives a joint outside the crop no target (Penn: vis −1,
  transformation_PENN.m:373–379); ``keep`` keeps its Gaussian (whatever tail falls on the grid),
  as transformation_JHMDB.m:141–162, which has no visibility at all.
- ``out_of_box``: Penn's outOfBox (transformation_PENN.m:422–440) masks joints outside the crop
  box grown by 0.2 · ‖left shoulder − right hip‖. ``off``: not applied; ``first_frame``: the
  authors' code as it runs — it writes ``label_in(3, j)`` without the frame index, so joint j of
  *frame 1* is masked whenever joint j is outside the box in any frame; ``every_frame``: the rule
  as intended (frame i's own joint).
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
    oversize_box: str = "axis"  # "axis" or "rotated"
    outside_crop: str = "zero"  # "zero" or "keep"
    out_of_box: str = "off"  # "off", "first_frame" or "every_frame"

    def __post_init__(self):
        for name, allowed in (
            ("scale_mode", ("fit", "raw")),
            ("oversize_box", ("axis", "rotated")),
            ("outside_crop", ("zero", "keep")),
            ("out_of_box", ("off", "first_frame", "every_frame")),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"data.crop.{name} must be one of {', '.join(allowed)}, "
                    f"got {getattr(self, name)!r}"
                )

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
        w, h = bboxes[:, 2] - bboxes[:, 0], bboxes[:, 3] - bboxes[:, 1]
        if self.oversize_box == "rotated":  # the hull of the rotated box
            c, s_ = (
                abs(np.cos(np.deg2rad(transform.rotation))),
                abs(np.sin(np.deg2rad(transform.rotation))),
            )
            w, h = w * c + h * s_, w * s_ + h * c
        max_side = float(np.max(np.maximum(w, h)))
        max_side = max(max_side, 1.0)
        if self.scale_mode == "fit":
            scale = self.fit_fraction * S / max_side * transform.scale
        elif self.scale_mode == "raw":
            scale = transform.scale
            if max_side * scale > S:
                scale = S / max_side / 1.1
        else:  # pragma: no cover - refused by __post_init__
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
    mark_outside: bool = True,
) -> dict:
    """Warp frames and joints of a clip. Returns crops (T, S, S, 3) uint8, keypoints in crop pixels
    (T, J, 2), visibility (T, J) (−1 for joints outside the crop unless ``mark_outside`` is
    False), grid_to_frame (T, 2, 3).

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
        if mark_outside:
            outside = (kp < 0).any(-1) | (kp > input_size - 1).any(-1)
            vis[outside] = -1
        out["keypoints"], out["visibility"] = kp, vis
    return out


def crop_boxes(bboxes: np.ndarray, affines: np.ndarray) -> np.ndarray:
    """Frame boxes (T, 4) -> their boxes in the crops (T, 4): the axis-aligned hull of the four
    corners through each frame's affine (imgRotate's hull, then the crop offset and any flip)."""
    b = np.asarray(bboxes, np.float64)
    corners = np.stack([b[:, [0, 1]], b[:, [2, 1]], b[:, [0, 3]], b[:, [2, 3]]], 1)  # (T, 4, 2)
    pts = np.stack([apply_points(a, c) for a, c in zip(affines, corners)])
    return np.concatenate([pts.min(1), pts.max(1)], -1)


def out_of_box(
    keypoints: np.ndarray, visibility: np.ndarray, boxes: np.ndarray, mode: str
) -> np.ndarray:
    """Penn's outOfBox (transformation_PENN.m:422–440) on crop-space keypoints (T, J, 2),
    visibility (T, J) and crop boxes (T, 4) -> new visibility. The margin of frame i is
    0.2 · ‖left shoulder − right hip‖ of frame i; a joint outside box + margin whose visibility is
    not −1 is masked (−1): in frame 1 (``first_frame``, the code as it runs: ``label_in(3, j)``
    has no frame index) or in its own frame (``every_frame``). ``off`` returns a copy."""
    vis = np.asarray(visibility, np.int8).copy()
    if mode == "off":
        return vis
    if mode not in ("first_frame", "every_frame"):
        raise ValueError(f"out_of_box must be off, first_frame or every_frame, got {mode!r}")
    kp = np.asarray(keypoints, np.float64)
    ls, rh = SKELETON.index("left_shoulder"), SKELETON.index("right_hip")
    for i in range(len(kp)):  # the authors' loop order: frame i, then joint j
        margin = 0.2 * np.linalg.norm(kp[i, ls] - kp[i, rh])
        x1, y1, x2, y2 = np.asarray(boxes[i], np.float64) + [-margin, -margin, margin, margin]
        for j in range(kp.shape[1]):
            x, y = kp[i, j]
            if (x < x1 or y < y1 or x > x2 or y > y2) and vis[i, j] != -1:
                vis[0 if mode == "first_frame" else i, j] = -1
    return vis
