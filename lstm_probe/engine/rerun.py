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
