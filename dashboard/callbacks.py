"""What each dashboard callback does, as plain functions of ``(catalog, values…)``.

Each function checks every value it is given (:mod:`dashboard.validate`: whatever the browser
sent) and returns the values or figures of its outputs. Invalid values raise
:class:`~dashboard.validate.InvalidInput`; "nothing to show yet" (no video chosen, no channel
selected) raises ``PreventUpdate``. No Dash context is read here: :func:`dashboard.app.register`
passes what it needs (e.g. which export button was pressed). Arguments come in the order of the
callback's inputs, then its states.
"""

from __future__ import annotations

import dash
import numpy as np
from dash import dcc
from dash.exceptions import PreventUpdate

from lstm_probe.metrics.pck import frame_pck
from lstm_probe.probe.store import DumpVideo, safe_video_id
from lstm_probe.utils import LstmProbeError
from lstm_probe.viz import montage, plots
from lstm_probe.viz.draw import display_zoom
from lstm_probe.viz.export import encode_image

from . import ids
from . import validate as V
from .catalog import DumpCatalog

FIG4_COLUMNS = 8
FIG4_TARGET = 200  # px: Figure 4 tiles are zoomed to at least this width (figure4_montage)
PCK_ALPHA = 0.2


def _video(cat: DumpCatalog, vid, d) -> tuple[int, str, DumpVideo]:
    d = V.dump_index(d, len(cat.dumps))
    if vid is None:
        raise PreventUpdate
    vid = V.video_id(vid, cat.dumps[d].video_ids)
    return d, vid, cat.video(d, vid)


def _channels(channels, v: DumpVideo) -> list[int]:
    if channels is None or channels == []:
        raise PreventUpdate  # the selection was cleared
    return V.channels(channels, v.channels)


def _style(alpha, cmap, scale="channel") -> montage.OverlayStyle:
    return montage.OverlayStyle(cmap=V.cmap(cmap), alpha=V.alpha(alpha), scale=V.scale(scale))


def videos(cat: DumpCatalog, d) -> tuple[list[str], str | None]:
    """Dump chosen -> the video options and the first video."""
    vids = cat.dumps[V.dump_index(d, len(cat.dumps))].video_ids
    return vids, (vids[0] if vids else None)


def video_changed(cat: DumpCatalog, vid, d):
    """Video chosen -> frame slider max and value, channel options (sorted by the analysis) and
    selection (the top channel), the channel × joint figure."""
    d, vid, v = _video(cat, vid, d)
    rep = cat.analysis(d, vid)
    opts = [{"label": f"{c}: {rep.labels[c]}", "value": int(c)} for c in rep.order]
    t = min(3, v.num_frames - 1)
    return v.num_frames - 1, t, opts, [int(rep.order[0])], plots.channel_joint_figure(rep)


def importance(cat: DumpCatalog, d):
    """Dump chosen -> the causal importance matrix and its style (hidden without one)."""
    imp = cat.importance(V.dump_index(d, len(cat.dumps)))
    if imp is None:
        return dash.no_update, {"display": "none"}
    return plots.importance_figure(imp), {"height": "900px", "flex": "1"}


def figure5(cat: DumpCatalog, t, channels, alpha, cmap, scale, vid, d):
    d, vid, v = _video(cat, vid, d)
    t, chans = V.frame(t, v.num_frames), _channels(channels, v)
    labels = dict(enumerate(cat.analysis(d, vid).labels))
    img = montage.figure5_montage(v, t, chans, _style(alpha, cmap, scale), labels=labels)
    return plots.image_figure(img)


def figure4(cat: DumpCatalog, t, alpha, cmap, vid, d):
    d, vid, v = _video(cat, vid, d)
    t, style = V.frame(t, v.num_frames), _style(alpha, cmap)
    img, _ = montage.figure4_montage(v, t, cat.analysis(d, vid), columns=FIG4_COLUMNS, style=style)
    return plots.image_figure(img)


def pick_channel(cat: DumpCatalog, click, vid, d) -> list[int]:
    """A click on the Figure 4 grid -> the clicked tile's channel as the selection."""
    d, vid, v = _video(cat, vid, d)
    zoom = display_zoom(v.frame_size, FIG4_TARGET)
    tile_w, tile_h = v.frame_size[0] * zoom, v.frame_size[1] * zoom
    rows = -(-v.channels // FIG4_COLUMNS)
    x, y = V.click_point(click, tile_w * FIG4_COLUMNS, tile_h * rows)
    k = int(y // tile_h) * FIG4_COLUMNS + int(x // tile_w)
    order = list(cat.analysis(d, vid).order)
    if k >= len(order):
        raise PreventUpdate  # an empty tile of the last row
    return [int(order[k])]


def timeline(cat: DumpCatalog, t, channels, vid, d):
    """-> the first selected channel's energy over time, and the per-frame PCK (unchanged for a
    video without labels)."""
    d, vid, v = _video(cat, vid, d)
    t, chans = V.frame(t, v.num_frames), _channels(channels, v)
    pfig = dash.no_update
    if v.keypoints_gt is not None:
        pck = frame_pck(v.keypoints, v.keypoints_gt, v.visible, v.bbox, PCK_ALPHA)
        pfig = plots.pck_figure(pck, t, PCK_ALPHA)
    return plots.energy_figure(v, chans[0], t), pfig


def jump(cat: DumpCatalog, click, vid, d) -> int:
    """A click on the energy plot -> that frame (≥ 1: Figure 5 needs a previous frame)."""
    d, vid, v = _video(cat, vid, d)
    x, _ = V.click_point(click, width=v.num_frames)
    return int(np.clip(round(x), 1, max(1, v.num_frames - 1)))


def ablate(cat: DumpCatalog, t, channels, vid, d):
    """Re-run the video twice, unchanged and with the first selected channel of C_t zeroed from
    frame t on -> (the two-row montage, "") or (no update, why the re-run is impossible)."""
    from lstm_probe.engine.rerun import rerun
    from lstm_probe.probe.recorder import Intervention

    d, vid, v = _video(cat, vid, d)
    t, c = V.frame(t, v.num_frames), _channels(channels, v)[0]
    try:
        model = cat.model(d)
    except LstmProbeError as e:
        return dash.no_update, f"cannot re-run this dump: {e}"
    base = rerun(model, v)
    ablated = rerun(model, v, [Intervention("cell", [c], "zero", frames=(t, None))])
    return plots.image_figure(montage.ablation_montage(v, t, c, base, ablated)), ""


def export(cat: DumpCatalog, button, t, channels, alpha, cmap, scale, vid, d, fmt):
    """The figure of the pressed export ``button`` (ids.EXPORT5 or ids.EXPORT4) -> (a download,
    ""): encoded in memory, never written to disk, named only from checked values."""
    button, fmt = V.export_button(button), V.export_format(fmt)
    d, vid, v = _video(cat, vid, d)
    t, style = V.frame(t, v.num_frames), _style(alpha, cmap, scale)
    if button == ids.EXPORT5:
        img = montage.figure5_montage(v, t, _channels(channels, v), style)
        name = "figure5"
    else:
        img, _ = montage.figure4_montage(v, t, cat.analysis(d, vid), style=style)
        name = "figure4"
    data = dcc.send_bytes(encode_image(img, fmt), f"{name}_{safe_video_id(vid)}_t{t}.{fmt}")
    return data, ""
