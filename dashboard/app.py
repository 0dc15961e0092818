"""The lstm-probe dashboard: browse dumps, reproduce Figures 4–5, follow the memory over time.

``create_app(dump_paths)`` builds the app; nothing is read at import time. The page only ever
names dumps by their position in the list given on the command line, so it serves nothing else.
Callbacks are thin: read a slice of the dump, call :mod:`lstm_probe.viz.figures`, return.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path

import dash
import numpy as np
from dash import Input, Output, State, dcc, html

from lstm_probe.probe.analysis import analyse_channels
from lstm_probe.probe.store import Dump, open_dump
from lstm_probe.utils import LstmProbeError
from lstm_probe.viz import figures as F

from . import ids


class DumpCatalog:
    """The dumps given on the command line; the ones that fail to open are kept as errors."""

    def __init__(self, paths: list[str | Path]):
        self.dumps: list[Dump] = []
        self.names: list[str] = []
        self.errors: list[str] = []
        for p in paths:
            try:
                self.dumps.append(open_dump(p))
                self.names.append(str(p))
            except LstmProbeError as e:
                self.errors.append(str(e))
        self._analysis = lru_cache(maxsize=64)(self._analyse)
        self._models: dict[int, object] = {}

    def importance(self, d: int) -> dict | None:
        """``DUMP/importance.json`` written by ``lstm-probe ablate --sweep``, if present."""
        import json

        path = self.dumps[d].path / "importance.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def model(self, d: int):
        if d not in self._models:
            from lstm_probe.engine.rerun import load_dump_model

            self._models[d] = load_dump_model(self.dumps[d])
        return self._models[d]

    def video(self, d: int, vid: str):
        return self.dumps[d].video(vid)

    def _analyse(self, d: int, vid: str):
        return analyse_channels([self.video(d, vid)])

    def analysis(self, d: int, vid: str):
        return self._analysis(d, vid)


def _style(alpha, cmap, scale) -> F.OverlayStyle:
    return F.OverlayStyle(
        cmap=cmap or "RdBu_r", alpha=float(alpha or 0.7), scale=scale or "channel"
    )


def layout(cat: DumpCatalog) -> html.Div:
    errors = [html.Div(e, className="error") for e in cat.errors]
    if not cat.dumps:
        return html.Div([html.H2("lstm-probe"), html.P("No dump could be opened."), *errors])
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
                    dcc.Dropdown(
                        id=ids.CMAP,
                        options=["RdBu_r", "PuOr_r", "coolwarm", "seismic"],
                        value="RdBu_r",
                        clearable=False,
                    ),
                    dcc.RadioItems(
                        id=ids.SCALE,
                        options=[
                            {"label": "scale per channel", "value": "channel"},
                            {"label": "one global scale", "value": "global"},
                        ],
                        value="channel",
                    ),
                    html.Label("export"),
                    dcc.RadioItems(
                        id=ids.EXPORT_FORMAT, options=["png", "pdf"], value="png", inline=True
                    ),
                    html.Button("export Figure 5", id=ids.EXPORT5),
                    html.Button("export Figure 4", id=ids.EXPORT4),
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


def register_callbacks(app: dash.Dash, cat: DumpCatalog) -> None:
    @app.callback(
        Output(ids.VIDEO, "options"), Output(ids.VIDEO, "value"), Input(ids.DUMP, "value")
    )
    def videos(d):
        vids = cat.dumps[int(d or 0)].video_ids
        return vids, (vids[0] if vids else None)

    @app.callback(
        Output(ids.FRAME, "max"),
        Output(ids.FRAME, "value"),
        Output(ids.CHANNELS, "options"),
        Output(ids.CHANNELS, "value"),
        Output(ids.JOINTMAP, "figure"),
        Input(ids.VIDEO, "value"),
        State(ids.DUMP, "value"),
    )
    def video_changed(vid, d):
        if vid is None:
            raise dash.exceptions.PreventUpdate
        v = cat.video(int(d or 0), vid)
        rep = cat.analysis(int(d or 0), vid)
        opts = [{"label": f"{c}: {rep.labels[c]}", "value": c} for c in rep.order]
        t = min(3, v.num_frames - 1)
        return v.num_frames - 1, t, opts, [int(rep.order[0])], F.channel_joint_figure(rep)

    @app.callback(
        Output(ids.IMPORTANCE, "figure"), Output(ids.IMPORTANCE, "style"), Input(ids.DUMP, "value")
    )
    def importance(d):
        imp = cat.importance(int(d or 0))
        if imp is None:
            return dash.no_update, {"display": "none"}
        return F.importance_figure(imp), {"height": "900px", "flex": "1"}

    @app.callback(
        Output(ids.ABLATION, "figure"),
        Output(ids.ABLATE_MSG, "children"),
        Input(ids.ABLATE, "n_clicks"),
        State(ids.FRAME, "value"),
        State(ids.CHANNELS, "value"),
        State(ids.VIDEO, "value"),
        State(ids.DUMP, "value"),
        prevent_initial_call=True,
    )
    def ablate(n, t, channels, vid, d):
        from lstm_probe.engine.rerun import rerun
        from lstm_probe.probe.recorder import Intervention

        if vid is None or not channels:
            raise dash.exceptions.PreventUpdate
        try:
            model = cat.model(int(d or 0))
        except LstmProbeError as e:
            return dash.no_update, f"cannot re-run this dump: {e}"
        v = cat.video(int(d or 0), vid)
        c, t = int(channels[0]), int(t)
        base = rerun(model, v)
        ablated = rerun(model, v, [Intervention("cell", [c], "zero", frames=(t, None))])
        return F.image_figure(F.ablation_montage(v, t, c, base, ablated)), ""

    @app.callback(
        Output(ids.FIG5, "figure"),
        Input(ids.FRAME, "value"),
        Input(ids.CHANNELS, "value"),
        Input(ids.ALPHA, "value"),
        Input(ids.CMAP, "value"),
        Input(ids.SCALE, "value"),
        State(ids.VIDEO, "value"),
        State(ids.DUMP, "value"),
    )
    def fig5(t, channels, alpha, cmap, scale, vid, d):
        if vid is None or not channels:
            raise dash.exceptions.PreventUpdate
        v = cat.video(int(d or 0), vid)
        rep = cat.analysis(int(d or 0), vid)
        labels = dict(enumerate(rep.labels))
        img = F.figure5_montage(
            v, int(t), list(channels), _style(alpha, cmap, scale), labels=labels
        )
        return F.image_figure(img)

    @app.callback(
        Output(ids.FIG4, "figure"),
        Input(ids.FRAME, "value"),
        Input(ids.ALPHA, "value"),
        Input(ids.CMAP, "value"),
        State(ids.VIDEO, "value"),
        State(ids.DUMP, "value"),
    )
    def fig4(t, alpha, cmap, vid, d):
        if vid is None:
            raise dash.exceptions.PreventUpdate
        v = cat.video(int(d or 0), vid)
        img, _ = F.figure4_montage(
            v, int(t), cat.analysis(int(d or 0), vid), style=_style(alpha, cmap, None)
        )
        return F.image_figure(img)

    @app.callback(
        Output(ids.CHANNELS, "value", allow_duplicate=True),
        Input(ids.FIG4, "clickData"),
        State(ids.VIDEO, "value"),
        State(ids.DUMP, "value"),
        prevent_initial_call=True,
    )
    def pick_channel(click, vid, d):
        if not click or vid is None:
            raise dash.exceptions.PreventUpdate
        v = cat.video(int(d or 0), vid)
        rep = cat.analysis(int(d or 0), vid)
        p = click["points"][0]
        zoom = F.display_zoom(v.frame_size, 200)  # tiles are drawn zoomed (figure4_montage)
        W, H = v.frame_size[0] * zoom, v.frame_size[1] * zoom
        k = int(p["y"] // H) * 8 + int(p["x"] // W)
        order = list(rep.order)
        if k >= len(order):
            raise dash.exceptions.PreventUpdate
        return [int(order[k])]

    @app.callback(
        Output(ids.ENERGY, "figure"),
        Output(ids.PCK, "figure"),
        Input(ids.FRAME, "value"),
        Input(ids.CHANNELS, "value"),
        State(ids.VIDEO, "value"),
        State(ids.DUMP, "value"),
    )
    def timeline(t, channels, vid, d):
        if vid is None or not channels:
            raise dash.exceptions.PreventUpdate
        v = cat.video(int(d or 0), vid)
        pck = F.frame_pck(v)
        pfig = dash.no_update
        if pck is not None:
            import plotly.graph_objects as go

            pfig = go.Figure(go.Scatter(y=pck, mode="lines+markers", name="PCK@0.2"))
            pfig.add_vline(x=int(t), line_dash="dot")
            pfig.update_layout(margin=dict(l=0, r=0, t=30, b=0), title="per-frame PCK@0.2",
                               yaxis=dict(range=[0, 1.05]))  # fmt: skip
        return F.energy_figure(v, int(channels[0]), int(t)), pfig

    @app.callback(
        Output(ids.FRAME, "value", allow_duplicate=True),
        Input(ids.ENERGY, "clickData"),
        State(ids.FRAME, "max"),
        prevent_initial_call=True,
    )
    def jump(click, tmax):
        if not click:
            raise dash.exceptions.PreventUpdate
        return int(np.clip(round(click["points"][0]["x"]), 1, tmax))

    @app.callback(
        Output(ids.DOWNLOAD, "data"),
        Input(ids.EXPORT5, "n_clicks"),
        Input(ids.EXPORT4, "n_clicks"),
        State(ids.FRAME, "value"),
        State(ids.CHANNELS, "value"),
        State(ids.ALPHA, "value"),
        State(ids.CMAP, "value"),
        State(ids.SCALE, "value"),
        State(ids.VIDEO, "value"),
        State(ids.DUMP, "value"),
        State(ids.EXPORT_FORMAT, "value"),
        prevent_initial_call=True,
    )
    def export(n5, n4, t, channels, alpha, cmap, scale, vid, d, fmt="png"):
        import tempfile

        v = cat.video(int(d or 0), vid)
        style = _style(alpha, cmap, scale)
        if dash.ctx.triggered_id == ids.EXPORT5:
            img = F.figure5_montage(v, int(t), list(channels or [0]), style)
            name = f"figure5_{v.video_id}_t{t}.png"
        else:
            img, _ = F.figure4_montage(v, int(t), cat.analysis(int(d or 0), vid), style=style)
            name = f"figure4_{v.video_id}_t{t}.png"
        name = name.replace("/", "_").replace(".png", f".{fmt or 'png'}")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            F.save_image(img, path)  # the same writer as `lstm-probe figures`
            return dcc.send_bytes(path.read_bytes(), name)


def create_app(dump_paths: list[str | Path]) -> dash.Dash:
    cat = DumpCatalog(dump_paths)
    for e in cat.errors:
        print(f"lstm-probe dashboard: {e}", file=sys.stderr)
    app = dash.Dash(
        __name__,
        title="lstm-probe",
        update_title=None,
        assets_folder=str(Path(__file__).parent / "assets"),
    )
    app.layout = layout(cat)
    if cat.dumps:
        register_callbacks(app, cat)
    app.catalog = cat  # for tests and the CLI
    return app
