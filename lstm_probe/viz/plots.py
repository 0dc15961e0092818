"""Plotly figures shared by the dashboard and the notebooks: an RGB montage as an image, the
channel × joint maps, a channel's energy over time and the per-frame PCK. Small arrays in,
``go.Figure`` out; nothing is read here but the dump video given."""

from __future__ import annotations

import base64

import cv2
import numpy as np
import plotly.graph_objects as go

from ..domain import GUESS_THRESHOLD
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


# ------------------------------------------------------------------ figure grids (Figures 4, 5)
PANEL_PX = 150  # height of one panel on screen; the figure grows with its rows
HEADER_PX = 20
LABEL_PX = 110  # left margin: row labels
BAR_PX = 70  # right margin per colour-bar column
TOP_PX = 50


def plotly_colorscale(cmap: str, n: int = 11) -> list:
    from matplotlib import colormaps

    rgb = colormaps[cmap](np.linspace(0, 1, n))[:, :3]
    return [[i / (n - 1), "rgb({},{},{})".format(*(int(v * 255 + 0.5) for v in c))]
            for i, c in enumerate(rgb)]  # fmt: skip


def jpeg_uri(img: np.ndarray, quality: int = 88) -> str:
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(img[:, :, ::-1]),
                           [cv2.IMWRITE_JPEG_QUALITY, quality])  # fmt: skip
    if not ok:
        raise ValueError(f"cannot encode an image of shape {img.shape} as JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode()


def _html(t) -> str:
    return t.html.replace("\n", "<br>")


def _typed(a: np.ndarray) -> dict:
    """A float array as Plotly's binary typed-array spec (base64, no JSON numbers)."""
    a = np.ascontiguousarray(a, np.float32)
    return {"dtype": "f4", "bdata": base64.b64encode(a.tobytes()).decode(),
            "shape": ",".join(map(str, a.shape))}  # fmt: skip


def grid_figure(spec, width: int | None = None) -> dict:
    """A :class:`~lstm_probe.viz.grids.FigureSpec` as a Plotly figure (a plain dict, built
    without per-property validation: ``dcc.Graph`` takes it as is, ``go.Figure(d)`` in a
    notebook): one pair of axes per panel (frame pixels, y down), the panel's image as a JPEG
    inside the plot (an ``image`` trace), an invisible native-resolution heatmap over it for
    hover (value, phase, frame, grid cell, frame pixel), a header per panel, row labels, and one
    colour bar per scale (a marker-only trace, no heatmap). The height grows with the rows."""
    W, H = spec.frame_size
    rows, cols = spec.rows, spec.cols
    per_tile_bars = len(spec.scales) > rows  # a colour bar beside every tile
    gap = 0.055 if per_tile_bars else 0.012
    row_px = PANEL_PX + HEADER_PX
    legend_px = 28 if spec.legend else 0
    height = TOP_PX + legend_px + rows * row_px + 20
    right = 10 if per_tile_bars else BAR_PX
    cw = (1 - gap * (cols - 1)) / cols
    data, annotations, scale_of = [], [], {}
    layout: dict = {}
    colorscale = plotly_colorscale(spec.cmap)
    axis = dict(showticklabels=False, ticks="", showgrid=False, zeroline=False, showline=True,
                linecolor="#888", mirror=True, constrain="domain", fixedrange=True)  # fmt: skip
    for r, row in enumerate(spec.panels):
        y1 = 1 - (r * row_px + HEADER_PX) / (rows * row_px)
        y0 = 1 - (r + 1) * row_px / (rows * row_px)
        for k, p in enumerate(row):
            if p is None:
                continue
            n = r * cols + k + 1
            sfx = str(n) if n > 1 else ""
            xa, ya = "x" + sfx, "y" + sfx
            x0 = k * (cw + gap)
            layout["xaxis" + sfx] = {**axis, "domain": [x0, x0 + cw], "range": [0, W],
                                     "constraintoward": "right" if per_tile_bars else "center"}  # fmt: skip
            layout["yaxis" + sfx] = {**axis, "domain": [y0, y1], "range": [H, 0],
                                     "scaleanchor": xa}  # fmt: skip
            annotations.append(dict(text=_html(p.header), x=0.5, y=1, xref=f"{xa} domain",
                                    yref=f"{ya} domain", yanchor="bottom", showarrow=False,
                                    font=dict(size=11), name="panel-header"))  # fmt: skip
            if p.image is None:
                annotations.append(dict(text=p.note, x=W / 2, y=H / 2, xref=xa, yref=ya,
                                        showarrow=False, font=dict(size=10, color="#666")))  # fmt: skip
                continue
            ih, iw = p.image.shape[:2]
            data.append(dict(type="image", source=jpeg_uri(p.image), x0=0, y0=0, dx=W / iw,
                             dy=H / ih, xaxis=xa, yaxis=ya, hoverinfo="skip", name="panel"))  # fmt: skip
            if p.values is not None:
                phase = p.header.html.split(" on ")[0].split(", t =")[0]
                data.append(dict(
                    type="heatmap", z=_typed(p.values), x=_typed(p.grid_x), y=_typed(p.grid_y),
                    xaxis=xa, yaxis=ya, opacity=0, showscale=False, colorscale=colorscale,
                    hovertemplate=(f"value %{{z:.3f}}<br>{phase}<br>frame t = {p.frame}<br>"
                                   "grid cell (row %{pointNumber[0]}, col %{pointNumber[1]})<br>"
                                   "frame pixel (x %{x:.0f}, y %{y:.0f})<extra></extra>"),
                    name="values"))  # fmt: skip
            if p.scale is not None:
                scale_of.setdefault(p.scale, []).append((x0, y0, y1))
    for i, s in enumerate(spec.scales):
        boxes = scale_of.get(i)
        if not boxes:
            continue
        lo_y, hi_y = min(b[1] for b in boxes), max(b[2] for b in boxes)
        x = max(b[0] for b in boxes) + cw + 0.004 if per_tile_bars else 1.01
        bar = dict(x=x, xanchor="left", y=(lo_y + hi_y) / 2, yanchor="middle", len=hi_y - lo_y,
                   lenmode="fraction", thickness=6 if per_tile_bars else 12,
                   tickfont=dict(size=9), tickmode="array" if per_tile_bars else "auto",
                   tickvals=[s.lo, 0, s.hi] if per_tile_bars else None,
                   ticktext=[f"{s.lo:.2g}", "0", f"{s.hi:.2g}"] if per_tile_bars else None,
                   nticks=None if per_tile_bars else 5,
                   title=dict(text="" if per_tile_bars else _html(s.label), side="right",
                              font=dict(size=10)))  # fmt: skip
        data.append(dict(type="scatter", x=[None], y=[None], mode="markers", hoverinfo="skip",
                         showlegend=False, name="colour bar",
                         marker=dict(color=[s.lo, s.hi], cmin=s.lo, cmax=s.hi,
                                     colorscale=colorscale, showscale=True, colorbar=bar)))  # fmt: skip
    for r, lab in enumerate(spec.row_labels):
        y = 1 - (r * row_px + HEADER_PX + PANEL_PX / 2) / (rows * row_px)
        annotations.append(dict(text=_html(lab), x=-0.01, y=y, xref="paper", yref="paper",
                                xanchor="right", showarrow=False, font=dict(size=11),
                                name="row-label"))  # fmt: skip
    for name, rgb, filled in spec.legend:
        data.append(dict(type="scatter", x=[None], y=[None], mode="markers", name=name,
                         marker=dict(color="rgb({},{},{})".format(*rgb), size=9,
                                     symbol="circle" if filled else "circle-open",
                                     line=dict(color="#333", width=1))))  # fmt: skip
    layout.update(
        height=height, width=width, plot_bgcolor="white", paper_bgcolor="white",
        margin=dict(l=LABEL_PX, r=right, t=TOP_PX + legend_px, b=20), annotations=annotations,
        title=dict(text=_html(spec.title), x=0, xanchor="left", xref="paper", y=1 - 8 / height,
                   yanchor="top", font=dict(size=14)),
        legend=dict(orientation="h", x=0, y=1, yanchor="bottom", xanchor="left",
                    font=dict(size=11)),
        showlegend=bool(spec.legend), hovermode="closest", dragmode=False,
    )  # fmt: skip
    if width is None:
        del layout["width"]
    return {"data": data, "layout": layout}


def empty_figure(message: str, height: int = 160) -> go.Figure:
    """An explicit empty state: a blank figure that says why (never a stale figure)."""
    fig = go.Figure()
    fig.add_annotation(text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font=dict(size=14, color="#555"), name="empty-state")  # fmt: skip
    fig.update_layout(height=height, xaxis=dict(visible=False), yaxis=dict(visible=False),
                      margin=dict(l=0, r=0, t=0, b=0), plot_bgcolor="white")  # fmt: skip
    return fig


ENERGY_TRACES = (("forget_term", "f<sub>t</sub>⊙C<sub>t−1</sub>", "#3182bd"),
                 ("input_term", "i<sub>t</sub>⊙g<sub>t</sub>", "#e6550d"),
                 ("cell", "C<sub>t</sub>", "#636363"))  # fmt: skip


def timeline_figure(
    video: DumpVideo,
    channel: int,
    t: int,
    pck: np.ndarray | None = None,
    alpha: float = 0.2,
    window: int = 3,
) -> dict:
    """A channel's energy over the video (Σ over the grid of value², per phase) above the
    per-frame PCK and the model's confidence (mean over joints of each belief map's peak; below
    :data:`lstm_probe.domain.GUESS_THRESHOLD` the model is guessing), on one shared frame axis
    with one hover cursor; the frames t−2 … t of
    Figure 5 shaded, frame t dotted, occluded frames grey, the cue's frames red. A plain dict
    (as :func:`grid_figure`: no per-property validation, a few ms)."""
    e = STATS.index("energy")
    F = video.num_frames
    x = list(range(F))
    two = True  # the lower panel: confidence always (every dump stores it), PCK when labelled
    data = [dict(type="scatter", x=x, y=video.stats[:, PHASES.index(p), channel, e].tolist(),
                 name=name, line=dict(color=c), hovertemplate="%{y:.3g}", xaxis="x", yaxis="y")
            for p, name, c in ENERGY_TRACES]  # fmt: skip
    confidence = np.asarray(video.array("confidence"), float).mean(1)
    data.append(dict(type="scatter", x=x, y=confidence.round(4).tolist(), mode="lines",
                     name="confidence (mean peak belief)", line=dict(color="#756bb1", dash="dot"),
                     hovertemplate="%{y:.2f}", xaxis="x", yaxis="y2"))  # fmt: skip
    if pck is not None:
        data.append(dict(type="scatter", x=x, y=np.asarray(pck, float).tolist(),
                         mode="lines+markers", name=f"PCK@{alpha:g}", line=dict(color="#31a354"),
                         hovertemplate="%{y:.2f}", xaxis="x", yaxis="y2"))  # fmt: skip
    shapes = []

    def band(x0, x1, color, opacity, name=None):
        shapes.append(dict(type="rect", xref="x", yref="paper", x0=x0, x1=x1, y0=0, y1=1,
                           fillcolor=color, opacity=opacity, line=dict(width=0), layer="below",
                           name=name))  # fmt: skip

    occ = video.flags.get("occluded")
    if occ is not None:
        for f in np.nonzero(occ.any(1))[0]:
            band(f - 0.5, f + 0.5, "#999", 0.25)
    cue = video.flags.get("cue_visible")
    if cue is not None and cue.any():
        band(-0.5, int(np.nonzero(cue)[0].max()) + 0.5, "#d62728", 0.12)
    band(max(0, t - window + 1) - 0.5, t + 0.5, "#ffd54f", 0.45, "figure-5-window")
    shapes.append(dict(type="line", xref="x", yref="paper", x0=t, x1=t, y0=0, y1=1,
                       line=dict(color="black", dash="dot", width=1.5)))  # fmt: skip
    shapes.append(dict(type="line", xref="paper", yref="y2", x0=0, x1=1, y0=GUESS_THRESHOLD,
                       y1=GUESS_THRESHOLD, line=dict(color="#756bb1", dash="dash", width=1),
                       name="guessing-threshold"))  # fmt: skip
    spikes = dict(showspikes=True, spikemode="across", spikesnap="cursor", spikethickness=1,
                  spikedash="solid", spikecolor="#444")  # fmt: skip
    layout = dict(
        xaxis=dict(range=[-0.5, F - 0.5], anchor="y2" if two else "y", title=dict(text="frame t"),
                   **spikes),
        yaxis=dict(domain=[0.42, 1] if two else [0, 1], rangemode="tozero",
                   title=dict(text="energy Σ value²")),
        margin=dict(l=60, r=10, t=70, b=40), hovermode="x unified", clickmode="event",
        title=dict(text=f"channel {channel}: memory energy per frame; yellow: Figure 5's frames "
                   "t−2 … t, grey: occluded, red: cue shown", x=0, xanchor="left", xref="paper",
                   y=0.98, font=dict(size=12)),
        legend=dict(orientation="h", x=0, y=1.02, yanchor="bottom"), shapes=shapes,
        plot_bgcolor="white", hoversubplots="axis",
    )  # fmt: skip
    if two:
        layout["yaxis2"] = dict(domain=[0, 0.34], range=[0, 1.05], anchor="x",
                                title=dict(text=f"PCK@{alpha:g} · confidence" if pck is not None
                                           else "confidence"))  # fmt: skip
    return {"data": data, "layout": layout}


def importance_heatmap(importance: dict) -> go.Figure:
    """The channel × joint PCK drop of ``lstm-probe ablate --sweep`` on a scale centred on zero
    (red: the ablation hurts, blue: it helps); "no effect" when every entry is zero."""
    z = np.asarray(importance["importance"], np.float64)
    top = float(np.abs(z).max()) if z.size else 0.0
    fig = go.Figure(go.Heatmap(
        z=z, x=list(SKELETON.short), y=[str(c) for c in range(len(z))], colorscale="RdBu_r",
        zmid=0, zmin=-top or -1, zmax=top or 1, colorbar=dict(title="PCK drop (points)"),
        hovertemplate="channel %{y}<br>%{x}: PCK −%{z:.1f} points<extra></extra>",
    ))  # fmt: skip
    if top == 0:
        fig.add_annotation(text="no effect: ablating any single channel changes no joint's PCK",
                           x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                           bgcolor="white", font=dict(size=13), name="no-effect")  # fmt: skip
    fig.update_layout(
        margin=dict(l=40, r=10, t=60, b=30),
        title=dict(text=f"causal importance: PCK drop when a channel of {importance.get('point', 'cell')} "
                   f"is silenced from frame {importance.get('from_frame', 0)}", x=0,
                   xanchor="left", y=0.98, font=dict(size=12)),
    )  # fmt: skip
    return fig
