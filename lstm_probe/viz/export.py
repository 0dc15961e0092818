"""Figures as files: PNG or PDF bytes of an RGB montage, and ``lstm-probe figures`` (Figures 4
and 5 of one video of a dump)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from ..probe.analysis import analyse_channels
from ..probe.store import open_dump
from ..utils import LstmProbeError
from .montage import figure4_montage, figure5_montage

FORMATS = ("png", "pdf")


def encode_image(img: np.ndarray, fmt: str = "png") -> bytes:
    """An RGB array as the bytes of a file, in memory: PNG through OpenCV, PDF through matplotlib
    (a vector page carrying the raster panel)."""
    if fmt not in FORMATS:
        raise LstmProbeError(f"image format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if fmt == "png":
        ok, buf = cv2.imencode(".png", np.ascontiguousarray(img[:, :, ::-1]))
        if not ok:
            raise LstmProbeError(f"cannot encode an image of shape {img.shape} as PNG")
        return buf.tobytes()
    from matplotlib.figure import Figure  # no pyplot: no global backend, safe in a server thread

    h, w = img.shape[:2]
    fig = Figure(figsize=(w / 100, h / 100), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(img)
    ax.axis("off")
    out = io.BytesIO()
    fig.savefig(out, format="pdf")
    return out.getvalue()


def save_image(img: np.ndarray, path) -> None:
    """Write an RGB array to ``path``; the format comes from its suffix (.png or .pdf)."""
    path = Path(path)
    data = encode_image(img, "pdf" if path.suffix.lower() == ".pdf" else "png")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


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
    save_image(figure5_montage(v, t, chans, labels=dict(enumerate(rep.labels))), f5)
    save_image(figure4_montage(v, t, rep)[0], f4)
    return [f5, f4]
