"""Figure builders shared by the dashboard, the notebooks and ``lstm-probe figures``.

Panels are rendered on the server as RGB arrays at the frame's native resolution (memory maps laid
back onto the frame through the stored affine, :mod:`lstm_probe.viz.overlay`), then assembled into
montages. Plotly figures wrap them (one compressed image per view) or plot small arrays (the
channel × joint map, energy time series). Nothing here reads a model: only a dump.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import cv2
import numpy as np
import plotly.graph_objects as go

from ..metrics.pck import box_size, pck_hits
from ..probe.analysis import ChannelReport
from ..probe.store import PHASES, STATS, DumpVideo
from ..skeleton import SKELETON
from .draw import draw_pose
from .overlay import map_to_frame, overlay, scale_limits

FIG5_COLUMNS = (
    "a) C(t-1) on X(t-1)",
    "b) C(t-1) on X(t)",
    "c) f*C(t-1) on X(t)",
    "d) i*g on X(t)",
    "e) C(t) on X(t)",
    "f) pose on X(t)",
)


@dataclass(frozen=True)
class OverlayStyle:
    cmap: str = "RdBu_r"
    alpha: float = 0.7
    scale: str = "channel"  # "channel": one scale per row; "global": one for the whole figure
    clip_percentile: float | None = 99.0


def _label(img: np.ndarray, text: str) -> np.ndarray:
    out = img.copy()
    scale = max(0.3, img.shape[1] / 400)
    cv2.rectangle(out, (0, 0), (img.shape[1], int(16 * scale) + 4), (0, 0, 0), -1)
    cv2.putText(out, text, (3, int(13 * scale)), cv2.FONT_HERSHEY_SIMPLEX, 0.45 * scale,
                (255, 255, 255), 1, cv2.LINE_AA)  # fmt: skip
    return out


def display_zoom(frame_size: tuple[int, int], target: int = 320) -> int:
    """Integer zoom so that small frames are drawn at least ``target`` pixels wide."""
    return max(1, int(round(target / max(1, frame_size[0]))))


def _zoomed(video: DumpVideo, t: int, zoom: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame t (RGB) and its grid->frame affine, both at ``zoom``× the frame's resolution."""
    img = video.frame_image(t)
    g2f = video.grid_to_frame[t].astype(np.float64)
    if zoom == 1:
        return img, g2f
    img = cv2.resize(img, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_LINEAR)
    # pixel centres: x_zoomed = zoom · x + (zoom − 1) / 2
    return img, zoom * g2f + np.array([[0, 0, (zoom - 1) / 2]] * 2)


def figure5_row(
    video: DumpVideo,
    t: int,
    channel: int,
    style: OverlayStyle,
    limits=None,
    zoom: int | None = None,
) -> list[np.ndarray]:
    """The six panels a–f of the paper's Figure 5 for frame t (≥ 1) and one channel."""
    t = int(np.clip(t, 1, video.num_frames - 1))
    zoom = zoom or display_zoom(video.frame_size)
    cur, g_now = _zoomed(video, t, zoom)
    prev, g_prev = _zoomed(video, t - 1, zoom)
    size = (cur.shape[1], cur.shape[0])
    phases = video.frame_phases(t, channel)  # (4, h, w)
    if limits is None:
        limits = scale_limits(phases, True, style.clip_percentile)
    c_prev = phases[PHASES.index("prev_cell")]

    def put(img, m, g):
        return overlay(img, map_to_frame(m, g, size), limits, style.cmap, style.alpha)

    panels = [
        put(prev, c_prev, g_prev),  # C_{t-1} where it was computed
        put(cur, c_prev, g_now),
        put(cur, phases[PHASES.index("forget_term")], g_now),
        put(cur, phases[PHASES.index("input_term")], g_now),
        put(cur, phases[PHASES.index("cell")], g_now),
    ]
    off = (zoom - 1) / 2
    pose = draw_pose(cur, video.keypoints[t] * zoom + off, thickness=max(2, zoom))
    if video.keypoints_gt is not None:
        occ = video.flags.get("occluded")
        pose = draw_pose(
            pose,
            video.keypoints_gt[t] * zoom + off,
            (255, 255, 0),
            max(1, zoom // 2),
            None if occ is None else occ[t],
        )
    panels.append(pose)
    return panels


def figure5_montage(
    video: DumpVideo,
    t: int,
    channels: list[int],
    style: OverlayStyle = OverlayStyle(),
    frames: int = 3,
    labels: dict[int, str] | None = None,
) -> np.ndarray:
    """Rows: each channel × ``frames`` consecutive frames ending at t; columns: panels a–f."""
    t_end = (
        int(np.clip(t, frames, video.num_frames - 1))
        if video.num_frames > frames
        else video.num_frames - 1
    )
    ts = [max(1, t_end - frames + 1 + k) for k in range(frames)]
    limits = None
    if style.scale == "global":
        maps = np.stack([video.frame_phases(tt, c) for c in channels for tt in ts])
        limits = scale_limits(maps, True, style.clip_percentile)
    rows = []
    for c in channels:
        row_limits = limits
        if row_limits is None:
            row_limits = scale_limits(
                np.stack([video.frame_phases(tt, c) for tt in ts]), True, style.clip_percentile
            )
        for tt in ts:
            panels = figure5_row(video, tt, c, style, row_limits)
            name = (labels or {}).get(c, "")
            panels = [
                _label(p, f"ch {c} {name} t={tt}  {col}") for p, col in zip(panels, FIG5_COLUMNS)
            ]
            rows.append(np.concatenate(panels, 1))
    return np.concatenate(rows, 0)


def figure4_montage(
    video: DumpVideo,
    t: int,
    report: ChannelReport,
    channels: list[int] | None = None,
    columns: int = 8,
    style: OverlayStyle = OverlayStyle(),
    phase: str = "cell",
) -> tuple[np.ndarray, list[int]]:
    """A grid of memory channels on frame t, sorted by the analysis -> (image, channel order)."""
    order = list(report.order if channels is None else channels)
    img, g2f = _zoomed(video, t, display_zoom(video.frame_size, 200))
    size = (img.shape[1], img.shape[0])
    maps = video.memory[t, PHASES.index(phase)].astype(np.float32)  # (C, h, w), one read
    tiles = []
    for c in order:
        m = maps[c]
        lim = scale_limits(m, True, style.clip_percentile)
        tile = overlay(img, map_to_frame(m, g2f, size), lim, style.cmap, style.alpha)
        tiles.append(_label(tile, f"{c}: {report.labels[c]}"))
    while len(tiles) % columns:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.concatenate(tiles[i : i + columns], 1) for i in range(0, len(tiles), columns)]
    return np.concatenate(rows, 0), order


def image_figure(img: np.ndarray, height: int | None = None) -> go.Figure:
    """An RGB array as a plotly figure carrying one JPEG (small to send, crisp enough)."""
    ok, buf = cv2.imencode(".jpg", img[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 88])
    assert ok
    src = "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode()
    fig = go.Figure(go.Image(source=src))
    fig.update_layout(
        margin=dict(l=0, r=0, t=0, b=0),
        xaxis=dict(visible=False),
        yaxis=dict(visible=False),
        height=height,
    )
    return fig


def channel_joint_figure(report: ChannelReport) -> go.Figure:
    fig = go.Figure(
        go.Heatmap(
            z=report.scores,
            x=list(SKELETON.short),
            y=[f"{c}: {report.labels[c]}" for c in range(len(report.labels))],
            colorscale="Viridis",
            colorbar=dict(title="score"),
            hovertemplate="channel %{y}<br>%{x}: %{z:.2f}<extra></extra>",
        )
    )
    fig.update_layout(margin=dict(l=0, r=0, t=30, b=0), title="channel × joint attention")
    return fig


def energy_figure(video: DumpVideo, channel: int, t: int) -> go.Figure:
    """Forget-term and input-term energy of one channel over the video, frame t marked."""
    e = STATS.index("energy")
    x = list(range(video.num_frames))
    fig = go.Figure()
    for phase, color in (
        ("forget_term", "#3182bd"),
        ("input_term", "#e6550d"),
        ("cell", "#636363"),
    ):
        fig.add_trace(
            go.Scatter(x=x, y=video.stats[:, PHASES.index(phase), channel, e], name=phase,
                       line=dict(color=color))
        )  # fmt: skip
    occ = video.flags.get("occluded")
    if occ is not None:
        for f in np.nonzero(occ.any(1))[0]:
            fig.add_vrect(x0=f - 0.5, x1=f + 0.5, fillcolor="#999", opacity=0.25, line_width=0)
    cue = video.flags.get("cue_visible")
    if cue is not None and cue.any():
        fig.add_vrect(x0=-0.5, x1=int(np.nonzero(cue)[0].max()) + 0.5, fillcolor="#d62728",
                      opacity=0.12, line_width=0)  # fmt: skip
    fig.add_vline(x=t, line_color="black", line_dash="dot")
    fig.update_layout(
        margin=dict(l=0, r=0, t=30, b=0),
        title=f"channel {channel}: energy per frame (grey: occluded, red: cue shown)",
        xaxis_title="frame",
        legend=dict(orientation="h"),
        clickmode="event",
    )
    return fig


def frame_pck(video: DumpVideo, alpha: float = 0.2) -> np.ndarray | None:
    """Per-frame PCK@alpha over labelled joints, normalised by the larger side of the frame's
    person box (the joints' extent for dumps without boxes); None without labels."""
    if video.keypoints_gt is None:
        return None
    gt = video.keypoints_gt
    if video.bbox is not None and np.isfinite(video.bbox).all():
        side = box_size(video.bbox)
    else:
        side = np.maximum(np.ptp(gt[..., 0], 1), np.ptp(gt[..., 1], 1))
    hits, valid = pck_hits(video.keypoints, gt, video.visible >= 0, side, alpha)
    return hits.sum(1) / np.maximum(valid.sum(1), 1)


def save_image(img: np.ndarray, path) -> None:
    """PNG through OpenCV, PDF through matplotlib (vector page with the raster panel)."""
    from pathlib import Path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".pdf":
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        h, w = img.shape[:2]
        fig = plt.figure(figsize=(w / 100, h / 100), dpi=100)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.imshow(img)
        ax.axis("off")
        fig.savefig(path)
        plt.close(fig)
    else:
        cv2.imwrite(str(path), img[:, :, ::-1])


def ablation_montage(
    video: DumpVideo,
    t: int,
    channel: int,
    base: dict,
    ablated: dict,
    frames: int = 4,
    style: OverlayStyle = OverlayStyle(),
) -> np.ndarray:
    """Two rows — without and with the ablation — over frames t … t+frames−1: channel ``channel``
    of C_t laid on the frame and the predicted pose (ground truth in yellow when known)."""
    zoom = display_zoom(video.frame_size, 240)
    ts = [min(video.num_frames - 1, t + k) for k in range(frames)]
    limits = scale_limits(np.stack([base["memory"][ts, channel], ablated["memory"][ts, channel]]), True,
                          style.clip_percentile)  # fmt: skip
    rows = []
    for name, run in (("unchanged", base), (f"ch {channel} ablated from t={t}", ablated)):
        tiles = []
        for tt in ts:
            img, g2f = _zoomed(video, tt, zoom)
            size = (img.shape[1], img.shape[0])
            tile = overlay(
                img,
                map_to_frame(run["memory"][tt, channel], g2f, size),
                limits,
                style.cmap,
                style.alpha,
            )
            off = (zoom - 1) / 2
            if video.keypoints_gt is not None:
                tile = draw_pose(tile, video.keypoints_gt[tt] * zoom + off, (255, 255, 0), 1)
            tile = draw_pose(tile, run["keypoints"][tt] * zoom + off, thickness=max(2, zoom))
            tiles.append(_label(tile, f"{name}  t={tt}"))
        rows.append(np.concatenate(tiles, 1))
    return np.concatenate(rows, 0)


def importance_figure(importance: dict) -> go.Figure:
    """The channel × joint PCK drop of ``lstm-probe ablate --sweep`` (causal), as a heatmap."""
    z = np.asarray(importance["importance"])
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=list(SKELETON.short),
            y=[str(c) for c in range(len(z))],
            colorscale="Reds",
            colorbar=dict(title="PCK drop"),
            hovertemplate="channel %{y}<br>%{x}: −%{z:.1f} PCK<extra></extra>",
        )
    )
    fig.update_layout(
        margin=dict(l=0, r=0, t=30, b=0),
        title=f"channel × joint importance (ablating {importance.get('point', 'cell')} from frame "
        f"{importance.get('from_frame', 0)})",
    )
    return fig
