"""Streaming inference: one video, one frame at a time, one stage per frame.

The crop of each frame is a square of fixed scale (set once per video from the first person box)
centred on:

- ``gt``: that frame's annotated person box — the reference test protocol, which leaks the
  ground-truth box (reference-implementation.md §4.1); used for benchmark evaluation;
- ``track``: the previous frame's predicted keypoints (the first frame: the given box, or the
  whole frame) — for one's own footage, where no box is known.

Each yielded :class:`FrameResult` carries the frame's ``grid_to_frame`` affine, so beliefs,
memory maps and keypoints can be put back on the original frame.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from ..data.video import Video
from ..models import PoseMachine
from ..transforms.augment import ClipTransform, CropPolicy
from ..transforms.geometric import grid_to_frame, invert, to_network_input, warp_frame
from ..transforms.heatmaps import HeatmapCodec
from .accel import Accel, accel_of, resolve_accel, step_of


@dataclass
class FrameResult:
    index: int
    frame: np.ndarray  # uint8 BGR, original size
    grid_to_frame: np.ndarray  # (2, 3)
    belief: torch.Tensor  # (J+1, h, w) on the model's device
    keypoints: np.ndarray  # (J, 2) frame pixels
    confidence: np.ndarray  # (J,)


def _box_center(box: np.ndarray) -> np.ndarray:
    return (np.asarray(box[:2], float) + np.asarray(box[2:], float)) / 2


def stream_video(
    model: PoseMachine,
    video: Video,
    policy: CropPolicy,
    codec: HeatmapCodec,
    device: torch.device | str = "cpu",
    crop: str = "auto",
    start: int = 0,
    stop: int | None = None,
    first_box: tuple[float, float, float, float] | None = None,
) -> Iterator[FrameResult]:
    ann = video.annotations
    use_gt = crop == "gt" or (crop == "auto" and ann.bbox is not None)
    if crop == "gt" and ann.bbox is None:
        raise ValueError(f"{video.video_id}: crop 'gt' needs person boxes; use 'track'")
    transform = policy.test_transform()
    state, box_size, center = None, None, None
    model.eval()
    accel, step = accel_of(model), step_of(model)
    with torch.inference_mode():
        for t, frame in enumerate(video.frames(start, stop), start):
            h, w = frame.shape[:2]
            if use_gt:
                box = np.asarray(ann.bbox[t], float)
                center = _box_center(box)
            elif center is None:
                box = np.asarray(
                    first_box if first_box is not None else (0, 0, w - 1, h - 1), float
                )
                center = _box_center(box)
            if box_size is None:
                box_size = np.asarray(box[2:], float) - np.asarray(box[:2], float)
            affine = policy.frame_to_crop(fixed_box(center, box_size), transform)[0]
            crop_img = warp_frame(frame, affine, policy.input_size)
            x = to_network_input(crop_img[None], accel.memory_format).to(device)
            with accel.autocast(device):
                out = step(x, state)
            state = out.state
            belief = out.belief[0].float()
            g2f = grid_to_frame(affine, codec.stride)
            grid_xy, conf = codec.decode(belief)
            kp = codec.to_frame(grid_xy, g2f)
            if not use_gt:  # follow the confident joints into the next frame
                good = conf > 0.2
                if good.sum() >= 3:
                    pts = kp[good]
                    center = (pts.min(0) + pts.max(0)) / 2
            yield FrameResult(t, frame, g2f.astype(np.float32), belief, kp, conf)


def load_for_inference(
    checkpoint,
    device: str | torch.device | None = None,
    accel: str | Accel | None = "plain",
    compile: bool = False,
) -> tuple[PoseMachine, dict, CropPolicy, HeatmapCodec]:
    """A checkpoint ready to stream: (model in eval mode, prepared for ``accel`` — see
    :mod:`lstm_probe.engine.accel` —, payload, its test crop policy, codec)."""
    from ..checkpoint import load_checkpoint
    from ..utils import pick_device

    dev = pick_device(device)
    model, payload = load_checkpoint(checkpoint, dev)
    resolve_accel(accel, dev, compile).prepare(model)
    return model, payload, test_policy(model, payload), HeatmapCodec(model.config.input_size)


def fixed_box(center: np.ndarray, size: np.ndarray) -> np.ndarray:
    """A (1, 4) box of fixed ``size`` around ``center``: the crop keeps one scale for a video."""
    half = np.asarray(size, float) / 2
    return np.array([[*(center - half), *(center + half)]])


def test_policy(model: PoseMachine, payload: dict | None = None) -> CropPolicy:
    """The crop policy a checkpoint was trained with (its test transform: mid scale, no rotation),
    else 'fit' at scale 1."""
    crop = ((payload or {}).get("meta", {}).get("config", {}).get("data", {}) or {}).get("crop")
    if crop:
        crop = dict(crop)
        crop["scale_range"] = tuple(crop.get("scale_range", (1.0, 1.0)))
        return CropPolicy(input_size=model.config.input_size, **crop)
    return CropPolicy(model.config.input_size, scale_mode="fit", scale_range=(1.0, 1.0))


def stream_video_multiscale(
    model: PoseMachine,
    video: Video,
    policy: CropPolicy,
    codec: HeatmapCodec,
    scales: Sequence[float],
    device: torch.device | str = "cpu",
    start: int = 0,
    stop: int | None = None,
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """The reference's multi-scale test: one stream (own LSTM state) per scale factor, each frame's
    joint beliefs mapped back onto the original frame and summed over scales, then the arg-max
    (with sub-pixel refinement) on the frame. Crops follow the ground-truth boxes. Yields
    (frame index, keypoints (J, 2), peak of the summed maps / number of scales (J,))."""
    ann = video.annotations
    if ann.bbox is None:
        raise ValueError(f"{video.video_id}: multi-scale testing needs person boxes")
    states: list = [None] * len(scales)
    box_size = None
    J = codec.num_joints
    model.eval()
    accel, step = accel_of(model), step_of(model)
    with torch.inference_mode():
        for t, frame in enumerate(video.frames(start, stop), start):
            h, w = frame.shape[:2]
            box = np.asarray(ann.bbox[t], float)
            if box_size is None:
                box_size = box[2:] - box[:2]
            fixed = fixed_box(_box_center(box), box_size)
            total = np.zeros((J, h, w), np.float32)
            for k, s in enumerate(scales):
                affine = policy.frame_to_crop(fixed, ClipTransform(scale=float(s)))[0]
                crop = warp_frame(frame, affine, policy.input_size)[None]
                x = to_network_input(crop, accel.memory_format).to(device)
                with accel.autocast(device):
                    out = step(x, states[k])
                states[k] = out.state
                belief = out.belief[0, :J].float().cpu().numpy()
                f2g = invert(grid_to_frame(affine, codec.stride))
                for j in range(J):  # outside the crop a joint map contributes 0, as the reference
                    total[j] += cv2.warpAffine(
                        belief[j], f2g, (w, h), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                        borderMode=cv2.BORDER_CONSTANT, borderValue=0.0,
                    )  # fmt: skip
            xy, peak = codec.decode(total[None] / len(scales))
            yield t, xy[0], peak[0]
