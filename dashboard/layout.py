"""The component tree of the dashboard page (no callbacks here)."""

from __future__ import annotations

from dash import dcc, html

from . import ids
from .catalog import DumpCatalog
from .validate import CMAPS, EXPORT_FORMATS, SCALES


def layout(cat: DumpCatalog) -> html.Div:
    errors = [html.Div(e, className="error") for e in cat.errors]
    if not cat.dumps:
        return html.Div([html.H2("lstm-probe"), html.P("No dump could be opened."), *errors])
    scale_labels = {"channel": "scale per channel", "global": "one global scale"}
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
                    html.Label("opacity"),
                    dcc.Slider(id=ids.ALPHA, min=0.1, max=1.0, step=0.1, value=0.7),
                    html.Label("colormap"),
                    dcc.Dropdown(id=ids.CMAP, options=list(CMAPS), value=CMAPS[0], clearable=False),
                    dcc.RadioItems(
                        id=ids.SCALE,
                        options=[{"label": scale_labels[s], "value": s} for s in SCALES],
                        value=SCALES[0],
                    ),
                    html.Label("export"),
                    dcc.RadioItems(
                        id=ids.EXPORT_FORMAT,
                        options=list(EXPORT_FORMATS),
                        value=EXPORT_FORMATS[0],
                        inline=True,
                    ),
                    html.Button("export Figure 5", id=ids.EXPORT5),
                    html.Button("export Figure 4", id=ids.EXPORT4),
                    html.Div(id=ids.EXPORT_MSG, className="error-inline"),
                    dcc.Download(id=ids.DOWNLOAD),
                ],
                className="controls",
            ),
            html.Div(
                [
                    html.Label("frame t"),
                    dcc.Slider(id=ids.FRAME, min=1, max=1, step=1, value=1, updatemode="mouseup"),
                    html.H4("Figure 5: phases of the memory (three consecutive frames)"),
                    dcc.Graph(id=ids.FIG5, config={"displayModeBar": False}),
                    html.Div(
                        [
                            dcc.Graph(id=ids.ENERGY, style={"height": "300px"}),
                            dcc.Graph(id=ids.PCK, style={"height": "200px"}),
                        ]
                    ),
                    html.H4("Ablation: the selected channel of C_t silenced from frame t on"),
                    html.Button("ablate the selected channel from frame t", id=ids.ABLATE),
                    html.Div(id=ids.ABLATE_MSG, className="error-inline"),
                    dcc.Loading(dcc.Graph(id=ids.ABLATION, config={"displayModeBar": False})),
                    html.H4("Figure 4: memory channels on frame t (click one to open it above)"),
                    dcc.Graph(id=ids.FIG4, config={"displayModeBar": False}),
                    html.Div(
                        [
                            dcc.Graph(id=ids.JOINTMAP, style={"height": "900px", "flex": "1"}),
                            dcc.Graph(id=ids.IMPORTANCE, style={"height": "900px", "flex": "1"}),
                        ],
                        style={"display": "flex"},
                    ),
                ],
                className="views",
            ),
        ]
    )
