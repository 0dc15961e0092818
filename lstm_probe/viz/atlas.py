"""``lstm-probe atlas``: a static HTML atlas of a dump's memory channels (opens from disk).

    OUT/index.html            every channel: label, score, p, stability, energy, horizon and
                              ablation importance; click a column header to sort
    OUT/channel_<c>.html      one channel: its dataset-level label, its top-k activating moments
                              across the dump (frame crops with C_t overlaid, each linked to the
                              whole frame and naming video and frame), its joint profile (lift
                              with 95 % bootstrap intervals), its dynamics (mean |C_t|, |f⊙C_{t−1}|
                              and |i⊙g| over the frame index), and its ablation effect per joint
                              when ``DUMP/importance.json`` (``lstm-probe ablate --sweep``) exists
    OUT/img/                  the PNG crops and frames

Everything is streamed: labels by :func:`~lstm_probe.probe.semantics.channel_semantics`, the
top-k moments by one heap per channel over the dump's per-frame statistics (the peak |C_t| of
each channel and frame; one frame per video), the dynamics by running sums; only the top-k frames are decoded.
"""

from __future__ import annotations

import heapq
import html
import json
import os
from pathlib import Path

import cv2
import numpy as np

from ..probe.claims import channel_horizons, claims_and_channels
from ..probe.semantics import CATEGORIES, ChannelSemantics, SemanticsOptions, channel_semantics
from ..probe.store import PHASES, STATS, Dump, open_dump
from ..skeleton import SKELETON
from ..utils import InputError
from .overlay import map_to_frame, overlay

MAX_T = 512  # frame indices the dynamics curves cover
_CSS = """body{font-family:sans-serif;margin:1.5em;max-width:72em}table{border-collapse:collapse}
td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}th{cursor:pointer;
background:#f4f4f4}td.l,th.l{text-align:left}.moments{display:flex;flex-wrap:wrap;gap:8px}
figure{margin:0;font-size:80%}.unstable{color:#999}"""
_SORT_JS = """function sortBy(th){const t=th.closest('table'),i=[...th.parentNode.children]
.indexOf(th),rows=[...t.tBodies[0].rows],asc=th.dataset.asc!=='1';th.dataset.asc=asc?'1':'0';
rows.sort((a,b)=>{const x=a.cells[i].dataset.v??a.cells[i].textContent,y=b.cells[i].dataset.v??
b.cells[i].textContent,nx=parseFloat(x),ny=parseFloat(y);const c=isNaN(nx)||isNaN(ny)?
x.localeCompare(y):nx-ny;return asc?c:-c});rows.forEach(r=>t.tBodies[0].appendChild(r))}"""


def load_importance(dump: Dump) -> dict | None:
    """``DUMP/importance.json`` (a channel sweep) or None; a malformed one is an InputError."""
    path = dump.path / "importance.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        imp = np.asarray(data["importance"], dtype=float)
    except (ValueError, KeyError, TypeError) as e:
        raise InputError(path, f"not an importance sweep ({type(e).__name__}: {e})") from None
    if imp.shape != (dump.manifest["channels"], len(dump.joint_names)):
        raise InputError(path, f"importance is {imp.shape}, the dump has channels × joints "
                         f"{dump.manifest['channels']} × {len(dump.joint_names)}")  # fmt: skip
    return {**data, "importance": imp}


def top_moments(
    dump: Dump, k: int, per_video: int = 1
) -> tuple[list[list[tuple]], np.ndarray, np.ndarray]:
    """Per channel the k frames of the whole dump with the largest peak |C_t|, at most
    ``per_video`` from one video (neighbouring frames of one video look alike), by a heap per
    channel, ties broken by video id and frame -> (moments [(video, frame, peak)], dynamics
    sums (T, 3, C), counts (T,))."""
    C = dump.manifest["channels"]
    heaps: list[list] = [[] for _ in range(C)]
    curves, counts = np.zeros((MAX_T, 3, C)), np.zeros(MAX_T)
    phases = [PHASES.index(p) for p in ("cell", "forget_term", "input_term")]
    lo, hi, am = STATS.index("min"), STATS.index("max"), STATS.index("abs_mean")
    for vid in sorted(dump.video_ids):
        v = dump.video(vid)
        st = v.stats  # (F, 4, C, 7): small
        cell = st[:, PHASES.index("cell")]
        peak = np.maximum(np.abs(cell[:, :, lo]), cell[:, :, hi])
        T = min(v.num_frames, MAX_T)
        curves[:T] += st[:T][:, phases][..., am]
        counts[:T] += 1
        for c in range(C):
            for t in np.argsort(-peak[:, c], kind="stable")[: min(k, per_video)]:
                item = (float(peak[t, c]), _neg(vid), -int(t), vid, int(t))
                if len(heaps[c]) < k:
                    heapq.heappush(heaps[c], item)
                elif item > heaps[c][0]:
                    heapq.heapreplace(heaps[c], item)
        v.close()
        dump._open.pop(vid, None)
    moments = [[(h[3], h[4], h[0]) for h in sorted(hs, reverse=True)] for hs in heaps]
    return moments, curves, counts


def _neg(s: str) -> tuple:
    """A key that orders strings backwards (so the earlier video wins a tie in a min-heap)."""
    return tuple(-b for b in s.encode())


def _crop_png(dump: Dump, vid: str, t: int, c: int, img_dir: Path) -> tuple[str, str]:
    v = dump.video(vid)
    frame = v.frame_image(t)
    m = v.memory[t, PHASES.index("cell"), c].astype(np.float32)
    g2f = v.grid_to_frame[t]
    big = map_to_frame(m, g2f, v.frame_size)
    top = float(np.nanmax(np.abs(big))) if np.isfinite(big).any() else 1.0
    rgb = overlay(frame, big, (-top or -1.0, top or 1.0))
    y, x = np.unravel_index(np.argmax(np.abs(m)), m.shape)
    fx, fy = g2f @ np.array([x, y, 1.0])
    W, H = v.frame_size
    half = max(16, int(0.25 * max(W, H)))
    x0, y0 = (
        int(np.clip(fx - half, 0, max(W - 2 * half, 0))),
        int(np.clip(fy - half, 0, max(H - 2 * half, 0))),
    )
    crop = cv2.resize(rgb[y0 : y0 + 2 * half, x0 : x0 + 2 * half], (160, 160))
    stem = f"c{c}_{_safe(vid)}_{t}"
    cv2.imwrite(str(img_dir / f"{stem}_crop.png"), crop[:, :, ::-1])
    cv2.imwrite(str(img_dir / f"{stem}_frame.png"), rgb[:, :, ::-1])
    return f"img/{stem}_crop.png", f"img/{stem}_frame.png"


def _safe(s: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in s)


def _svg_profile(lift: np.ndarray, ci: np.ndarray, names) -> str:
    """Lift per joint with its 95 % interval, as an inline SVG bar chart."""
    J, W, H, pad = len(lift), 560, 220, 30
    top = float(np.nanmax(np.r_[ci[:, 1], lift, 1.0])) * 1.05
    bw = (W - pad) / J
    y = lambda v: H - pad - (H - 2 * pad) * (v / top)  # noqa: E731
    parts = [f'<svg width="{W}" height="{H}" role="img" aria-label="joint profile">']
    parts.append(f'<line x1="{pad}" x2="{W}" y1="{y(1):.1f}" y2="{y(1):.1f}" stroke="#999" '
                 'stroke-dasharray="4"/>')  # fmt: skip
    for j in range(J):
        x = pad + j * bw
        parts.append(
            f'<rect x="{x + 2:.1f}" y="{y(lift[j]):.1f}" width="{bw - 4:.1f}" '
            f'height="{max(y(0) - y(lift[j]), 0):.1f}" fill="#3182bd"><title>'
            f"{names[j]}: {lift[j]:.2f} [{ci[j, 0]:.2f}, {ci[j, 1]:.2f}]</title></rect>"
        )
        parts.append(
            f'<line x1="{x + bw / 2:.1f}" x2="{x + bw / 2:.1f}" y1="{y(ci[j, 0]):.1f}" '
            f'y2="{y(ci[j, 1]):.1f}" stroke="#000"/>'
        )
        parts.append(f'<text x="{x + bw / 2:.1f}" y="{H - 10}" font-size="10" '
                     f'text-anchor="middle">{SKELETON.short[j]}</text>')  # fmt: skip
    parts.append(f'<text x="2" y="12" font-size="10">lift (max {top:.1f}); dashed: 1</text></svg>')
    return "".join(parts)


def _svg_curves(curves: np.ndarray, labels) -> str:
    """(T, k) curves over the frame index, as an inline SVG line chart."""
    W, H, pad = 560, 200, 30
    T = len(curves)
    top = float(np.nanmax(curves)) or 1.0
    colors = ("#000", "#e6550d", "#3182bd")
    parts = [f'<svg width="{W}" height="{H}" role="img" aria-label="dynamics">']
    for k, (lab, col) in enumerate(zip(labels, colors)):
        pts = " ".join(
            f"{pad + (W - pad) * t / max(T - 1, 1):.1f},{H - pad - (H - 2 * pad) * v / top:.1f}"
            for t, v in enumerate(curves[:, k])
        )
        parts.append(f'<polyline fill="none" stroke="{col}" points="{pts}"/>')
        parts.append(f'<text x="{pad + 120 * k}" y="12" font-size="11" fill="{col}">{lab}</text>')
    parts.append(f'<text x="{pad}" y="{H - 8}" font-size="10">frame 0 … {T - 1}; '
                 f'max {top:.3g}</text></svg>')  # fmt: skip
    return "".join(parts)


def _page(title: str, body: str) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><style>{_CSS}</style><script>{_SORT_JS}</script></head><body>{body}"
            "</body></html>")  # fmt: skip


def build_atlas(
    dump: Dump | str | os.PathLike,
    out: str | os.PathLike,
    top_k: int = 8,
    workers: int | None = None,
    options: SemanticsOptions | None = None,
) -> str:
    """Write the atlas into ``out`` -> a one-line summary."""
    if top_k < 1:
        raise InputError(None, f"--top-k must be ≥ 1, not {top_k}")
    dump = dump if isinstance(dump, Dump) else open_dump(dump)
    out = Path(out)
    (out / "img").mkdir(parents=True, exist_ok=True)
    sem = channel_semantics(dump, options, workers)
    importance = load_importance(dump)
    horizon = channel_horizons(dump)
    per_channel = claims_and_channels(dump, workers, bootstrap=200)[1]
    moments, curves, counts = top_moments(dump, top_k)
    T = int((counts > 0).sum())
    mean_curves = curves[:T] / counts[:T, None, None]
    for c in range(dump.manifest["channels"]):
        page = _channel_page(dump, sem, c, moments[c], mean_curves[:, :, c], importance,
                             horizon[c], per_channel, out / "img")  # fmt: skip
        (out / f"channel_{c}.html").write_text(page, encoding="utf-8")
        dump.close()  # at most top_k videos open at a time
    index = _index(dump, sem, importance, horizon, per_channel)
    (out / "index.html").write_text(index, encoding="utf-8")
    counts = {k: sum(c.category == k for c in sem.channels) for k in CATEGORIES}
    return (
        f"atlas of {len(sem.channels)} channels from {sem.videos} videos written to "
        f"{out / 'index.html'}\ncategories: "
        + ", ".join(f"{k} {v}" for k, v in counts.items() if v)
        + f"\nsignificant, stable part labels: {sem.share_part_labels():.0%} of channels"
    )


def _fmt(x: float, spec: str = ".3g") -> str:
    return "–" if x is None or not np.isfinite(x) else format(x, spec)


def _index(dump, sem: ChannelSemantics, importance, horizon, per_channel) -> str:
    imp = importance["importance"] if importance is not None else None
    head = ["channel", "label", "category", "score", "q", "stability", "energy", "horizon",
            "ρ retention–speed", "kept in occlusion", "importance"]  # fmt: skip
    rows = []
    for c in sem.channels:
        iv = float(np.nanmean(imp[c.channel])) if imp is not None else float("nan")
        cls = "" if c.stable else " class='unstable'"
        cells = [
            f"<td data-v='{c.channel}'><a href='channel_{c.channel}.html'>{c.channel}</a></td>",
            f"<td class='l'>{html.escape(c.label)}{'' if c.stable else ' (unstable)'}</td>",
            f"<td class='l'>{c.category}</td>",
            f"<td>{_fmt(c.score)}</td>", f"<td>{_fmt(c.p_value, '.2g')}</td>",
            f"<td>{_fmt(c.stability, '.2f')}</td>", f"<td>{_fmt(c.energy)}</td>",
            f"<td>{_fmt(horizon[c.channel], '.2f')}</td>",
            f"<td>{_fmt(per_channel['rho'][c.channel], '.3f')}</td>",
            f"<td>{_fmt(per_channel['kept'][c.channel], '.2f')}</td>", f"<td>{_fmt(iv)}</td>",
        ]  # fmt: skip
        rows.append(f"<tr{cls}>{''.join(cells)}</tr>")
    ths = "".join(
        f"<th onclick='sortBy(this)'{' class=l' if h in ('label', 'category') else ''}>{h}</th>"
        for h in head
    )
    o = sem.options
    body = (
        f"<h1>Memory channels of {html.escape(str(dump.path.name))}</h1>"
        f"<p>{sem.videos} videos, {sem.frames} frames, model "
        f"{html.escape(str(dump.manifest['model'].get('name')))}. Labels are dataset-level: "
        f"a joint is attached when its Benjamini–Hochberg q &lt; {o.alpha} and its lift "
        f"(score / null at displaced positions) ≥ {o.min_lift}; stable: the same label in ≥ "
        f"{o.stable:.0%} of {o.bootstrap} bootstrap resamples of the videos (grey: unstable). "
        f"Significant, stable part labels: {sem.share_part_labels():.0%} of channels. "
        "Horizon: frames until the forget gates keep 10 % of a write (needs gates). "
        "ρ retention–speed: Spearman ρ of this channel's retention |f⊙C|/(|f⊙C|+|i⊙g|) at "
        "the joints with the joints' speed (the paper predicts ρ &lt; 0; see docs/claims.md). "
        "Kept in occlusion: |C| at a hidden joint during / before the occlusion. "
        "Importance: mean PCK drop when the channel is ablated (DUMP/importance.json). "
        "Click a column header to sort.</p>"
        f"<table id='channels'><thead><tr>{ths}</tr></thead><tbody>{''.join(rows)}</tbody>"
        "</table>"
    )
    return _page("lstm-probe atlas", body)


def _channel_page(dump, sem, c, moments, curves, importance, horizon, per_channel, img_dir):
    lab, pc = sem.channels[c], per_channel
    figs = []
    for vid, t, val in moments:
        crop, frame = _crop_png(dump, vid, t, c, img_dir)
        figs.append(
            f"<figure><a href='{crop.replace('_crop', '_frame')}'><img src='{crop}' width='160' "
            f"height='160' alt='video {html.escape(vid)} frame {t}'></a><figcaption>"
            f"{html.escape(vid)}, frame {t}<br>peak |C| {val:.3g}</figcaption></figure>"
        )
        del frame
    abl = "<p>No ablation sweep: run <code>lstm-probe ablate CKPT --sweep --out " \
          "DUMP/importance.json</code>.</p>"  # fmt: skip
    if importance is not None:
        row = importance["importance"][c]
        abl = ("<table><tr>" + "".join(f"<th>{s}</th>" for s in SKELETON.short) + "</tr><tr>"
               + "".join(f"<td>{_fmt(x, '.3f')}</td>" for x in row) + "</tr></table>"
               "<p>PCK drop per joint when this channel is ablated.</p>")  # fmt: skip
    prev = f"<a href='channel_{c - 1}.html'>← {c - 1}</a> " if c > 0 else ""
    nxt = f"<a href='channel_{c + 1}.html'>{c + 1} →</a>" if c + 1 < len(sem.channels) else ""
    body = (
        f"<p><a href='index.html'>index</a> {prev}{nxt}</p>"
        f"<h1>Channel {c}: {html.escape(lab.label)}</h1>"
        f"<p id='label'>category {lab.category}; score {_fmt(lab.score)} (null {_fmt(lab.null)}); "
        f"q {_fmt(lab.p_value, '.2g')}; stability {lab.stability:.2f} "
        f"({'stable' if lab.stable else 'unstable'}); energy {_fmt(lab.energy)}; "
        f"horizon {_fmt(horizon, '.2f')} frames</p>"
        f"<h2>Top {len(moments)} moments of the dump</h2><div class='moments'>{''.join(figs)}"
        "</div><h2>Joint profile</h2>"
        + _svg_profile(sem.lift[c], sem.lift_ci[c], SKELETON.names)
        + "<h2>Dynamics</h2>"
        + _svg_curves(curves, ("|C_t|", "|f⊙C_{t−1}|", "|i⊙g|"))
        + "<p>Mean over videos of the map-mean |·| of each phase, by frame index. Retention vs "
        f"joint speed: ρ = {_fmt(pc['rho'][c], '.3f')} [{_fmt(pc['rho_ci'][c, 0], '.3f')}, "
        f"{_fmt(pc['rho_ci'][c, 1], '.3f')}]; memory kept at a hidden joint during an "
        f"occlusion: {_fmt(pc['kept'][c], '.2f')} [{_fmt(pc['kept_ci'][c, 0], '.2f')}, "
        f"{_fmt(pc['kept_ci'][c, 1], '.2f')}] of its level before (95 % bootstrap intervals "
        "over videos).</p>" + f"<h2>Ablation</h2>{abl}"
    )
    return _page(f"channel {c}", body)
