"""The component tree of the dashboard page (no callbacks here)."""

from __future__ import annotations

from dash import dcc, html

from lstm_probe.viz.grids import NOTATION
from lstm_probe.viz.plots import empty_figure

from . import ids
from .catalog import DumpCatalog
from .validate import CMAPS, EXPORT_FORMATS, EXPORT_WIDTHS, FIG4_MODES, PHASE_NAMES, SCALES

GRAPH = {"displayModeBar": "hover", "displaylogo": False}


def _graph(id_: str, **kw) -> dcc.Loading:
    """A graph with a busy indicator while its callback runs."""
    return dcc.Loading(dcc.Graph(id=id_, config=GRAPH, **kw), type="dot", delay_show=300)


def _phase_label(p: str) -> str:
    return NOTATION[p][0].replace("<sub>", "_").replace("</sub>", "")


def layout(cat: DumpCatalog) -> html.Div:
    errors = [html.Div(e, className="error") for e in cat.errors]
    if not cat.dumps:
        return html.Div([html.H2("lstm-probe"), html.P("No dump could be opened."), *errors])
    scale_labels = {"channel": "one scale per channel row", "global": "one global scale"}
    width_labels = {"double": "double column (7 in)", "single": "single column (3.3 in)"}
    return html.Div(
        [
            html.H2("lstm-probe — LSTM memory of video pose models"),
            *errors,
            html.Div(
                [
                    html.Label("dump"),
                    dcc.Dropdown(
                        id=ids.DUMP,
                        options=[{"label": n, "value": i} for i, n in enumerate(cat.names)],
                        value=0,
                        clearable=False,
                    ),
                    html.Label("video"),
                    dcc.Dropdown(id=ids.VIDEO, clearable=False),
                    html.Label("memory channels (Figure 5 rows)"),
                    dcc.Dropdown(id=ids.CHANNELS, multi=True),
                    html.A(
                        "the first channel's page in the atlas ↗",
                        id=ids.CHANNEL_PAGE,
                        target="_blank",
                        href="",
                    ),
                    html.Label("opacity"),
                    dcc.Slider(id=ids.ALPHA, min=0.1, max=1.0, step=0.1, value=0.7),
                    html.Label("colormap"),
                    dcc.Dropdown(id=ids.CMAP, options=list(CMAPS), value=CMAPS[0], clearable=False),
                    html.Label("Figure 5 colour scale"),
                    dcc.RadioItems(
                        id=ids.SCALE,
                        options=[{"label": scale_labels[s], "value": s} for s in SCALES],
                        value=SCALES[0],
                    ),
                    html.Label("export (PDF/SVG: vector, embedded fonts)"),
                    dcc.RadioItems(
                        id=ids.EXPORT_FORMAT,
                        options=list(EXPORT_FORMATS),
                        value=EXPORT_FORMATS[0],
                        inline=True,
                    ),
                    dcc.RadioItems(
                        id=ids.EXPORT_WIDTH,
                        options=[{"label": width_labels[w], "value": w} for w in EXPORT_WIDTHS],
                        value=EXPORT_WIDTHS[0],
                    ),
                    html.A(
                        "export Figure 5", id=ids.EXPORT5, className="button export", download=""
                    ),
                    html.A(
                        "export Figure 4", id=ids.EXPORT4, className="button export", download=""
                    ),
                    html.Div(id=ids.EXPORT_MSG, className="error-inline"),
                ],
                className="controls",
            ),
            html.Div(
                [
                    html.Label("frame t"),
                    dcc.Slider(
                        id=ids.FRAME, min=0, max=1, step=1, value=None, updatemode="mouseup"
                    ),
                    html.H4("Figure 5: the phases of the memory over three consecutive frames"),
                    html.Div(id=ids.FIG5_NOTE, className="note"),
                    _graph(ids.FIG5),
                    _graph(ids.TIMELINE, style={"height": "380px"}),
                    html.H4("Ablation: the first selected channel of C_t silenced from frame t on"),
                    html.Button("ablate the selected channel from frame t", id=ids.ABLATE),
                    dcc.Loading(html.Div(id=ids.ABLATE_MSG, className="result"), type="dot"),
                    _graph(
                        ids.ABLATION,
                        figure=empty_figure(
                            "press “ablate” to re-run the video with the first selected channel of "
                            "C_t silenced from frame t on"
                        ),
                    ),
                    html.H4("Figure 4: memory channels on frame t (click a tile to open it above)"),
                    html.Div(
                        [
                            dcc.RadioItems(
                                id=ids.FIG4_MODE,
                                options=[
                                    {"label": "curated (a few per category)", "value": "curated"},
                                    {"label": "all channels", "value": "all"},
                                ],
                                value=FIG4_MODES[0],
                                inline=True,
                            ),
                            dcc.Dropdown(
                                id=ids.FIG4_PHASE,
                                clearable=False,
                                value=PHASE_NAMES[0],
                                options=[
                                    {"label": _phase_label(p), "value": p} for p in PHASE_NAMES
                                ],
                                style={"width": "160px"},
                            ),
                            dcc.RadioItems(
                                id=ids.FIG4_SCALE,
                                options=[
                                    {"label": "scale per tile", "value": "tile"},
                                    {"label": "common scale", "value": "common"},
                                ],
                                value="tile",
                                inline=True,
                            ),
                        ],
                        className="row-controls",
                    ),
                    _graph(ids.FIG4),
                    html.Div(
                        [
                            dcc.Graph(
                                id=ids.JOINTMAP,
                                config=GRAPH,
                                style={"height": "700px", "flex": "1"},
                            ),
                            dcc.Graph(
                                id=ids.IMPORTANCE,
                                config=GRAPH,
                                style={"height": "700px", "flex": "1"},
                            ),
                        ],
                        style={"display": "flex", "flexWrap": "wrap"},
                    ),
                ],
                className="views",
            ),
        ]
    )
