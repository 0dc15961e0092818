"""Dataset-level channel semantics: one label per memory channel, from every video of a dump.

**The statistic.** For channel c and joint j, at every frame where the joint's position is known
(ground truth when the dump has it and the joint is annotated, else the prediction), take
``a = |C_t,c|`` at the joint's grid position (bilinear) and ``m = mean |C_t,c|`` over the map.
The channel's *score* at joint j is Σa / Σm over all such joint-frames of all videos: 1 means the
channel is no stronger at the joint than on average over the map. The *null* is the same
statistic at randomly displaced joint positions: per joint-frame, ``draws`` positions at a random
angle and a distance of 0.25–0.5 of the person's size on the grid (at least 2 cells), reflected
into the grid, drawn from a generator seeded by (seed, video id). The *lift* is score / null.

**Significance.** Per video v, d_v = score_v − null_v; a one-sided t-test over videos (videos
are the independent units, frames are not) asks whether the mean of d is above 0. The p-values of
all channels × joints (and the C background tests below) are corrected together with
Benjamini–Hochberg (``scipy.stats.false_discovery_control``). A joint is *attached* to a channel
when its corrected p-value q < ``alpha`` and its lift ≥ ``min_lift``.

**Categories**, decided in this order for each channel:

- ``inactive``: the channel's mean |C_t| over the map is below ``inactive_rel`` × the median
  over channels (or exactly zero).
- Let K be the top joint (highest score) together with every attached joint whose score is at
  least top score / ``margin``; K is empty when the top joint is not attached. (Joints are
  ranked by score, not lift: the null of a joint near a strong one is itself high.)
  - ``joint``: K is one joint.
  - ``limb``: K lies on one chain (right/left arm: shoulder–elbow–wrist, right/left leg:
    hip–knee–ankle; links from ``SKELETON.edges``) and is connected along it: two adjacent
    top joints of one chain are a limb.
  - ``trunk``: K lies in the trunk (neck, shoulders, hips).
  - ``side``: every joint of K is on the person's right (or every one on the left).
  - otherwise K spans the body: ``global``.
- ``background`` (edge/background): K is empty and the channel is stronger off the person than
  on it: the mean |C_t| outside the joints' box (padded by 0.15 of the person's size plus one
  cell) over the mean inside is ≥ ``background_min`` and its per-video log ratio is > 0 by the
  same corrected t-test.
- ``global`` (diffuse): none of the above.

**Stability.** The label is recomputed, with the same rule, on ``bootstrap`` resamples of the
videos (the Poisson bootstrap: each video enters resample b with a Poisson(1) weight, drawn from
a generator seeded by (seed, video id), so no video is held twice and memory stays flat); the
share of resamples giving the same label is its stability, and ``stable`` means ≥ ``stable``.

**Streaming.** Each video is read in blocks of frames and reduced to sufficient statistics of
size (channels × joints); the merge adds them in video-id order whatever order the videos come
in, so the result is bitwise the same for any order. Videos run in a process pool.
"""

from __future__ import annotations

import itertools
import os
import warnings
import zlib
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from scipy import stats as sstats

from ..skeleton import SKELETON
from ..transforms.geometric import apply_points, invert
from ..utils import InputError
from .store import PHASES, STATS, Dump, DumpVideo, open_dump

CATEGORIES = ("joint", "limb", "side", "trunk", "background", "global", "inactive")
_N = SKELETON.index
CHAINS = {
    "right_arm": (_N("right_shoulder"), _N("right_elbow"), _N("right_wrist")),
    "left_arm": (_N("left_shoulder"), _N("left_elbow"), _N("left_wrist")),
    "right_leg": (_N("right_hip"), _N("right_knee"), _N("right_ankle")),
    "left_leg": (_N("left_hip"), _N("left_knee"), _N("left_ankle")),
}
TRUNK = tuple(_N(n) for n in ("neck", "right_shoulder", "left_shoulder", "right_hip", "left_hip"))
_EDGES = {frozenset(e) for e in SKELETON.edges}
for _chain in CHAINS.values():  # the chains follow the skeleton's own links
    assert all(frozenset(p) in _EDGES for p in itertools.pairwise(_chain)), _chain


@dataclass(frozen=True)
class SemanticsOptions:
    alpha: float = 0.05  # false discovery rate over channels × joints
    min_lift: float = 1.5  # smallest lift (score / null) that counts as an attachment
    margin: float = 1.25  # joints within this factor of the top score belong to the label
    inactive_rel: float = 0.05
    background_min: float = 1.5
    bootstrap: int = 200
    stable: float = 0.8
    draws: int = 8  # displaced positions per joint-frame
    seed: int = 0
    block: int = 32  # frames read at a time

    def __post_init__(self):
        checks = {
            "alpha": 0 < self.alpha < 1, "min_lift": self.min_lift >= 1,
            "margin": self.margin >= 1, "inactive_rel": 0 <= self.inactive_rel < 1,
            "background_min": self.background_min >= 1, "bootstrap": self.bootstrap >= 1,
            "stable": 0 < self.stable <= 1, "draws": self.draws >= 1, "block": self.block >= 1,
        }  # fmt: skip
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise InputError(None, f"semantics option {bad[0]}={getattr(self, bad[0])} is invalid")


@dataclass
class ChannelLabel:
    channel: int
    category: str  # one of CATEGORIES
    label: str  # e.g. "joint:right_wrist", "limb:right_elbow+right_wrist", "side:left", "global"
    joints: tuple[str, ...]
    score: float  # mean lift over the label's joints (background: outside/inside ratio)
    null: float  # the null of that score (1 for a lift)
    p_value: float  # corrected: the largest over the label's joints (none: the top joint's)
    stability: float
    stable: bool
    level: float  # mean |C_t| over the map
    energy: float  # mean Σ C_t² per frame (the dump's stats)


@dataclass
class ChannelSemantics:
    channels: list[ChannelLabel]
    score: np.ndarray  # (C, J) Σ|C| at joint / Σ map mean
    null: np.ndarray  # (C, J) the same at displaced positions
    lift: np.ndarray  # (C, J) score / null
    lift_ci: np.ndarray  # (C, J, 2) 95 % bootstrap interval of the lift
    q_value: np.ndarray  # (C, J) corrected p-values
    background_ratio: np.ndarray  # (C,)
    videos: int
    frames: int
    options: SemanticsOptions = field(default_factory=SemanticsOptions)

    @property
    def labels(self) -> list[str]:
        return [c.label for c in self.channels]

    def share_part_labels(self) -> float:
        """Share of channels with a significant, stable joint/limb/side/trunk label."""
        part = [
            c.stable and c.category in ("joint", "limb", "side", "trunk") for c in self.channels
        ]
        return float(np.mean(part)) if part else 0.0

    def to_dict(self) -> dict:
        return {
            "videos": self.videos,
            "frames": self.frames,
            "options": asdict(self.options),
            "joints": list(SKELETON.names),
            "channels": [
                {k: _finite_or_none(v) for k, v in asdict(c).items()} | {"joints": list(c.joints)}
                for c in self.channels
            ],
            "score": self.score.tolist(),
            "null": self.null.tolist(),
            "lift": self.lift.tolist(),
            "lift_ci": self.lift_ci.tolist(),
            "q_value": np.where(np.isfinite(self.q_value), self.q_value, 1.0).tolist(),
            "background_ratio": self.background_ratio.tolist(),
        }

    def as_report(self):
        """The old per-video :class:`~.analysis.ChannelReport` shape (scores = lifts)."""
        from .analysis import ChannelReport

        energy = np.array([c.energy for c in self.channels], np.float32)
        return ChannelReport(self.lift.astype(np.float32), self.labels, energy, np.argsort(-energy))


def _finite_or_none(v):
    """JSON has no NaN: a non-finite float becomes None (null)."""
    return None if isinstance(v, float) and not np.isfinite(v) else v


# ----------------------------------------------------------------------------- per video


def video_positions(video: DumpVideo) -> tuple[np.ndarray, np.ndarray]:
    """(F, J, 2) grid positions and (F, J) validity (annotated ground truth, else predictions)."""
    gt = video.keypoints_gt
    kp = gt if gt is not None else video.keypoints
    g2f = video.grid_to_frame
    pos = np.stack([apply_points(invert(a), k) for a, k in zip(g2f, kp)]).astype(np.float32)
    valid = np.isfinite(pos).all(-1)
    if gt is not None:
        valid &= video.visible >= 0
    return np.nan_to_num(pos), valid


def sample_bilinear(maps: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """maps (F, C, h, w), pos (F, P, 2) grid xy -> (F, C, P), clamped to the grid."""
    F, C, h, w = maps.shape
    x = np.clip(pos[..., 0], 0, w - 1)
    y = np.clip(pos[..., 1], 0, h - 1)
    x0 = np.minimum(np.floor(x).astype(np.intp), w - 2 if w > 1 else 0)
    y0 = np.minimum(np.floor(y).astype(np.intp), h - 2 if h > 1 else 0)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    flat = maps.reshape(F, C, h * w)

    def at(yy, xx):
        return np.take_along_axis(flat, (yy * w + xx)[:, None, :].repeat(C, 1), 2)

    top = at(y0, x0) * (1 - fx) + at(y0, x1) * fx
    bottom = at(y1, x0) * (1 - fx) + at(y1, x1) * fx
    return top * (1 - fy) + bottom * fy


def _reflect(v: np.ndarray, hi: float) -> np.ndarray:
    if hi <= 0:
        return np.zeros_like(v)
    period = 2 * hi
    v = np.mod(v, period)
    return np.where(v > hi, period - v, v)


def person_scale(pos: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(F,) the larger side of the valid joints' box on the grid (0 where none is valid)."""
    big = np.where(valid[..., None], pos, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # frames with no valid joint
        side = np.nanmax(big, 1) - np.nanmin(big, 1)
    return np.nan_to_num(np.max(side, -1))


def displaced_positions(
    pos: np.ndarray, scale: np.ndarray, grid: tuple[int, int], draws: int, rng
) -> np.ndarray:
    """(F, J, 2) -> (F, J, draws, 2): random angle, distance 0.25–0.5 × scale (≥ 2 cells)."""
    F, J = pos.shape[:2]
    angle = rng.uniform(0, 2 * np.pi, (F, J, draws))
    frac = rng.uniform(0.25, 0.5, (F, J, draws))
    r = np.maximum(frac * scale[:, None, None], 2.0)
    h, w = grid
    x = _reflect(pos[..., None, 0] + r * np.cos(angle), w - 1)
    y = _reflect(pos[..., None, 1] + r * np.sin(angle), h - 1)
    return np.stack([x, y], -1).astype(np.float32)


def _video_rng(seed: int, video_id: str, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(video_id.encode()), stream])


def poisson_weights(seed: int, video_id: str, n: int) -> np.ndarray:
    """(1 + n,) bootstrap weights of one video: 1 for the full sample, then Poisson(1) draws."""
    return np.concatenate([[1.0], _video_rng(seed, video_id, 1).poisson(1.0, n).astype(float)])


@dataclass
class VideoSums:
    """Sufficient statistics of one video (see module doc)."""

    video_id: str
    frames: int
    a: np.ndarray  # (C, J) Σ |C| at joints
    n: np.ndarray  # (C, J) Σ |C| at displaced positions
    m: np.ndarray  # (C, J) Σ map mean over the same joint-frames
    inside: np.ndarray  # (C,) Σ over frames of mean |C| inside the person box
    outside: np.ndarray  # (C,)
    box_frames: int
    level: np.ndarray  # (C,) Σ over frames of mean |C| over the map
    energy: np.ndarray  # (C,) Σ over frames of Σ C²


def video_sums(video: DumpVideo, options: SemanticsOptions) -> VideoSums:
    pos, valid = video_positions(video)
    F = video.num_frames
    C, h, w = video.memory.shape[2:]
    scale = person_scale(pos, valid)
    rng = _video_rng(options.seed, video.video_id, 0)
    J = pos.shape[1]
    a, n, m = (np.zeros((C, J)) for _ in range(3))
    inside, outside, level = np.zeros(C), np.zeros(C), np.zeros(C)
    box_frames = 0
    cell = PHASES.index("cell")
    yy, xx = np.mgrid[0:h, 0:w]
    for t0 in range(0, F, options.block):
        t1 = min(F, t0 + options.block)
        mem = np.abs(video.memory[t0:t1, cell].astype(np.float32))  # (Fb, C, h, w)
        p, ok, s = pos[t0:t1], valid[t0:t1], scale[t0:t1]
        okf = ok.astype(np.float64)
        mean = mem.reshape(t1 - t0, C, -1).mean(-1).astype(np.float64)  # (Fb, C)
        level += mean.sum(0)
        at = sample_bilinear(mem, p).astype(np.float64)  # (Fb, C, J)
        disp = displaced_positions(p, s, (h, w), options.draws, rng)
        null = sample_bilinear(mem, disp.reshape(t1 - t0, -1, 2)).reshape(
            t1 - t0, C, J, options.draws
        )
        a += np.einsum("fcj,fj->cj", at, okf)
        n += np.einsum("fcj,fj->cj", null.mean(-1, dtype=np.float64), okf)
        m += np.einsum("fc,fj->cj", mean, okf)
        for k in range(t1 - t0):
            if ok[k].sum() < 2:
                continue
            pad = 0.15 * s[k] + 1.0
            lo, hi = p[k][ok[k]].min(0) - pad, p[k][ok[k]].max(0) + pad
            box = (xx >= lo[0]) & (xx <= hi[0]) & (yy >= lo[1]) & (yy <= hi[1])
            if box.all() or not box.any():
                continue
            inside += mem[k][:, box].mean(-1)
            outside += mem[k][:, ~box].mean(-1)
            box_frames += 1
    energy = video.stats[:, cell, :, STATS.index("energy")].astype(np.float64).sum(0)
    return VideoSums(video.video_id, F, a, n, m, inside, outside, box_frames, level, energy)


def _sums_of_path(args) -> VideoSums:
    path, expect, options = args
    video = DumpVideo(path, expect)
    try:
        return video_sums(video, options)
    finally:
        video.close()


# ----------------------------------------------------------------------------- merge


class _Accumulator:
    """Weighted sums over videos, one row per resample (row 0: the full sample)."""

    def __init__(self, C: int, J: int, B: int, seed: int):
        self.seed, self.B = seed, B
        R = B + 1
        z = lambda *s: np.zeros((R, *s))  # noqa: E731
        self.a, self.n, self.m = z(C, J), z(C, J), z(C, J)
        self.nv, self.d1, self.d2 = z(J), z(C, J), z(C, J)
        self.nb, self.b1, self.b2 = z(), z(C), z(C)
        self.inside, self.outside = z(C), z(C)
        self.level, self.energy, self.frames = z(C), z(C), z()
        self.videos = 0
        self.total_frames = 0

    def add(self, s: VideoSums) -> None:
        w = poisson_weights(self.seed, s.video_id, self.B)
        wc = w[:, None, None]
        self.a += wc * s.a
        self.n += wc * s.n
        self.m += wc * s.m
        has = s.m > 0  # (C, J): the joint had frames in this video
        with np.errstate(all="ignore"):
            d = np.where(has, (s.a - s.n) / np.where(has, s.m, 1.0), 0.0)
        self.nv += w[:, None] * has.any(0)
        self.d1 += wc * d
        self.d2 += wc * d * d
        if s.box_frames:
            with np.errstate(all="ignore"):
                lr = np.log(np.maximum(s.outside, 1e-12) / np.maximum(s.inside, 1e-12))
            self.nb += w
            self.b1 += w[:, None] * lr
            self.b2 += w[:, None] * lr * lr
            self.inside += w[:, None] * s.inside / s.box_frames
            self.outside += w[:, None] * s.outside / s.box_frames
        self.level += w[:, None] * s.level
        self.energy += w[:, None] * s.energy
        self.frames += w * s.frames
        self.videos += 1
        self.total_frames += s.frames


def _one_sided_p(n: np.ndarray, s1: np.ndarray, s2: np.ndarray) -> np.ndarray:
    """p of mean > 0 from weighted sums (frequency weights), t-test with n − 1 df."""
    with np.errstate(all="ignore"):
        mean = s1 / n
        var = (s2 - n * mean * mean) / (n - 1)
        se = np.sqrt(np.maximum(var, 0) / n)
        t = np.where(se > 0, mean / np.where(se > 0, se, 1), np.where(mean > 0, np.inf, -np.inf))
        p = sstats.t.sf(t, np.maximum(n - 1, 1))
    return np.where((n >= 2) & np.isfinite(mean), p, 1.0)


def classify(
    score: np.ndarray, attached: np.ndarray, inactive: bool, background: bool, margin: float
) -> tuple[str, tuple[int, ...]]:
    """One channel: score (J,), attached (J,) bool -> (category, joints of the label)."""
    if inactive:
        return "inactive", ()
    top = int(np.argmax(score))
    if attached[top]:
        k = tuple(
            sorted(j for j in range(len(score)) if attached[j] and score[j] * margin >= score[top])
        )
        if len(k) == 1:
            return "joint", k
        for chain in CHAINS.values():
            if set(k) <= set(chain):
                idx = sorted(chain.index(j) for j in k)
                if idx == list(range(idx[0], idx[0] + len(idx))):
                    return "limb", k
        if set(k) <= set(TRUNK):
            return "trunk", k
        sides = {SKELETON.side(j) for j in k}
        if len(sides) == 1 and sides != {"centre"}:
            return "side", k
        return "global", k
    if background:
        return "background", ()
    return "global", ()


def _label_text(category: str, joints: tuple[int, ...]) -> str:
    names = [SKELETON.names[j] for j in joints]
    if category in ("joint", "limb"):
        return f"{category}:{'+'.join(names)}"
    if category == "side":
        return f"side:{SKELETON.side(joints[0])}"
    return category


def _labels_of_row(acc: _Accumulator, r: int, opt: SemanticsOptions):
    """Labels of resample r -> (labels, joints, lift, q, bg ratio, q_bg, level)."""
    with np.errstate(all="ignore"):
        lift = np.where(acc.n[r] > 0, acc.a[r] / acc.n[r], 1.0)
        score = np.where(acc.m[r] > 0, acc.a[r] / acc.m[r], 0.0)
        bg = np.where(acc.inside[r] > 0, acc.outside[r] / acc.inside[r], 1.0)
        level = acc.level[r] / max(acc.frames[r], 1)
    C, J = lift.shape
    p = _one_sided_p(acc.nv[r][None, :], acc.d1[r], acc.d2[r])
    pb = _one_sided_p(np.full(C, acc.nb[r]), acc.b1[r], acc.b2[r])
    q = sstats.false_discovery_control(np.concatenate([p.ravel(), pb]), method="bh")
    q, qb = q[: C * J].reshape(C, J), q[C * J :]
    attached = (q < opt.alpha) & (lift >= opt.min_lift)
    med = float(np.median(level))
    out = []
    for c in range(C):
        inactive = level[c] <= 0 or level[c] < opt.inactive_rel * med
        back = bool(qb[c] < opt.alpha and bg[c] >= opt.background_min)
        out.append(classify(score[c], attached[c], inactive, back, opt.margin))
    return out, lift, q, bg, qb, level


def _finish(acc: _Accumulator, opt: SemanticsOptions) -> ChannelSemantics:
    if acc.videos == 0:
        raise InputError(None, "no finished videos to label channels from")
    full, lift, q, bg, qb, level = _labels_of_row(acc, 0, opt)
    names = [_label_text(*x) for x in full]
    same = np.zeros(len(full))
    lifts = np.empty((acc.B, *lift.shape))
    for r in range(1, acc.B + 1):
        labels, lifts[r - 1] = _labels_of_row(acc, r, opt)[:2]
        same += [_label_text(*x) == n for x, n in zip(labels, names)]
    stability = same / acc.B
    energy = acc.energy[0] / max(acc.frames[0], 1)
    with np.errstate(all="ignore"):
        score = np.where(acc.m[0] > 0, acc.a[0] / acc.m[0], np.nan)
        null = np.where(acc.m[0] > 0, acc.n[0] / acc.m[0], np.nan)
    channels = []
    for c, ((cat, joints), name) in enumerate(zip(full, names)):
        if cat == "background":
            sc, nl, pv = float(bg[c]), 1.0, float(qb[c])
        elif cat == "inactive":
            sc, nl, pv = float(level[c]), float("nan"), float("nan")
        else:
            js = list(joints) or [int(np.argmax(lift[c]))]
            sc, nl, pv = float(lift[c, js].mean()), 1.0, float(q[c, js].max())
        channels.append(
            ChannelLabel(
                c, cat, name, tuple(SKELETON.names[j] for j in joints), sc, nl, pv,
                float(stability[c]), bool(stability[c] >= opt.stable), float(level[c]),
                float(energy[c]),
            )
        )  # fmt: skip
    ci = np.percentile(lifts, [2.5, 97.5], axis=0).transpose(1, 2, 0)
    return ChannelSemantics(
        channels, score, null, lift, ci, q, bg, acc.videos, acc.total_frames, opt
    )


def channel_semantics(
    dump: Dump | str | os.PathLike,
    options: SemanticsOptions | None = None,
    workers: int | None = None,
    video_ids: list[str] | None = None,
) -> ChannelSemantics:
    """Label every channel from all finished videos of a dump (or ``video_ids``), streamed.

    ``workers``: processes (default: the CPU count, at most the number of videos; 1 runs here).
    The result does not depend on the order of ``video_ids`` nor on ``workers``.
    """
    opt = options or SemanticsOptions()
    dump = dump if isinstance(dump, Dump) else open_dump(dump)
    ids = sorted(set(video_ids if video_ids is not None else dump.video_ids))
    man = dump.manifest
    expect = {"channels": man["channels"], "grid": man["grid_size"]}
    if "joints" in man:
        expect["joints"] = len(man["joints"])
    entries = {e["video_id"]: e for e in man["videos"] if e["status"] == "done"}
    missing = [v for v in ids if v not in entries]
    if missing:
        raise InputError(dump.path, f"no finished video {missing[0]!r} in this dump")
    jobs = [(dump.video_path(entries[v]), expect, opt) for v in ids]
    acc = _Accumulator(man["channels"], len(dump.joint_names), opt.bootstrap, opt.seed)
    for sums in map_videos(_sums_of_path, jobs, workers):
        acc.add(sums)
    return _finish(acc, opt)


def map_videos(fn, jobs: list, workers: int | None = None):
    """``fn`` over ``jobs`` in a process pool, results yielded in job order, at most 2 × workers
    in flight (memory bounded whatever the number of videos)."""
    workers = min(workers or os.cpu_count() or 1, max(len(jobs), 1))
    if workers <= 1:
        yield from map(fn, jobs)
        return
    with ProcessPoolExecutor(workers) as pool:
        pending: deque = deque()
        it = iter(jobs)
        for job in it:
            pending.append(pool.submit(fn, job))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def format_semantics(sem: ChannelSemantics) -> str:
    """A plain-text table of the labels."""
    rows = [
        f"{sem.videos} videos, {sem.frames} frames; attached: q < {sem.options.alpha} and lift ≥ "
        f"{sem.options.min_lift}; stable: ≥ {sem.options.stable:.0%} of {sem.options.bootstrap} "
        "bootstrap resamples",
        f"{'ch':>3}  {'label':<34} {'score':>6} {'q':>8} {'stab':>5}",
    ]
    for c in sem.channels:
        mark = "" if c.stable else " (unstable)"
        rows.append(
            f"{c.channel:>3}  {c.label + mark:<34} {c.score:6.2f} {c.p_value:8.2g} {c.stability:5.2f}"
        )
    counts = {k: sum(c.category == k for c in sem.channels) for k in CATEGORIES}
    rows.append("categories: " + ", ".join(f"{k} {v}" for k, v in counts.items() if v))
    rows.append(f"significant, stable part labels: {sem.share_part_labels():.0%} of channels")
    return "\n".join(rows)


def save_semantics(sem: ChannelSemantics, path: str | os.PathLike) -> Path:
    from ..utils import write_json_atomic

    write_json_atomic(path, sem.to_dict())
    return Path(path)


def label_power(
    dump: Dump | str | os.PathLike,
    counts: tuple[int, ...] = (8, 16, 32, 64),
    options: SemanticsOptions | None = None,
    workers: int | None = None,
) -> str:
    """How labels depend on the amount of evidence: the categories and the share of significant,
    stable part labels from the first n videos (by id) of a dump, for each n of ``counts``."""
    dump = dump if isinstance(dump, Dump) else open_dump(dump)
    ids = sorted(dump.video_ids)
    rows = ["| videos | joint | limb | side | trunk | background | global | inactive | "
            "significant, stable part labels |", "|" + "---|" * 9]  # fmt: skip
    for n in counts:
        if n > len(ids):
            continue
        sem = channel_semantics(dump, options, workers, ids[:n])
        k = [sum(c.category == cat for c in sem.channels) for cat in CATEGORIES]
        rows.append(f"| {n} | " + " | ".join(map(str, k)) + f" | {sem.share_part_labels():.0%} |")
    return "\n".join(rows)


def spatial_extent(dump: Dump | str | os.PathLike, videos: int = 16) -> str:
    """Why labels spread over joints: the median distance (grid cells) between joints linked in
    the skeleton, against the median area (cells) where a channel's |C_t| is at least half its
    maximum, on the first ``videos`` videos (by id)."""
    dump = dump if isinstance(dump, Dump) else open_dump(dump)
    dist, area = [], []
    cell = PHASES.index("cell")
    edges = np.array(SKELETON.edges)
    for vid in sorted(dump.video_ids)[:videos]:
        v = dump.video(vid)
        pos, valid = video_positions(v)
        ok = valid[:, edges[:, 0]] & valid[:, edges[:, 1]]
        d = np.linalg.norm(pos[:, edges[:, 0]] - pos[:, edges[:, 1]], axis=-1)
        dist.append(d[ok])
        m = np.abs(v.memory[:, cell].astype(np.float32))
        top = m.max((2, 3), keepdims=True)
        area.append(((m >= 0.5 * top) & (top > 0)).sum((2, 3)).reshape(-1))
        v.close()
        dump._open.pop(vid, None)
    g = dump.manifest["grid_size"]
    d, a = np.concatenate(dist), np.concatenate(area)
    return (
        f"grid {g}×{g}; linked joints lie a median {np.median(d):.2f} cells apart "
        f"(quartiles {np.percentile(d, 25):.2f}–{np.percentile(d, 75):.2f}); a channel's "
        f"half-maximum area is a median {np.median(a):.0f} cells (quartiles "
        f"{np.percentile(a, 25):.0f}–{np.percentile(a, 75):.0f}), a disc of radius "
        f"{np.sqrt(np.median(a) / np.pi):.2f} cells"
    )
