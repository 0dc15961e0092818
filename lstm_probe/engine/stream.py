"""Streaming: the one loop that runs a model over a video, one frame and one stage at a time.

Every job that runs a model on a video streams through :func:`stream_video` — ``infer``,
``eval`` (single- and multi-scale), ``dump``, the ablation re-run of a dumped video and the
benchmarks. Interventions and recording are not its business: a caller attaches a
:class:`~lstm_probe.probe.recorder.MemoryProbe` around the stream.

Where each frame is cropped is a :class:`Crops` policy:

- :class:`BoxCrops` (``gt``): a square of fixed scale (set once per video from the first person
  box) centred on each frame's annotated box — the reference test protocol, which leaks the
  ground-truth box (reference-implementation.md §4.1);
- :class:`FrameBoxCrops`: the authors' benchmark rule (run_benchmark_GPU_PENN.m:178–242, the
  same in ..._JHMDB.m:173–236): every frame and scale is checked against that frame's own box;
  a box that would exceed the crop at scale s is shrunk to s · (S / side) / 1.05;
- :class:`TrackCrops` (``track``): the same square centred on the previous frame's confident
  predicted joints (the first frame: a given box, or the whole frame) — for one's own footage;
- :class:`StoredCrops`: the crops a dump recorded (its ``grid_to_frame`` affines), so a dumped
  video re-runs on exactly the crops it was dumped with.

Each yielded :class:`FrameResult` carries the frame's ``grid_to_frame`` affine, so beliefs,
memory maps and keypoints can be put back on the original frame.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from ..data.video import Video
from ..models import PoseMachine, StreamState
from ..transforms.augment import ClipTransform, CropPolicy
from ..transforms.geometric import (
    compose,
    crop_affine,
    grid_to_crop,
    grid_to_frame,
    invert,
    to_network_input,
    warp_frame,
)
from ..transforms.heatmaps import HeatmapCodec
from ..utils import InputError
from .accel import accel_of, step_of

CROP_MODES = ("auto", "gt", "track")


@dataclass
class FrameResult:
    index: int
    frame: np.ndarray  # uint8 BGR, original size
    keypoints: np.ndarray  # (J, 2) frame pixels
    confidence: np.ndarray  # (J,) peak belief (multi-scale: of the summed maps / scales)
    grid_to_frame: np.ndarray | None = None  # (2, 3); None for multi-scale results
    belief: torch.Tensor | None = None  # (J+1, h, w) on the model's device; None multi-scale
    step_ms: float | None = None  # the model step alone, when streamed with ``timed=True``


def _box_center(box: np.ndarray) -> np.ndarray:
    return (np.asarray(box[:2], float) + np.asarray(box[2:], float)) / 2


def fixed_box(center: np.ndarray, size: np.ndarray) -> np.ndarray:
    """A (1, 4) box of fixed ``size`` around ``center``: the crop keeps one scale for a video."""
    half = np.asarray(size, float) / 2
    return np.array([[*(center - half), *(center + half)]])


class Crops:
    """Where frame t is cropped: ``frame_to_crop`` per frame and scale; ``observe`` sees each
    frame's prediction (a tracking policy follows it)."""

    def __init__(self, policy: CropPolicy):
        self.policy = policy

    def transforms(self, scales: Sequence[float] | None) -> list[ClipTransform]:
        if scales is None:
            return [self.policy.test_transform()]
        return [ClipTransform(scale=float(s)) for s in scales]

    def frame_to_crop(self, t: int, frame: np.ndarray, transform: ClipTransform) -> np.ndarray:
        raise NotImplementedError

    def grid_to_frame(self, t: int, affine: np.ndarray, stride: int) -> np.ndarray:
        return grid_to_frame(affine, stride)

    def observe(self, keypoints: np.ndarray, confidence: np.ndarray) -> None:
        pass


class _FixedScaleCrops(Crops):
    """A square of one scale per video (from the first box) around a per-frame centre."""

    def __init__(self, policy: CropPolicy):
        super().__init__(policy)
        self.center: np.ndarray | None = None
        self.box_size: np.ndarray | None = None

    def _box(self, t: int, frame: np.ndarray) -> np.ndarray | None:
        raise NotImplementedError

    def frame_to_crop(self, t, frame, transform):
        box = self._box(t, frame)
        if box is not None:
            self.center = _box_center(box)
            if self.box_size is None:
                self.box_size = np.asarray(box[2:], float) - np.asarray(box[:2], float)
        return self.policy.frame_to_crop(fixed_box(self.center, self.box_size), transform)[0]


class BoxCrops(_FixedScaleCrops):
    """Centred on each frame's annotated person box (``bboxes`` (F, 4))."""

    def __init__(self, policy: CropPolicy, bboxes: np.ndarray):
        super().__init__(policy)
        self.bboxes = bboxes

    def _box(self, t, frame):
        return np.asarray(self.bboxes[t], float)


class FrameBoxCrops(Crops):
    """The authors' test crop: centred on each frame's own annotated box (``bboxes`` (F, 4)), and
    the scale re-checked on every frame against that box.

    ``raw`` scale mode (the paper's recipe): the frame is scaled by the test factor s; where the
    box's larger side would exceed the crop (side · s > S) the factor becomes s · (S / side) / 1.05
    — imgScale in run_benchmark_GPU_PENN.m:203–221. ``fit`` mode: each frame's own box is
    normalised to ``fit_fraction`` of the crop, times s, with the same shrink. A zero-size box
    crops around its point at factor s. The authors round the box centre to a pixel of the
    scaled frame; we keep it exact (at most half a scaled pixel)."""

    SHRINK = 1.05

    def __init__(self, policy: CropPolicy, bboxes: np.ndarray):
        super().__init__(policy)
        self.bboxes = np.asarray(bboxes, np.float64)

    def scale(self, t: int, transform: ClipTransform) -> float:
        """The factor frame t is cropped at for ``transform``."""
        b, S = self.bboxes[t], self.policy.input_size
        side = float(max(b[2] - b[0], b[3] - b[1]))
        if self.policy.scale_mode == "fit":
            scale = self.policy.fit_fraction * S / max(side, 1.0) * transform.scale
        else:
            scale = transform.scale
        if side * scale > S:
            scale = scale * (S / (side * scale)) / self.SHRINK
        return scale

    def frame_to_crop(self, t, frame, transform):
        return crop_affine(_box_center(self.bboxes[t]), self.scale(t, transform),
                           transform.rotation, transform.flip, self.policy.input_size)  # fmt: skip


class TrackCrops(_FixedScaleCrops):
    """Centred on the previous frame's confident joints (≥ 3 above ``min_confidence``)."""

    def __init__(self, policy: CropPolicy, first_box=None, min_confidence: float = 0.2):
        super().__init__(policy)
        self.first_box, self.min_confidence = first_box, min_confidence

    def _box(self, t, frame):
        if self.center is not None:
            return None
        h, w = frame.shape[:2]
        return np.asarray(
            self.first_box if self.first_box is not None else (0, 0, w - 1, h - 1), float
        )

    def observe(self, keypoints, confidence):
        good = confidence > self.min_confidence
        if good.sum() >= 3:
            pts = keypoints[good]
            self.center = (pts.min(0) + pts.max(0)) / 2


class FixedCrops(Crops):
    """One ``frame_to_crop`` affine for every frame (e.g. frames already at the input size)."""

    def __init__(self, policy: CropPolicy, frame_to_crop: np.ndarray):
        super().__init__(policy)
        self.affine = np.asarray(frame_to_crop, np.float64)

    def frame_to_crop(self, t, frame, transform):
        return self.affine


class StoredCrops(Crops):
    """The crops a dump recorded: ``grid_to_frame`` (F, 2, 3) per frame."""

    def __init__(self, policy: CropPolicy, grid_to_frame_affines: np.ndarray, stride: int):
        super().__init__(policy)
        self.g2f = grid_to_frame_affines
        self.to_crop = grid_to_crop(stride)

    def transforms(self, scales):
        if scales is not None:
            raise InputError(None, "a stored crop has one scale; multi-scale needs person boxes")
        return [ClipTransform()]

    def frame_to_crop(self, t, frame, transform):
        return compose(self.to_crop, invert(self.g2f[t].astype(np.float64)))

    def grid_to_frame(self, t, affine, stride):
        return self.g2f[t].astype(np.float64)


def crops_for(video: Video, policy: CropPolicy, crop: str = "auto", first_box=None) -> Crops:
    """The crop policy ``crop`` (see :data:`CROP_MODES`) for one video: ``auto`` follows the
    annotated boxes when the video has them, else tracks the predictions."""
    if crop not in CROP_MODES:
        raise InputError(None, f"crop must be one of {', '.join(CROP_MODES)}, got {crop!r}")
    bboxes = video.annotations.bbox
    if crop == "gt" and bboxes is None:
        raise InputError(None, f"{video.video_id}: crop 'gt' needs person boxes; use 'track'")
    if crop == "gt" or (crop == "auto" and bboxes is not None):
        return BoxCrops(policy, bboxes)
    return TrackCrops(policy, first_box)


def stream_video(
    model: PoseMachine,
    video: Video,
    crops: Crops,
    codec: HeatmapCodec,
    device: torch.device | str = "cpu",
    start: int = 0,
    stop: int | None = None,
    scales: Sequence[float] | None = None,
    timed: bool = False,
) -> Iterator[FrameResult]:
    """Stream frames ``start`` … ``stop`` of ``video`` through ``model`` (in its inference mode,
    :mod:`lstm_probe.engine.accel`), one step per frame.

    ``scales`` runs the reference's multi-scale test: one stream (own state) per scale factor,
    each frame's joint beliefs mapped back onto the original frame and summed over scales, then
    the arg-max (with sub-pixel refinement) on the frame. ``timed`` measures each model step
    (synchronising the device around it) into ``step_ms``.
    """
    transforms = crops.transforms(scales)
    members = [(video, crops, tr) for tr in transforms]
    single = scales is None
    for step in _stream(model, members, codec, device, start, stop, False, timed, single):
        if single:
            yield step[0][1]
            continue
        t, frame = step[0][1].index, step[0][1].frame
        h, w = frame.shape[:2]
        J = codec.num_joints
        total = np.zeros((J, h, w), np.float32)
        for _, r in step:
            belief = r.belief[:J].cpu().numpy()
            f2g = invert(r.grid_to_frame.astype(np.float64))
            for j in range(J):  # outside the crop a map contributes 0, as the reference
                total[j] += cv2.warpAffine(
                    belief[j], f2g, (w, h), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                    borderMode=cv2.BORDER_CONSTANT, borderValue=0.0,
                )  # fmt: skip
        xy, peak = codec.decode(total[None] / len(transforms))
        timing = sum(r.step_ms for _, r in step) if timed else None
        yield FrameResult(t, frame, xy[0], peak[0], step_ms=timing)


def stream_batch(
    model: PoseMachine,
    videos: Sequence[Video],
    crops: Sequence[Crops],
    codec: HeatmapCodec,
    device: torch.device | str = "cpu",
    start: int = 0,
) -> Iterator[list[tuple[int, FrameResult]]]:
    """Stream many videos at once, one batched model step per frame index (throughput: a GPU
    runs B frames in about the time of one) -> per frame index, ``(video number, result)`` for
    every video that still has a frame. Each video keeps its own state and crops (``crops[i]``
    for ``videos[i]``); a video that ends leaves the batch. Single-scale; the results are those
    of :func:`stream_video` per video up to the summation order of batched convolutions."""
    members = [(v, c, c.transforms(None)[0]) for v, c in zip(videos, crops)]
    yield from _stream(model, members, codec, device, start, None, True, False, True)


def _stream(model, members, codec, device, start, stop, batched, timed, decode):
    """The streaming loop. ``members``: (video, crops, transform) — one stream each, with its own
    state; members that share a video object read each frame once (the scales of one video).
    Per frame index -> [(member, FrameResult)] for the members that still have a frame. One
    model step for all of them (``batched``) or one per member, in order (batch 1: the numbers
    of a single stream). ``decode``: keypoints on the frame per member (else only the belief and
    the affine, for the caller to combine)."""
    model.eval()
    accel, step = accel_of(model), step_of(model)
    device = torch.device(device)
    graphs = accel.compile and device.type == "cuda"
    sources = {id(v): iter(v.frames(start, stop)) for v, _, _ in members}
    active = list(range(len(members)))
    states: list = [None] if batched else [None] * len(members)
    with torch.inference_mode():
        for t in itertools.count(start):
            got = {key: next(it, None) for key, it in sources.items()}
            frames = {i: got[id(members[i][0])] for i in active}
            keep = [k for k, i in enumerate(active) if frames[i] is not None]
            if len(keep) < len(active):
                if batched and states[0] is not None and keep:
                    states[0] = _select(states[0], keep, device)
                elif not batched:
                    states = [states[k] for k in keep]
                active = [active[k] for k in keep]
            if not active:
                return
            affines = [members[i][1].frame_to_crop(t, frames[i], members[i][2]) for i in active]
            crops_ = [warp_frame(frames[i], a, members[i][1].policy.input_size)
                      for i, a in zip(active, affines)]  # fmt: skip
            groups = [list(range(len(active)))] if batched else [[k] for k in range(len(active))]
            beliefs: list = [None] * len(active)
            times = [0.0] * len(active)
            for g, ks in enumerate(groups):
                x = to_network_input(np.stack([crops_[k] for k in ks]), accel.memory_format)
                x = x.to(device, non_blocking=batched)
                if timed:
                    _sync(device)
                    t0 = time.perf_counter()
                if graphs:  # CUDA graphs (compile "reduce-overhead"): a new step begins
                    torch.compiler.cudagraph_mark_step_begin()
                with accel.autocast(device):
                    out = step(x, states[g])
                if timed:
                    _sync(device)
                    for k in ks:
                        times[k] = (time.perf_counter() - t0) * 1000
                states[g] = out.state
                b = out.belief.float()
                for n, k in enumerate(ks):
                    beliefs[k] = b[n]
            results = []
            for k, i in enumerate(active):
                crops = members[i][1]
                g2f = crops.grid_to_frame(t, affines[k], codec.stride)
                timing = times[k] if timed else None
                if decode:
                    grid_xy, conf = codec.decode(beliefs[k])
                    kp = codec.to_frame(grid_xy, g2f)
                    crops.observe(kp, conf)
                    r = FrameResult(t, frames[i], kp, conf, g2f.astype(np.float32), beliefs[k],
                                    timing)  # fmt: skip
                else:
                    r = FrameResult(t, frames[i], None, None, g2f, beliefs[k], timing)
                results.append((i, r))
            yield results


def _select(state: StreamState, keep: list[int], device: torch.device) -> StreamState:
    """The state of the videos ``keep`` (batch positions) only."""
    idx = torch.as_tensor(keep, device=device)

    def pick(x):
        return None if x is None else x.index_select(0, idx)

    return StreamState(state.frame, pick(state.belief), pick(state.hidden), pick(state.cell))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
