"""``lstm-probe figures``: Figures 4 and 5 of one video of a dump, written as files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..probe.analysis import analyse_channels
from ..probe.store import open_dump
from ..utils import LstmProbeError
from . import figures as F

FORMATS = ("png", "pdf")


def export_figures(
    dump_path,
    video: str | None = None,
    frame: int = 3,
    channels: Sequence[int] | None = None,
    fmt: str = "png",
    out="figures",
) -> list[Path]:
    """Figure 5 (``channels``, default the top 3 by the channel analysis) and Figure 4 at frame
    ``frame`` of ``video`` (default the first) -> the two paths written."""
    if fmt not in FORMATS:
        raise LstmProbeError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    dump = open_dump(dump_path)
    if not dump.video_ids:
        raise LstmProbeError(f"{dump_path}: the dump has no finished video")
    vid = video or dump.video_ids[0]
    if vid not in dump.video_ids:
        raise LstmProbeError(f"{dump_path}: no video {vid!r} in the dump")
    v = dump.video(vid)
    rep = analyse_channels([v])
    chans = list(channels) if channels else [int(c) for c in rep.order[:3]]
    if any(not 0 <= c < v.channels for c in chans):
        raise LstmProbeError(f"--channels must lie in 0..{v.channels - 1}")
    t = min(max(frame, 1), v.num_frames - 1)
    out = Path(out)
    stem = vid.replace("/", "_")
    f5 = out / f"figure5_{stem}_t{t}.{fmt}"
    f4 = out / f"figure4_{stem}_t{t}.{fmt}"
    F.save_image(F.figure5_montage(v, t, chans, labels=dict(enumerate(rep.labels))), f5)
    F.save_image(F.figure4_montage(v, t, rep)[0], f4)
    return [f5, f4]
