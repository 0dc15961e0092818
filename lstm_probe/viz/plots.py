"""Plotly figures shared by the dashboard and the notebooks: an RGB montage as an image, the
channel × joint maps, a channel's energy over time and the per-frame PCK. Small arrays in,
``go.Figure`` out; nothing is read here but the dump video given."""

from __future__ import annotations

import base64

import cv2
import numpy as np
import plotly.graph_objects as go

from ..probe.analysis import ChannelReport
from ..probe.store import PHASES, STATS, DumpVideo
from ..skeleton import SKELETON


def image_figure(img: np.ndarray, height: int | None = None) -> go.Figure:
    """An RGB array as a plotly figure carrying one JPEG (small to send, crisp enough)."""
    ok, buf = cv2.imencode(".jpg", img[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 88])
    if not ok:
        raise ValueError(f"cannot encode an image of shape {img.shape} as JPEG")
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


def pck_figure(pck: np.ndarray, t: int, alpha: float = 0.2) -> go.Figure:
    """Per-frame PCK (F,) in [0, 1] (:func:`lstm_probe.metrics.pck.frame_pck`), frame t marked."""
    fig = go.Figure(go.Scatter(y=pck, mode="lines+markers", name=f"PCK@{alpha:g}"))
    fig.add_vline(x=int(t), line_dash="dot")
    fig.update_layout(margin=dict(l=0, r=0, t=30, b=0), title=f"per-frame PCK@{alpha:g}",
                      yaxis=dict(range=[0, 1.05]))  # fmt: skip
    return fig
