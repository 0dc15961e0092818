"""Re-run a dumped video through its model, optionally with interventions.

A dump holds everything needed: the frames (JPEG), each frame's crop (``grid_to_frame``), and the
checkpoint's path and sha256 in the manifest. Re-running is streaming a :class:`DumpedVideo` view
of the dump on its stored crops, with a probe attached. The dashboard uses this to show a
channel's ablation next to the unchanged run; both start from the stored (JPEG) frames, so they
differ only by the intervention.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import load_checkpoint
from ..data.video import Annotations, Video
from ..models import PoseMachine
from ..probe.recorder import Intervention, MemoryProbe
from ..probe.store import Dump, DumpVideo
from ..transforms.augment import CropPolicy
from ..transforms.heatmaps import HeatmapCodec
from ..utils import InputError, sha256_file
from .stream import StoredCrops, stream_video


class DumpedVideo(Video):
    """A dumped video as a :class:`~lstm_probe.data.video.Video`: its stored frames (BGR, as
    every loader gives them) and its stored annotations."""

    def __init__(self, video: DumpVideo):
        self.dumped = video
        self.video_id = video.video_id
        self.num_frames = video.num_frames
        self.attrs = {}
        self.annotations = Annotations(video.keypoints_gt, video.visible, video.bbox)

    def frame(self, t: int) -> np.ndarray:
        self._check_index(t)
        return np.ascontiguousarray(self.dumped.frame_image(t)[:, :, ::-1])


def load_dump_model(dump: Dump, device: str = "cpu") -> PoseMachine:
    """The dump's model, from the checkpoint its manifest names — only if the file is unchanged."""
    ck = dump.manifest["checkpoint"]
    path = Path(ck.get("path", ""))
    if not path.is_file():
        raise InputError(path, "the dump's checkpoint is not available here (needed to re-run)")
    if sha256_file(path) != ck["sha256"]:
        raise InputError(path, "the checkpoint changed since the dump was made (sha256 differs)")
    model, _ = load_checkpoint(path, device)
    return model


def rerun(
    model: PoseMachine,
    video: DumpVideo,
    interventions: Sequence[Intervention] = (),
    point: str = "cell",
) -> dict[str, np.ndarray]:
    """-> {"keypoints": (F, J, 2) frame pixels, "memory": (F, C, h, w) of ``point``}."""
    kps, mem = [], []
    for r, rec in stream_dumped(model, video, interventions, [point]):
        kps.append(r.keypoints)
        mem.append(rec[point][0].float().cpu().numpy())
    return {"keypoints": np.stack(kps), "memory": np.stack(mem)}


def stream_dumped(
    model: PoseMachine,
    video: DumpVideo,
    interventions: Sequence[Intervention] = (),
    points: Sequence[str] = ("cell",),
    start: int = 0,
    stop: int | None = None,
) -> Iterator[tuple]:
    """Stream a dumped video on its stored crops -> (FrameResult, {point: record (B, C, h, w)})
    per frame, with ``interventions`` attached."""
    size = model.config.input_size
    codec = HeatmapCodec(size)
    crops = StoredCrops(CropPolicy(size), video.grid_to_frame, codec.stride)
    probe = MemoryProbe(model, points, interventions=interventions, keep="latest")
    with probe:
        for r in stream_video(model, DumpedVideo(video), crops, codec, start=start, stop=stop,
                              device=next(model.parameters()).device):  # fmt: skip
            yield r, probe.latest


def _runner(model: PoseMachine, video: DumpVideo):
    """(frame t, state) -> FrameOutput and keypoints on the frame: one step on the stored crop."""
    from ..transforms.geometric import to_network_input, warp_frame
    from .accel import accel_of, step_of

    size = model.config.input_size
    codec = HeatmapCodec(size)
    crops = StoredCrops(CropPolicy(size), video.grid_to_frame, codec.stride)
    (transform,) = crops.transforms(None)
    accel, step = accel_of(model), step_of(model)
    device = next(model.parameters()).device
    frames = DumpedVideo(video)

    def run(t: int, state):
        frame = frames.frame(t)
        affine = crops.frame_to_crop(t, frame, transform)
        x = to_network_input(warp_frame(frame, affine, size)[None], accel.memory_format)
        with accel.autocast(device):
            out = step(x.to(device), state)
        belief = out.belief[0].float()
        grid_xy, _ = codec.decode(belief)
        kp = codec.to_frame(grid_xy, crops.grid_to_frame(t, affine, codec.stride))
        return out, kp, belief.cpu().numpy()

    return run


def run_with_states(
    model: PoseMachine,
    video: DumpVideo,
    interventions: Sequence[Intervention] = (),
    start: int = 0,
    base: dict | None = None,
    point: str = "cell",
    threads: int | None = None,
) -> dict[str, object]:
    """Re-run ``video`` keeping what a later re-run can start from -> {"keypoints" (F, J, 2),
    "memory" (F, C, h, w) of ``point``, "belief" (F, J+1, h, w), "states": the model state after
    each frame}. With ``base`` (an earlier result) and ``start`` > 0, frames before ``start``
    are taken from ``base`` and the run starts from its state after frame ``start − 1``: an
    intervention that begins at ``start`` gives the same numbers as a run from frame 0.
    ``threads`` sets torch's intra-op threads for the run (restored after): a server answering
    other requests on few cores runs faster with 1 (``lstm-probe bench dashboard``)."""
    if base is None and start:
        raise ValueError("a re-run from a later frame needs the base run's states")
    kps, mem, bel, states = [], [], [], []
    state = None
    if start:
        kps, mem, bel = (list(base[k][:start]) for k in ("keypoints", "memory", "belief"))
        states = list(base["states"][:start])
        state = states[-1]
    run = _runner(model, video)
    model.eval()
    probe = MemoryProbe(model, [point], interventions=interventions, keep="latest")
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        with probe, torch.inference_mode():
            for t in range(start, video.num_frames):
                out, kp, belief = run(t, state)
                state = out.state
                states.append(state)
                kps.append(kp)
                bel.append(belief)
                mem.append(probe.latest[point][0].float().cpu().numpy())
    finally:
        torch.set_num_threads(before)
    return {"keypoints": np.stack(kps), "memory": np.stack(mem), "belief": np.stack(bel),
            "states": states}  # fmt: skip


def run_nbytes(run: dict) -> int:
    """Bytes held by a :func:`run_with_states` result (for a cache's budget)."""
    n = sum(run[k].nbytes for k in ("keypoints", "memory", "belief"))
    for s in run["states"]:
        n += sum(
            x.numel() * x.element_size() for x in (s.belief, s.hidden, s.cell) if x is not None
        )
    return n
