"""Figures 4 and 5 (and the ablation view) as figure *specifications*: a grid of panels, each a
frame with a memory map laid on it (its values kept for hover), headers in the paper's notation,
row labels and colour scales. One specification is drawn two ways, so the screen and the page show
the same thing: :func:`lstm_probe.viz.plots.grid_figure` (Plotly, the dashboard and notebooks) and
:func:`lstm_probe.viz.export.render` (matplotlib: vector PDF/SVG, PNG).

Nothing here reads a model: only a dump video (and, for the ablation, the arrays of two re-runs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..probe.analysis import ChannelReport
from ..probe.store import PHASES, DumpVideo
from ..skeleton import SKELETON
from .draw import draw_pose
from .overlay import map_to_frame, overlay, scale_limits

# Paper notation of each memory phase: (HTML for Plotly, mathtext for matplotlib).
NOTATION = {
    "prev_cell": ("C<sub>t−1</sub>", r"$C_{t-1}$"),
    "forget_term": ("f<sub>t</sub>⊙C<sub>t−1</sub>", r"$f_t \odot C_{t-1}$"),
    "input_term": ("i<sub>t</sub>⊙g<sub>t</sub>", r"$i_t \odot g_t$"),
    "cell": ("C<sub>t</sub>", r"$C_t$"),
}
X_NOW = ("X<sub>t</sub>", r"$X_t$")
X_PREV = ("X<sub>t−1</sub>", r"$X_{t-1}$")
FIG5_WINDOW = 3  # Figure 5 shows the frames t−2, t−1, t
FIG4_SCALES = ("tile", "common")
FIG4_MODES = ("curated", "all")
CURATED_PER_CATEGORY = 4
CATEGORIES = ("single joint", "limb", "trunk / edge")
PRED_COLOR, GT_COLOR = (255, 255, 255), (255, 215, 0)


@dataclass(frozen=True)
class Style:
    """How maps are coloured: colormap, opacity, percentile clip of the symmetric scale."""

    cmap: str = "RdBu_r"
    alpha: float = 0.7
    clip_percentile: float | None = 99.0


@dataclass
class Text:
    """One label in both notations: ``html`` (Plotly) and ``tex`` (matplotlib mathtext)."""

    html: str
    tex: str

    @classmethod
    def plain(cls, s: str) -> Text:
        return cls(s, s.replace("_", r"\_").replace("$", r"\$"))


@dataclass
class Panel:
    image: np.ndarray | None  # RGB uint8 (H, W, 3): the frame with the map laid on it
    header: Text
    frame: int
    phase: str | None = None  # a memory phase name, "difference", or None (pose, empty)
    values: np.ndarray | None = None  # (h, w) grid map: hover and the colour scale's data
    grid_x: np.ndarray | None = None  # (w,) frame-pixel x of each grid column
    grid_y: np.ndarray | None = None  # (h,) frame-pixel y of each grid row
    scale: int | None = None  # index into FigureSpec.scales
    note: str = ""  # shown instead of an image (e.g. "no C_{t−1} at t = 0")
    pose: bool = False


@dataclass
class Scale:
    lo: float
    hi: float
    label: Text
    cells: list[tuple[int, int]]  # (row, col) of the panels it colours: the colour bar sits beside


@dataclass
class FigureSpec:
    name: str  # "figure5", "figure4", "ablation"
    title: Text
    panels: list[list[Panel | None]]
    row_labels: list[Text]
    scales: list[Scale]
    cmap: str
    frame_size: tuple[int, int]  # W, H of every panel
    value_name: str = "memory"
    legend: list[tuple[str, tuple[int, int, int], bool]] = field(default_factory=list)
    note: str = ""

    @property
    def rows(self) -> int:
        return len(self.panels)

    @property
    def cols(self) -> int:
        return max((len(r) for r in self.panels), default=0)

    def headers(self) -> list[str]:
        return [p.header.tex for row in self.panels for p in row if p is not None]


def _grid_axes(g2f: np.ndarray, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame-pixel x of grid columns and y of grid rows (the crop is axis-aligned)."""
    a = np.asarray(g2f, np.float64)
    xs = a[0, 0] * np.arange(w) + a[0, 2] + a[0, 1] * (h - 1) / 2
    ys = a[1, 1] * np.arange(h) + a[1, 2] + a[1, 0] * (w - 1) / 2
    return xs.astype(np.float32), ys.astype(np.float32)


def _map_panel(video: DumpVideo, img, t_grid: int, m, limits, style: Style, header: Text, frame,
               phase, scale) -> Panel:  # fmt: skip
    g2f = video.grid_to_frame[t_grid]
    size = (img.shape[1], img.shape[0])
    gx, gy = _grid_axes(g2f, *m.shape)
    shown = overlay(img, map_to_frame(m, g2f, size), limits, style.cmap, style.alpha)
    return Panel(shown, header, frame, phase, np.asarray(m, np.float32), gx, gy, scale)


def pose_image(video: DumpVideo, t: int, keypoints=None, img=None) -> np.ndarray:
    """Frame t with the predicted pose (or ``keypoints``) and the ground truth, occluded joints
    hollow."""
    img = video.frame_image(t) if img is None else img
    out = img
    if video.keypoints_gt is not None:
        occ = video.flags.get("occluded")
        out = draw_pose(out, video.keypoints_gt[t], GT_COLOR, 1, None if occ is None else occ[t])
    kp = video.keypoints[t] if keypoints is None else keypoints
    return draw_pose(out, kp, None, 2)


def pose_legend(video: DumpVideo) -> list[tuple[str, tuple[int, int, int], bool]]:
    items = [("prediction (limb colours)", PRED_COLOR, True)]
    if video.keypoints_gt is not None:
        items.append(("ground truth", GT_COLOR, True))
        if "occluded" in video.flags:
            items.append(("occluded joint (hollow)", GT_COLOR, False))
    return items


def figure5_frames(t: int, num_frames: int) -> list[int]:
    """The frames of Figure 5's rows for frame t: t−2 … t (fewer at t < 2)."""
    t = int(np.clip(t, 0, num_frames - 1))
    return list(range(max(0, t - FIG5_WINDOW + 1), t + 1))


def window_note(t: int) -> str:
    """Why Figure 5 has fewer rows or empty panels at the start of a video ("" from t = 2)."""
    if t >= FIG5_WINDOW - 1:
        return ""
    return (f"Figure 5 shows three consecutive frames t−2 … t, so its full window starts at "
            f"t = {FIG5_WINDOW - 1}; at t = {t} only frame{'s 0–1' if t else ' 0'} exist. Frame 0 "
            "has no C_{t−1}: the memory starts there (C_0 = i⊙g, no forget term), so panels "
            "a–c of its row are empty.")  # fmt: skip


def figure5_spec(
    video: DumpVideo,
    t: int,
    channels: Sequence[int],
    style: Style = Style(),
    scale: str = "channel",
    labels: Sequence[str] | None = None,
) -> FigureSpec:
    """Figure 5: per channel, the frames t−2 … t in rows; columns a) C_{t−1} on X_{t−1},
    b) C_{t−1}, c) f⊙C_{t−1}, d) i⊙g, e) C_t on X_t, f) the pose. One colour scale per channel
    (shared by its phases and frames, so c + d = e can be read off), or one for all (``global``)."""
    ts = figure5_frames(t, video.num_frames)
    imgs = {tt: video.frame_image(tt) for tt in {*ts, *(x - 1 for x in ts if x > 0)}}
    maps = {(c, tt): video.frame_phases(tt, c) for c in channels for tt in ts}
    lim_of = {}
    if scale == "global":
        lim = scale_limits(np.stack(list(maps.values())), True, style.clip_percentile)
        lim_of = {c: lim for c in channels}
    else:
        for c in channels:
            lim_of[c] = scale_limits(np.stack([maps[c, tt] for tt in ts]), True,
                                     style.clip_percentile)  # fmt: skip
    heads = [
        Text(f"a) {NOTATION['prev_cell'][0]} on {X_PREV[0]}", f"a) {NOTATION['prev_cell'][1]}\non {X_PREV[1]}"),
        *[Text(f"{k}) {NOTATION[p][0]} on {X_NOW[0]}", f"{k}) {NOTATION[p][1]}\non {X_NOW[1]}")
          for k, p in zip("bcde", ("prev_cell", "forget_term", "input_term", "cell"))],
        Text(f"f) pose on {X_NOW[0]}", f"f) pose\non {X_NOW[1]}"),
    ]  # fmt: skip
    rows, row_labels, scales = [], [], []
    for c in channels:
        first_row = len(rows)
        sc = None if scale == "global" and scales else len(scales)
        for tt in ts:
            ph = maps[c, tt]
            row: list[Panel | None] = []
            for k, (phase, on_prev) in enumerate((("prev_cell", True), ("prev_cell", False),
                                                  ("forget_term", False), ("input_term", False),
                                                  ("cell", False))):  # fmt: skip
                m = ph[PHASES.index(phase)]
                if tt == 0 and phase in ("prev_cell", "forget_term"):
                    row.append(Panel(None, heads[k], tt, phase, note="no C_{t−1} at t = 0"))
                    continue
                src = tt - 1 if on_prev else tt
                row.append(_map_panel(video, imgs[src], src, m, lim_of[c], style, heads[k], tt,
                                      phase, sc if sc is not None else 0))  # fmt: skip
            row.append(Panel(pose_image(video, tt, img=imgs[tt]), heads[5], tt, pose=True))
            rows.append(row)
            name = labels[c].replace("_", " ") if labels is not None else ""
            row_labels.append(Text.plain(f"ch {c}" + (f"\n{name}" if name else "") + f"\nt = {tt}"))
        cells = [(r, k) for r in range(first_row, len(rows)) for k in range(5)]
        if scale == "global" and scales:
            scales[0].cells += cells
        else:
            lo, hi = lim_of[c]
            what = "all channels" if scale == "global" else f"ch {c}"
            scales.append(Scale(lo, hi, Text.plain(f"memory, {what}"), cells))
    return FigureSpec("figure5", Text.plain(f"Figure 5 · frame t = {t}"), rows, row_labels,
                      scales, style.cmap, video.frame_size, legend=pose_legend(video),
                      note=window_note(t))  # fmt: skip


# the dataset-level label's kind (:mod:`lstm_probe.probe.semantics`) -> Figure 4's category;
# global and inactive channels belong to none of the paper's three
SEMANTIC_CATEGORIES = {"joint": CATEGORIES[0], "limb": CATEGORIES[1], "side": CATEGORIES[2],
                       "trunk": CATEGORIES[2], "background": CATEGORIES[2]}  # fmt: skip


def channel_category(report: ChannelReport, c: int, threshold: float = 2.0) -> str | None:
    """Figure 4's category of channel c: "single joint", "limb" or "trunk / edge" (None: a
    global or inactive channel). With the dataset-level labels (``kind:…``, see
    :func:`lstm_probe.probe.semantics.channel_semantics`) the label says it; with one video's
    analysis (a joint name or "global") "limb" means its two best joints are the two ends of a
    skeleton edge, both above ``threshold``."""
    label = report.labels[c]
    if _is_semantic(report):
        return SEMANTIC_CATEGORIES.get(label.partition(":")[0])
    if label != "global":
        return CATEGORIES[0]
    return _per_video_category(report, c, threshold)


def _is_semantic(report: ChannelReport) -> bool:
    return any(":" in lab or lab in ("trunk", "background", "inactive") for lab in report.labels)


def _per_video_category(report: ChannelReport, c: int, threshold: float) -> str:
    s = np.asarray(report.scores[c])
    a, b = (int(j) for j in np.argsort(s)[::-1][:2])
    edge = (a, b) in SKELETON.edges or (b, a) in SKELETON.edges
    return CATEGORIES[1] if edge and s[b] >= threshold else CATEGORIES[2]


def pretty_label(label: str) -> str:
    """``joint:right_elbow`` -> "right elbow", ``limb:right_elbow+right_wrist`` -> "RElb–RWri",
    ``side:left`` -> "left side"; other labels as they are."""
    kind, _, rest = label.partition(":")
    if kind == "joint":
        return rest.replace("_", " ")
    if kind == "limb":
        return "–".join(SKELETON.short[SKELETON.index(n)] for n in rest.split("+"))
    if kind == "side":
        return f"{rest} side"
    return label.replace("_", " ")


def channel_label(report: ChannelReport, c: int) -> str:
    """A tile's name: its joint, its limb (the two joints) or its kind."""
    label = report.labels[c]
    if ":" in label or _is_semantic(report):
        return pretty_label(label)
    cat = channel_category(report, c)
    if cat == CATEGORIES[0]:
        return label.replace("_", " ")
    if cat == CATEGORIES[1]:
        a, b = (int(j) for j in np.argsort(np.asarray(report.scores[c]))[::-1][:2])
        return f"{SKELETON.short[a]}–{SKELETON.short[b]}"
    return "trunk / edge"


def curated_channels(
    report: ChannelReport, per_category: int = CURATED_PER_CATEGORY
) -> list[tuple[str, list[int]]]:
    """A few channels per category, as the paper's Figure 4: the most energetic ones of each
    category of :func:`channel_category` (categories without a channel are left out)."""
    out = []
    for cat in CATEGORIES:
        chans = [int(c) for c in report.order if channel_category(report, int(c)) == cat]
        if chans:
            out.append((cat, chans[:per_category]))
    return out


def figure4_spec(
    video: DumpVideo,
    t: int,
    report: ChannelReport,
    mode: str = "curated",
    phase: str = "cell",
    scale: str = "tile",
    style: Style = Style(),
    columns: int = 8,
) -> FigureSpec:
    """Figure 4: memory channels of one phase on frame t. ``curated``: a row per category
    (single joint, limb, trunk/edge), a few channels each; ``all``: every channel, most energetic
    first, ``columns`` per row. One colour scale per tile, or one common to all (``common``)."""
    img = video.frame_image(t)
    maps = video.memory[t, PHASES.index(phase)].astype(np.float32)  # (C, h, w): one read
    if mode == "curated":
        groups = curated_channels(report)
    else:
        order = [int(c) for c in report.order]
        groups = [("", order[i : i + columns]) for i in range(0, len(order), columns)]
    common = scale_limits(maps[[c for _, g in groups for c in g]], True, style.clip_percentile)
    notation = NOTATION[phase]
    rows, row_labels, scales = [], [], []
    if scale == "common":
        scales.append(Scale(*common, Text.plain(f"memory ({phase}), all tiles"), []))
    for r, (cat, chans) in enumerate(groups):
        row = []
        for k, c in enumerate(chans):
            m = maps[c]
            if scale == "common":
                lim, sc = common, 0
                scales[0].cells.append((r, k))
            else:
                lim, sc = scale_limits(m, True, style.clip_percentile), len(scales)
                scales.append(Scale(*lim, Text.plain(f"ch {c}"), [(r, k)]))
            head = Text.plain(f"ch {c} · {channel_label(report, c)}")
            row.append(_map_panel(video, img, t, m, lim, style, head, t, phase, sc))
        rows.append(row)
        row_labels.append(
            Text.plain(cat or f"channels {r * columns + 1}–{r * columns + len(chans)}")
        )
    title = Text(f"Figure 4 · {notation[0]} on X<sub>t</sub>, t = {t}",
                 f"Figure 4 · {notation[1]} on $X_t$, t = {t}")  # fmt: skip
    return FigureSpec("figure4", title, rows, row_labels, scales, style.cmap, video.frame_size)


def ablation_spec(
    video: DumpVideo,
    t: int,
    channel: int,
    base: dict,
    ablated: dict,
    style: Style = Style(),
    frames: int = 4,
) -> FigureSpec:
    """The ablation view over frames t … t+frames−1 (never past the end, no frame twice): the
    channel's C_t and the pose unchanged, the same with the channel silenced, and the difference
    of the joint beliefs (ablated − unchanged, summed over joints): where the prediction moved."""
    ts = list(range(t, min(video.num_frames, t + frames)))
    mem = np.stack([base["memory"][ts, channel], ablated["memory"][ts, channel]])
    lim = scale_limits(mem, True, style.clip_percentile)
    diff = [(ablated["belief"][tt] - base["belief"][tt]).sum(0) for tt in ts]
    dlim = scale_limits(np.stack(diff), True, None)
    rows, labels = [], []
    for name, run in (("unchanged", base), (f"ch {channel} silenced from t = {t}", ablated)):
        row = []
        for tt in ts:
            img = pose_image(video, tt, run["keypoints"][tt])
            head = Text(f"{NOTATION['cell'][0]}, t = {tt}", f"{NOTATION['cell'][1]}, t = {tt}")
            row.append(_map_panel(video, img, tt, run["memory"][tt, channel], lim, style, head,
                                  tt, "cell", 0))  # fmt: skip
        rows.append(row)
        labels.append(Text.plain(name))
    row = []
    for tt, d in zip(ts, diff):
        head = Text(f"Δ belief, t = {tt}", rf"$\Delta$ belief, t = {tt}")
        row.append(_map_panel(video, video.frame_image(tt), tt, d, dlim, style, head, tt,
                              "difference", 1))  # fmt: skip
    rows.append(row)
    labels.append(Text.plain("ablated − unchanged"))
    scales = [Scale(*lim, Text.plain(f"C_t, ch {channel}"), [(r, k) for r in (0, 1) for k in range(len(ts))]),
              Scale(*dlim, Text.plain("Δ belief"), [(2, k) for k in range(len(ts))])]  # fmt: skip
    return FigureSpec("ablation", Text.plain(f"ablation of ch {channel} from t = {t}"), rows,
                      labels, scales, style.cmap, video.frame_size, legend=pose_legend(video))  # fmt: skip
