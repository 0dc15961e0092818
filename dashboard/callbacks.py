"""What each dashboard callback does, as plain functions of ``(catalog, values…)``.

Each function checks every value it is given (:mod:`dashboard.validate`: whatever the browser
sent) and returns the values or figures of its outputs. Invalid values raise
:class:`~dashboard.validate.InvalidInput`; "nothing to show yet" (no video chosen) raises
``PreventUpdate``; an empty channel selection shows an explicit empty state. No Dash context is
read here. Arguments come in the order of the callback's inputs, then its states.
"""

from __future__ import annotations

from urllib.parse import urlencode

import dash
import numpy as np
from dash.exceptions import PreventUpdate

from lstm_probe.metrics.pck import frame_pck
from lstm_probe.probe.store import PHASES
from lstm_probe.skeleton import SKELETON
from lstm_probe.utils import LstmProbeError
from lstm_probe.viz import export as E
from lstm_probe.viz import grids as F
from lstm_probe.viz import plots

from . import validate as V
from .catalog import RERUN_THREADS, CachedVideo, DumpCatalog

PCK_ALPHA = 0.2
FIG4_COLUMNS = 8
NO_CHANNEL = "no channel selected: choose channels on the left, or click a tile of Figure 4"


def figure_nbytes(fig: dict) -> int:
    """About the bytes a figure dict holds: its images, typed arrays and numbers."""
    n = 4096
    for tr in fig["data"]:
        n += len(tr.get("source") or "") + sum(
            len(tr[k]["bdata"]) for k in ("x", "y", "z") if isinstance(tr.get(k), dict)
        )
        n += 8 * sum(len(tr[k]) for k in ("x", "y") if isinstance(tr.get(k), list))
    return n


def _video(cat: DumpCatalog, vid, d) -> tuple[int, str, CachedVideo]:
    d = V.dump_index(d, len(cat.dumps))
    if vid is None:
        raise PreventUpdate
    vid = V.video_id(vid, cat.dumps[d].video_ids)
    return d, vid, cat.video(d, vid)


def _channels_or_empty(channels, v) -> list[int]:
    """[] for a cleared selection (the caller shows an empty state), else checked channels;
    None (the page has not chosen yet) shows nothing new."""
    if channels is None:
        raise PreventUpdate
    if channels == []:
        return []
    return V.channels(channels, v.channels)


def _style(alpha, cmap) -> F.Style:
    return F.Style(cmap=V.cmap(cmap), alpha=V.alpha(alpha))


def videos(cat: DumpCatalog, d) -> tuple[list[str], str | None]:
    """Dump chosen -> the video options and the first video."""
    vids = cat.dumps[V.dump_index(d, len(cat.dumps))].video_ids
    return vids, (vids[0] if vids else None)


def video_changed(cat: DumpCatalog, vid, d, t, channels):
    """Video chosen -> frame slider max and value, channel options (sorted by the analysis) and
    selection, the channel × joint figure. The frame and the channels chosen before are kept
    where the new video has them; else frame 3 and the top channel."""
    d, vid, v = _video(cat, vid, d)
    rep = cat.analysis(d, vid)
    opts = [{"label": f"{c}: {rep.labels[c]}", "value": int(c)} for c in rep.order]
    t, kept = V.kept_frame(t), [c for c in V.kept_channels(channels) if c < v.channels]
    t = t if t is not None and t < v.num_frames else min(3, v.num_frames - 1)
    return v.num_frames - 1, t, opts, kept or [int(rep.order[0])], plots.channel_joint_figure(rep)


def channel_page(cat: DumpCatalog, channels, d) -> str:
    """The first selected channel -> the address of its atlas page (built for the dump the
    first time one is opened: :func:`lstm_probe.viz.atlas.build_atlas`)."""
    d = V.dump_index(d, len(cat.dumps))
    empty = channels is None or channels == []  # no selection; anything else is checked
    chans = [] if empty else V.channels(channels, cat.dumps[d].manifest["channels"])
    return f"/atlas/{d}/channel_{chans[0]}.html" if chans else f"/atlas/{d}/index.html"


def importance(cat: DumpCatalog, d):
    """Dump chosen -> the causal importance matrix and its style (hidden without one)."""
    imp = cat.importance(V.dump_index(d, len(cat.dumps)))
    if imp is None:
        return dash.no_update, {"display": "none"}
    return plots.importance_heatmap(imp), {"height": "700px", "flex": "1"}


def figure5(cat: DumpCatalog, t, channels, alpha, cmap, scale, vid, d):
    """-> Figure 5 (a figure grid), or an explicit empty state without a channel."""
    d, vid, v = _video(cat, vid, d)
    t, chans = V.frame(t, v.num_frames), _channels_or_empty(channels, v)
    style, scale = _style(alpha, cmap), V.scale(scale)
    if not chans:
        return plots.empty_figure(NO_CHANNEL)
    labels = cat.analysis(d, vid).labels
    fig = cat.cache.get(("figure5", d, vid, t, tuple(chans), style, scale),
                        lambda: plots.grid_figure(F.figure5_spec(v, t, chans, style, scale, labels)),
                        figure_nbytes)  # fmt: skip
    return fig


def window_note(cat: DumpCatalog, t, vid, d) -> str:
    """-> why Figure 5 has fewer rows at frames 0–1 ("" from t = 2)."""
    d, vid, v = _video(cat, vid, d)
    return F.window_note(V.frame(t, v.num_frames))


def figure4(cat: DumpCatalog, t, alpha, cmap, mode, phase, scale4, vid, d):
    d, vid, v = _video(cat, vid, d)
    t, style = V.frame(t, v.num_frames), _style(alpha, cmap)
    mode, phase, scale4 = V.fig4_mode(mode), V.phase(phase), V.fig4_scale(scale4)
    rep = cat.analysis(d, vid)
    return cat.cache.get(
        ("figure4", d, vid, t, style, mode, phase, scale4),
        lambda: plots.grid_figure(
            F.figure4_spec(v, t, rep, mode, phase, scale4, style, FIG4_COLUMNS)
        ),
        figure_nbytes,
    )


def fig4_channels(cat: DumpCatalog, d: int, vid: str, mode: str) -> list[int]:
    """The channels of Figure 4's tiles, in the order of the grid (row by row)."""
    rep = cat.analysis(d, vid)
    if mode == "curated":
        return [c for _, chans in F.curated_channels(rep) for c in chans]
    return [int(c) for c in rep.order]


def pick_channel(cat: DumpCatalog, click, vid, d, mode) -> list[int]:
    """A click on a Figure 4 tile -> that tile's channel as the selection. Each tile is two
    traces (its image, then its hover layer), so the clicked trace names the tile."""
    d, vid, _ = _video(cat, vid, d)
    chans = fig4_channels(cat, d, vid, V.fig4_mode(mode))
    k = V.curve_number(click, 3 * len(chans) + 1) // 2
    if k >= len(chans):
        raise PreventUpdate  # a colour bar, not a tile
    return [chans[k]]


def _pck(v) -> np.ndarray | None:
    if v.keypoints_gt is None:
        return None
    return frame_pck(v.keypoints, v.keypoints_gt, v.visible, v.bbox, PCK_ALPHA)


def timeline(cat: DumpCatalog, t, channels, vid, d):
    """-> the first selected channel's energy over time above the per-frame PCK (one x axis)."""
    d, vid, v = _video(cat, vid, d)
    t, chans = V.frame(t, v.num_frames), _channels_or_empty(channels, v)
    if not chans:
        return plots.empty_figure(NO_CHANNEL)
    return cat.cache.get(("timeline", d, vid, t, chans[0]),
                         lambda: plots.timeline_figure(v, chans[0], t, _pck(v), PCK_ALPHA,
                                                       F.FIG5_WINDOW), figure_nbytes)  # fmt: skip


def jump(cat: DumpCatalog, click, vid, d) -> int:
    """A click on the time axis -> that frame."""
    d, vid, v = _video(cat, vid, d)
    x, _ = V.click_point(click)
    if not -0.5 <= x < v.num_frames - 0.5:
        raise V.InvalidInput(f"clicked x must lie in [-0.5, {v.num_frames - 0.5})")
    return int(np.clip(round(x), 0, v.num_frames - 1))


def ablation_summary(v, t: int, channel: int, base: dict, ablated: dict) -> dict:
    """ΔPCK (ablated − unchanged, frames ≥ t, percentage points; None without labels) and each
    joint's mean displacement of the prediction (frame pixels, frames ≥ t)."""
    disp = np.linalg.norm(ablated["keypoints"][t:] - base["keypoints"][t:], axis=-1).mean(0)
    dpck = None
    if v.keypoints_gt is not None:
        sl = slice(t, None)
        args = (v.keypoints_gt[sl], v.visible[sl] if v.visible is not None else None,
                v.bbox[sl] if v.bbox is not None else None, PCK_ALPHA)  # fmt: skip
        dpck = 100 * float(frame_pck(ablated["keypoints"][sl], *args).mean()
                           - frame_pck(base["keypoints"][sl], *args).mean())  # fmt: skip
    return {"delta_pck": dpck, "displacement": disp, "channel": channel, "from": t}


def _summary_text(s: dict) -> str:
    top = np.argsort(s["displacement"])[::-1][:3]
    joints = ", ".join(f"{SKELETON.short[j]} {s['displacement'][j]:.1f} px" for j in top)
    dp = ("ΔPCK@0.2 n/a (no labels)" if s["delta_pck"] is None
          else f"ΔPCK@0.2 {s['delta_pck']:+.1f} points")  # fmt: skip
    size = "no meaningful effect" if s["displacement"].max() < 0.5 else f"largest moves: {joints}"
    return f"ch {s['channel']} silenced from t = {s['from']}: {dp}; {size}"


def ablate(cat: DumpCatalog, t, channels, alpha, cmap, vid, d):
    """The first selected channel of C_t zeroed from frame t on -> (the ablation view, the
    ΔPCK and per-joint displacement) or (no update, why the re-run is impossible). The
    unchanged run is computed once per video (cached); the ablated one starts from its state
    after frame t − 1."""
    from lstm_probe.engine.rerun import run_with_states
    from lstm_probe.probe.recorder import Intervention

    d, vid, v = _video(cat, vid, d)
    t, chans, style = V.frame(t, v.num_frames), _channels_or_empty(channels, v), _style(alpha, cmap)
    if not chans:
        return plots.empty_figure(NO_CHANNEL), "choose a channel to ablate"
    c = chans[0]
    try:
        base = cat.baseline(d, vid)
    except LstmProbeError as e:
        return dash.no_update, f"cannot re-run this dump: {e}"
    ablated = run_with_states(cat.model(d), v._v, [Intervention("cell", [c], "zero", frames=(t, None))],
                              t, base, threads=RERUN_THREADS)  # fmt: skip
    spec = F.ablation_spec(v, t, c, base, ablated, style)
    return plots.grid_figure(spec), _summary_text(ablation_summary(v, t, c, base, ablated))


def export_query(d, vid, t, chans, alpha, cmap, scale, mode, phase, scale4, fmt, width) -> str:
    return urlencode({"d": d, "video": vid, "t": t, "ch": ",".join(map(str, chans)),
                      "alpha": f"{alpha:g}", "cmap": cmap, "scale": scale, "mode": mode,
                      "phase": phase, "scale4": scale4, "fmt": fmt, "width": width})  # fmt: skip


def export_links(cat: DumpCatalog, t, channels, alpha, cmap, scale, mode, phase, scale4, fmt,
                 width, vid, d):  # fmt: skip
    """-> the two export links (the server renders on each click, so quick successive clicks are
    all answered) for exactly the selection shown, and a message."""
    d, vid, v = _video(cat, vid, d)
    t, chans = V.frame(t, v.num_frames), _channels_or_empty(channels, v)
    alpha, cmap, scale = V.alpha(alpha), V.cmap(cmap), V.scale(scale)
    mode, phase, scale4 = V.fig4_mode(mode), V.phase(phase), V.fig4_scale(scale4)
    fmt, width = V.export_format(fmt), V.export_width(width)
    q = export_query(d, vid, t, chans, alpha, cmap, scale, mode, phase, scale4, fmt, width)
    f5 = f"/export/figure5?{q}" if chans else None
    return f5, f"/export/figure4?{q}", "" if chans else "choose a channel to export Figure 5"


def export_file(cat: DumpCatalog, which, args) -> tuple[bytes, str, str]:
    """An export link's request -> (file bytes, file name, MIME type); every value checked."""
    which = V.choice(which, V.EXPORT_FIGURES, "figure")
    q = V.query(args)
    d, vid, v = _video(cat, q["video"], q["d"])
    t = V.frame(q["t"], v.num_frames)
    style, scale = _style(q["alpha"], q["cmap"]), V.scale(q["scale"])
    mode, phase, scale4 = V.fig4_mode(q["mode"]), V.phase(q["phase"]), V.fig4_scale(q["scale4"])
    fmt, width = V.export_format(q["fmt"]), V.export_width(q["width"])
    chans = V.channels(q["ch"], v.channels) if which == "figure5" else []
    spec = E.figure_spec(v, cat.analysis(d, vid), which, t, chans, style, scale, mode, phase,
                         scale4)  # fmt: skip
    return E.render(spec, fmt, width), E.file_name(which, vid, t, fmt), E.MIME[fmt]


assert set(V.PHASE_NAMES) == set(PHASES)
