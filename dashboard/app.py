"""The lstm-probe dashboard: browse dumps, reproduce Figures 4–5, follow the memory over time.

``create_app(dump_paths)`` builds the app; nothing is read at import time. The page only ever
names dumps by their position in the list given on the command line, so it serves nothing else.
Layers: :mod:`dashboard.layout` (components), :mod:`dashboard.callbacks` (what each callback
does, as plain functions), :mod:`dashboard.validate` (checks of every value sent), and here the
wiring of each Dash callback to its function, plus the Host check.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import dash
from dash import Input, Output, State
from dash.exceptions import PreventUpdate
from flask import Response, abort, request, send_from_directory

from lstm_probe.domain import warn_dumps

from . import callbacks as C
from . import ids
from .catalog import DumpCatalog
from .layout import layout
from .validate import InvalidInput

# the files of a channel atlas the server hands out (nothing else of its folder)
ATLAS_FILE = re.compile(r"index\.html|channel_\d{1,4}\.html|img/[A-Za-z0-9_.-]{1,200}\.png")

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
_HOST = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<name>[A-Za-z0-9.-]+))(?::\d{1,5})?$")


def host_name(header: str | None) -> str | None:
    """The name in an HTTP ``Host`` header, without its port, lower-cased; None if malformed."""
    m = _HOST.match(header or "")
    if m is None:
        return None
    return (m["v6"] or m["name"]).lower()


def _wire(app: dash.Dash, cat: DumpCatalog, fn: Callable, outputs: list, inputs: list,
          skip: int = 0, trigger: bool = False, message: bool = False, **kw) -> None:  # fmt: skip
    """Register ``fn(cat, *values)`` as the Dash callback ``outputs <- inputs``: drop the first
    ``skip`` values (button clicks), pass ``dash.ctx.triggered_id`` first when ``trigger``.
    Invalid input leaves the page as it is, or, with ``message``, shows why in the last output."""

    def callback(*values):
        args = values[skip:]
        if trigger:
            args = (dash.ctx.triggered_id, *args)
        try:
            return fn(cat, *args)
        except InvalidInput as e:
            if not message:
                raise PreventUpdate from None
            return *([dash.no_update] * (len(outputs) - 1)), str(e)

    callback.__name__ = fn.__name__
    app.callback(*outputs, *inputs, **kw)(callback)


def register(app: dash.Dash, cat: DumpCatalog) -> None:
    """Wire every Dash callback of the page to its function in :mod:`dashboard.callbacks`, and
    the export route (``/export/figure5`` and ``/export/figure4``: the links' targets)."""
    dump, video = State(ids.DUMP, "value"), State(ids.VIDEO, "value")
    frame, chans = State(ids.FRAME, "value"), State(ids.CHANNELS, "value")
    look = [Input(ids.ALPHA, "value"), Input(ids.CMAP, "value")]
    fig4 = [Input(ids.FIG4_MODE, "value"), Input(ids.FIG4_PHASE, "value"),
            Input(ids.FIG4_SCALE, "value")]  # fmt: skip
    once = dict(prevent_initial_call=True)
    w = lambda *a, **kw: _wire(app, cat, *a, **kw)  # noqa: E731

    w(C.videos, [Output(ids.VIDEO, "options"), Output(ids.VIDEO, "value")],
      [Input(ids.DUMP, "value")])  # fmt: skip
    w(C.video_changed,
      [Output(ids.FRAME, "max"), Output(ids.FRAME, "value"), Output(ids.CHANNELS, "options"),
       Output(ids.CHANNELS, "value"), Output(ids.JOINTMAP, "figure")],
      [Input(ids.VIDEO, "value"), dump, frame, chans])  # fmt: skip
    w(C.importance, [Output(ids.IMPORTANCE, "figure"), Output(ids.IMPORTANCE, "style")],
      [Input(ids.DUMP, "value")])  # fmt: skip
    w(C.window_note, [Output(ids.FIG5_NOTE, "children")], [Input(ids.FRAME, "value"), video, dump])
    w(C.figure5, [Output(ids.FIG5, "figure")],
      [Input(ids.FRAME, "value"), Input(ids.CHANNELS, "value"), *look,
       Input(ids.SCALE, "value"), video, dump])  # fmt: skip
    w(
        C.figure4,
        [Output(ids.FIG4, "figure")],
        [Input(ids.FRAME, "value"), *look, *fig4, video, dump],
    )
    w(C.pick_channel, [Output(ids.CHANNELS, "value", allow_duplicate=True)],
      [Input(ids.FIG4, "clickData"), video, dump, State(ids.FIG4_MODE, "value")], **once)  # fmt: skip
    w(C.timeline, [Output(ids.TIMELINE, "figure")],
      [Input(ids.FRAME, "value"), Input(ids.CHANNELS, "value"), video, dump])  # fmt: skip
    w(C.jump, [Output(ids.FRAME, "value", allow_duplicate=True)],
      [Input(ids.TIMELINE, "clickData"), video, dump], **once)  # fmt: skip
    w(C.ablate, [Output(ids.ABLATION, "figure"), Output(ids.ABLATE_MSG, "children")],
      [Input(ids.ABLATE, "n_clicks"), frame, chans, State(ids.ALPHA, "value"),
       State(ids.CMAP, "value"), video, dump], skip=1, message=True, **once)  # fmt: skip
    w(C.export_links,
      [Output(ids.EXPORT5, "href"), Output(ids.EXPORT4, "href"), Output(ids.EXPORT_MSG, "children")],
      [Input(ids.FRAME, "value"), Input(ids.CHANNELS, "value"), *look, Input(ids.SCALE, "value"),
       *fig4, Input(ids.EXPORT_FORMAT, "value"), Input(ids.EXPORT_WIDTH, "value"),
       Input(ids.VIDEO, "value"), dump], message=True)  # fmt: skip

    w(C.channel_page, [Output(ids.CHANNEL_PAGE, "href")], [Input(ids.CHANNELS, "value"), dump])

    @app.server.route("/atlas/<int:d>/<path:name>")
    def _atlas(d, name):
        if not 0 <= d < len(cat.dumps) or not ATLAS_FILE.fullmatch(name):
            abort(404)
        return send_from_directory(cat.atlas_dir(d), name, max_age=0)

    @app.server.route("/export/<which>")
    def _export(which):
        try:
            data, name, mime = C.export_file(cat, which, request.args)
        except (InvalidInput, PreventUpdate) as e:
            return Response(str(e) or "nothing to export", 400, mimetype="text/plain")
        return Response(data, mimetype=mime, headers={
            "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})  # fmt: skip


def create_app(
    dump_paths: list[str | Path],
    allowed_hosts: Iterable[str] | None = None,
    bind_host: str | None = None,
) -> dash.Dash:
    """The dashboard over ``dump_paths`` (those that fail to open are listed on the page).

    Every request whose ``Host`` header (its name, without the port) is not in ``allowed_hosts``
    gets 403, so a web page that rebinds its own DNS name to this machine cannot drive the
    server from a browser. The default is the loopback names (127.0.0.1, localhost, ::1) plus
    ``bind_host`` when that is a concrete address. ``allowed_hosts``, when given, replaces the
    default: list every name the browser will use (e.g. ``["mybox.lan", "127.0.0.1"]``).

    The server has no authentication. Bound to 127.0.0.1 (the default of ``lstm-probe
    dashboard``) only this machine reaches it; ``--host 0.0.0.0`` listens on every network
    interface, and anyone who can reach the port and names an allowed host can see every frame,
    pose and memory map of the dumps given, export figures and make the server re-run the dumps'
    checkpoints (CPU time). The Host check is not access control: expose the port only on a
    trusted network, or through an SSH tunnel to 127.0.0.1.
    """
    cat = DumpCatalog(dump_paths)
    for e in cat.errors:
        print(f"lstm-probe dashboard: {e}", file=sys.stderr)
    warn_dumps([d.manifest for d in cat.dumps])  # a synthetic-only model on real footage
    if allowed_hosts is None:
        allowed = set(LOOPBACK_HOSTS)
        if bind_host and bind_host not in ("0.0.0.0", "::", ""):
            allowed.add(host_name(bind_host) or bind_host.lower())
    else:
        allowed = {h.lower().strip("[]") for h in allowed_hosts}
    app = dash.Dash(
        __name__,
        title="lstm-probe",
        update_title=None,
        assets_folder=str(Path(__file__).parent / "assets"),
    )

    @app.server.before_request
    def _check_host():
        if host_name(request.headers.get("Host")) not in allowed:
            abort(403)

    app.layout = layout(cat)
    if cat.dumps:
        register(app, cat)
    app.catalog = cat  # for tests and the CLI
    app.allowed_hosts = frozenset(allowed)
    return app
