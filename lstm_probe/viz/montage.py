"""Montages of the paper's figures as RGB arrays, drawn with OpenCV from one dumped video.

Panels are rendered at the frame's native resolution (zoomed for small frames): memory maps are
laid back onto the frame through the stored affine (:mod:`lstm_probe.viz.overlay`), then tiled.
Nothing here reads a model: only a dump (and, for the ablation, the arrays of two re-runs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..probe.analysis import ChannelReport
from ..probe.store import PHASES, DumpVideo
from .draw import display_zoom, draw_pose, label_panel, zoomed_frame
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
    cur, g_now = zoomed_frame(video, t, zoom)
    prev, g_prev = zoomed_frame(video, t - 1, zoom)
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
                label_panel(p, f"ch {c} {name} t={tt}  {col}")
                for p, col in zip(panels, FIG5_COLUMNS)
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
    img, g2f = zoomed_frame(video, t, display_zoom(video.frame_size, 200))
    size = (img.shape[1], img.shape[0])
    maps = video.memory[t, PHASES.index(phase)].astype(np.float32)  # (C, h, w), one read
    tiles = []
    for c in order:
        m = maps[c]
        lim = scale_limits(m, True, style.clip_percentile)
        tile = overlay(img, map_to_frame(m, g2f, size), lim, style.cmap, style.alpha)
        tiles.append(label_panel(tile, f"{c}: {report.labels[c]}"))
    while len(tiles) % columns:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.concatenate(tiles[i : i + columns], 1) for i in range(0, len(tiles), columns)]
    return np.concatenate(rows, 0), order


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
            img, g2f = zoomed_frame(video, tt, zoom)
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
            tiles.append(label_panel(tile, f"{name}  t={tt}"))
        rows.append(np.concatenate(tiles, 1))
    return np.concatenate(rows, 0)
