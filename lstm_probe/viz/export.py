"""Figures as files, through matplotlib: vector PDF and SVG (memory maps as rasters inside vector
axes, fonts embedded as TrueType: ``pdf.fonttype = 42``; SVG text kept as text) or PNG, at journal
widths (single column 3.3 in, double 7 in). The dashboard's export and ``lstm-probe figures`` call
:func:`render` on the same :class:`~lstm_probe.viz.grids.FigureSpec`, so the same selection
gives the same bytes (no creation date is written)."""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from ..probe.analysis import analyse_channels
from ..probe.store import PHASES, open_dump, safe_video_id
from ..utils import LstmProbeError
from . import grids as F

FORMATS = ("png", "pdf", "svg")
_RENDER_LOCK = threading.Lock()  # rc_context changes matplotlib's global rcParams: one at a time
WIDTHS = {"single": 3.3, "double": 7.0}  # inches: one journal column, the full page width
MIME = {"png": "image/png", "pdf": "application/pdf", "svg": "image/svg+xml"}
RC = {
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "svg.fonttype": "none",
    "svg.hashsalt": "lstm-probe",
    "font.family": "DejaVu Sans",
    "mathtext.fontset": "dejavusans",
}


def encode_image(img: np.ndarray, fmt: str = "png") -> bytes:
    """An RGB array as the bytes of a PNG (OpenCV), or of a PDF page carrying it (matplotlib)."""
    if fmt not in ("png", "pdf"):
        raise LstmProbeError(f"image format must be one of png, pdf, got {fmt!r}")
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
    fig.savefig(out, format="pdf", metadata={"CreationDate": None})
    return out.getvalue()


def save_image(img: np.ndarray, path) -> None:
    """Write an RGB array to ``path``; the format comes from its suffix (.png or .pdf)."""
    path = Path(path)
    data = encode_image(img, "pdf" if path.suffix.lower() == ".pdf" else "png")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def render(spec: F.FigureSpec, fmt: str = "pdf", width: str = "double", dpi: int = 300) -> bytes:
    """A figure specification as the bytes of a PDF, SVG or PNG ``width`` wide (``single`` or
    ``double`` column): one axes per panel with its header, row labels on the left, a colour bar
    beside the panels of each scale, the pose legend below."""
    if fmt not in FORMATS:
        raise LstmProbeError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if width not in WIDTHS:
        raise LstmProbeError(f"width must be one of {', '.join(WIDTHS)}, got {width!r}")
    import matplotlib
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    W_in = WIDTHS[width]
    small = width == "single"
    fs = 5.0 if small else 7.0
    W, H = spec.frame_size
    rows, cols = spec.rows, spec.cols
    per_tile = len(spec.scales) > rows
    left = 0.5 if small else 0.85
    right = (0.3 if small else 0.4) if per_tile else (0.45 if small else 0.7)
    gap = (0.16 if small else 0.22) if per_tile else 0.03
    pw = (W_in - left - right - gap * (cols - 1)) / cols
    ph = pw * H / W
    head = fs * 2.6 / 72  # two lines of header text
    top = 0.2 + (0.14 if spec.legend else 0)
    H_in = top + rows * (ph + head) + 0.08
    with _RENDER_LOCK, matplotlib.rc_context({**RC, "font.size": fs}):
        fig = Figure(figsize=(W_in, H_in), dpi=dpi)
        boxes: dict[int, list] = {}
        axes = {}
        for r, row in enumerate(spec.panels):
            y0 = H_in - top - (r + 1) * (ph + head) + 0.0
            for k, p in enumerate(row):
                if p is None:
                    continue
                x0 = left + k * (pw + gap)
                ax = fig.add_axes((x0 / W_in, y0 / H_in, pw / W_in, ph / H_in))
                axes[r, k] = ax
                ax.set_xticks([])
                ax.set_yticks([])
                for s in ax.spines.values():
                    s.set_linewidth(0.4)
                ax.set_title(p.header.tex, fontsize=fs * 0.9, pad=1.5)
                if p.image is None:
                    ax.text(0.5, 0.5, p.note.replace("_{t−1}", "$_{t-1}$"), ha="center",
                            va="center", fontsize=fs * 0.75, color="#555", wrap=True,
                            transform=ax.transAxes)  # fmt: skip
                    ax.set_facecolor("#f2f2f2")
                    continue
                ax.imshow(p.image, extent=(0, W, H, 0), interpolation="none")
                ax.set_xlim(0, W)
                ax.set_ylim(H, 0)
                if p.scale is not None:
                    boxes.setdefault(p.scale, []).append((x0, y0))
            if (r, 0) in axes:
                axes[r, 0].set_ylabel(spec.row_labels[r].tex, fontsize=fs * 0.9, rotation=0,
                                      ha="right", va="center", labelpad=3)  # fmt: skip
        for i, s in enumerate(spec.scales):
            b = boxes.get(i)
            if not b:
                continue
            y_lo, y_hi = min(y for _, y in b), max(y for _, y in b) + ph
            if per_tile:
                x = max(x for x, _ in b) + pw + 0.02
                rect = (x / W_in, y_lo / H_in, 0.04 / W_in, (y_hi - y_lo) / H_in)
            else:
                x = left + cols * pw + (cols - 1) * gap + 0.05
                rect = (x / W_in, y_lo / H_in, 0.07 / W_in, (y_hi - y_lo) / H_in)
            cax = fig.add_axes(rect)
            sm = ScalarMappable(Normalize(s.lo, s.hi), spec.cmap)
            cb = fig.colorbar(sm, cax=cax)
            cb.locator = MaxNLocator(3 if per_tile else 5, symmetric=True)
            cb.update_ticks()
            cb.ax.tick_params(labelsize=fs * (0.6 if per_tile else 0.8), width=0.3, length=1.5)
            cb.outline.set_linewidth(0.3)
            if not per_tile:
                cb.set_label(s.label.tex, fontsize=fs * 0.8, labelpad=1)
        fig.text(left / W_in, 1 - 0.06 / H_in, spec.title.tex, fontsize=fs * 1.1, va="top")
        if spec.legend:
            handles = [Line2D([], [], ls="", marker="o", ms=fs * 0.7,
                              mfc=np.array(c) / 255 if filled else "none",
                              mec=np.array(c) / 255 if not filled else "#333", mew=0.6, label=n)
                       for n, c, filled in spec.legend]  # fmt: skip
            fig.legend(handles=handles, loc="upper left", ncol=len(handles), frameon=False,
                       fontsize=fs * 0.85, borderaxespad=0, handletextpad=0.3,
                       bbox_to_anchor=(left / W_in, 1 - 0.2 / H_in))  # fmt: skip
        out = io.BytesIO()
        meta = {"pdf": {"CreationDate": None}, "svg": {"Date": None}}.get(fmt)
        fig.savefig(out, format=fmt, dpi=dpi, metadata=meta)
    return out.getvalue()


def figure_spec(video, report, which: str, t: int, channels=None, style=None,
                scale: str = "channel", fig4_mode: str = "curated", fig4_phase: str = "cell",
                fig4_scale: str = "tile") -> F.FigureSpec:  # fmt: skip
    """The specification of ``figure5`` or ``figure4`` for one selection: what the dashboard
    shows for these values, and what ``lstm-probe figures`` exports for them."""
    style = style or F.Style()
    if which == "figure5":
        if not channels:
            raise LstmProbeError("Figure 5 needs at least one channel")
        return F.figure5_spec(video, t, list(channels), style, scale, report.labels)
    return F.figure4_spec(video, t, report, fig4_mode, fig4_phase, fig4_scale, style)


def file_name(which: str, video_id: str, t: int, fmt: str) -> str:
    return f"{which}_{safe_video_id(video_id)}_t{t}.{fmt}"


def export_figures(
    dump_path,
    video: str | None = None,
    frame: int = 3,
    channels: Sequence[int] | None = None,
    fmt: str = "pdf",
    out="figures",
    width: str = "double",
    scale: str = "channel",
    fig4_mode: str = "curated",
    fig4_phase: str = "cell",
    fig4_scale: str = "tile",
) -> list[Path]:
    """Figure 5 (``channels``, default the top 3 by the channel analysis) and Figure 4 at frame
    ``frame`` of ``video`` (default the first) -> the two paths written. The files are the
    dashboard's export of the same selection (default style)."""
    if fmt not in FORMATS:
        raise LstmProbeError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if width not in WIDTHS:
        raise LstmProbeError(f"--width must be one of {', '.join(WIDTHS)}, got {width!r}")
    if fig4_phase not in PHASES:
        raise LstmProbeError(f"--phase must be one of {', '.join(PHASES)}, got {fig4_phase!r}")
    dump = open_dump(dump_path)
    if not dump.video_ids:
        raise LstmProbeError(f"{dump_path}: the dump has no finished video")
    vid = video or dump.video_ids[0]
    if vid not in dump.video_ids:
        raise LstmProbeError(f"{dump_path}: no video {vid!r} in the dump")
    v = dump.video(vid)
    if not 0 <= frame < v.num_frames:
        raise LstmProbeError(f"--frame must lie in 0..{v.num_frames - 1}, got {frame}")
    rep = analyse_channels([v])
    chans = list(channels) if channels else [int(c) for c in rep.order[:3]]
    if any(not 0 <= c < v.channels for c in chans):
        raise LstmProbeError(f"--channels must lie in 0..{v.channels - 1}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for which in ("figure5", "figure4"):
        spec = figure_spec(v, rep, which, frame, chans, F.Style(), scale, fig4_mode, fig4_phase,
                           fig4_scale)  # fmt: skip
        path = out / file_name(which, vid, frame, fmt)
        path.write_bytes(render(spec, fmt, width))
        paths.append(path)
    dump.close()
    return paths
