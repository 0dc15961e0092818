"""The paper's Section 4.6 claims with effect sizes, 95 % bootstrap intervals over videos, nulls
and verdicts decided by rules fixed before the data are seen.

Each claim has an effect, a null (the same statistic where the claim predicts nothing) and a
minimum meaningful effect m, stated here. With d = effect − null and its 95 % interval (Poisson
bootstrap over videos, as in :mod:`.semantics`):

- **directional claims** (rows 1, 2, 4): "supported" when the interval of d excludes 0 on the
  predicted side and |d| ≥ m; "contradicted" when it excludes 0 on the other side and |d| ≥ m;
  otherwise "no meaningful effect" (never "agrees" on a negligible effect).
- **row 3** predicts the *absence* of a rise: "supported" when the whole interval of d lies
  below m, "contradicted" when d ≥ m and its interval excludes 0, otherwise "no meaningful
  effect" (the interval neither rules a meaningful rise in nor out).

The claims:

1. *The forget term keeps static joints, the input term brings in moving ones.* Per joint-frame
   (t ≥ 1, joint annotated in both frames): retention = ‖f⊙C_{t−1}‖ / (‖f⊙C_{t−1}‖ + ‖i⊙g‖),
   norms over channels at the joint (bilinear), against the joint's speed (px/frame). Effect:
   Spearman ρ within each video, averaged with weights = joint-frames. Null: the same with the
   speeds permuted within the video (seeded). Predicted: ρ < 0; m = 0.1.
2. *Memory carries an occluded joint.* For every joint hidden by the synthetic occluder (flag
   ``occluded``) with ≥ 1 visible frame among the 3 before: ‖C_t‖ at the hidden joint over
   ‖C_t‖ at displaced positions (as in :mod:`.semantics`), during the occlusion. Null: the same
   ratio between two independent sets of displaced positions. Predicted: > null; m = 0.1.
   Also reported: memory kept = ‖C_t‖ at the joint during / before.
3. *…so the hidden joint's error does not rise much.* Prediction error (in units of the
   person's box, the PCK normaliser) during the occlusion minus before; null: the same for the
   joints that stay visible over the same frames. Predicted: no rise of m = 0.05 (a quarter of
   the PCK@0.2 threshold) or more.
4. *Memory lasts beyond one frame.* Memory horizon of a channel: the frames after which the
   product of its forget gates keeps 10 % of a write, under its mean gate: ln 0.1 / mean ln f
   (mean over frames t ≥ 1 and grid cells). Effect: the median over channels. Null: 1 frame (a
   memory gone within a step). Predicted: > null; m = 1 frame. Needs the gates in the dump
   (``lstm-probe dump --gates``); without them the row says so.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import rankdata, spearmanr

from ..utils import InputError
from .semantics import (
    _video_rng,
    displaced_positions,
    map_videos,
    person_scale,
    poisson_weights,
    sample_bilinear,
    video_positions,
)
from .store import PHASES, Dump, DumpVideo, open_dump

BOOTSTRAP = 1000
SEED = 0
MIN_RHO = 0.1
MIN_LIFT = 0.1
MIN_ERROR = 0.05
MIN_HORIZON = 1.0
BEFORE = 3


@dataclass
class Claim:
    key: str
    claim: str
    effect: float
    ci: tuple[float, float]  # of the effect
    null: float
    diff_ci: tuple[float, float]  # of effect − null
    min_effect: float
    predicted: str  # "below null", "above null", "no rise"
    verdict: str  # supported | contradicted | no meaningful effect | not measured
    n: int  # videos that contribute
    units: int  # joint-frames, occlusions or channels
    detail: str = ""


def _norm(maps: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """maps (F, C, h, w), pos (F, P, 2) -> (F, P) norm over channels."""
    return np.linalg.norm(sample_bilinear(maps, pos), axis=1)


def _box_side(bbox: np.ndarray | None, F: int) -> np.ndarray:
    if bbox is None:
        return np.full(F, np.nan)
    side = np.maximum(bbox[:, 2] - bbox[:, 0], bbox[:, 3] - bbox[:, 1])
    return np.where(side > 0, side, np.nan)


def video_claim_sums(video: DumpVideo, horizon: bool = True) -> dict:
    """Per-video sufficient statistics of the four claims (small: O(channels))."""
    out = {"video_id": video.video_id, "rho": None, "rho_c": None, "occ": None, "logf": None}
    F = video.num_frames
    if video.keypoints_gt is None or F < 2:
        return out
    pos, valid = video_positions(video)
    mem = video.memory[()].astype(np.float32)  # (F, 4, C, h, w): one video at a time
    keep = _norm(mem[:, PHASES.index("forget_term")], pos)
    new = _norm(mem[:, PHASES.index("input_term")], pos)
    with np.errstate(all="ignore"):
        ret = keep / np.maximum(keep + new, 1e-8)
    gt = video.keypoints_gt
    speed = np.linalg.norm(gt[1:] - gt[:-1], axis=-1)
    ok = valid[1:] & valid[:-1] & np.isfinite(speed)
    s, r = speed[ok], ret[1:][ok]
    if len(s) > 2 and np.ptp(s) > 0 and np.ptp(r) > 0:
        rng = _video_rng(SEED, video.video_id, 10)
        out["rho"] = (
            float(spearmanr(s, r)[0]),
            float(spearmanr(rng.permutation(s), r)[0]),
            int(len(s)),
        )
        # per channel: the same rank correlation with |f⊙C| and |i⊙g| of that channel alone
        fc = np.abs(sample_bilinear(mem[1:, PHASES.index("forget_term")], pos[1:]))
        ig = np.abs(sample_bilinear(mem[1:, PHASES.index("input_term")], pos[1:]))
        with np.errstate(all="ignore"):
            rc = (fc / np.maximum(fc + ig, 1e-8)).transpose(0, 2, 1)[ok]  # (N, C)
        out["rho_c"] = (_rank_corr(s, rc), int(len(s)))
    occ = video.flags.get("occluded")
    if occ is not None and occ.shape == valid.shape and occ.any():
        out["occ"] = _occlusion_sums(video, mem[:, PHASES.index("cell")], pos, valid, occ)
    if horizon and "gates" in video._datasets:
        gates = video._datasets["gates"]
        f_idx = list(gates.attrs.get("gates", ["input_gate", "forget_gate"])).index("forget_gate")
        f = gates[1:, f_idx].astype(np.float32)  # (F-1, C, h, w)
        logf = np.log(np.clip(f, 1e-6, 1.0)).mean((2, 3)).sum(0)
        out["logf"] = (logf.astype(np.float64), F - 1)
    return out


def _rank_corr(x: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Spearman ρ of x (N,) with every column of ys (N, C) (NaN for a constant column)."""
    rx = rankdata(x)
    ry = rankdata(ys, axis=0)
    rx, ry = rx - rx.mean(), ry - ry.mean(0)
    with np.errstate(all="ignore"):
        return (rx @ ry) / np.sqrt((rx @ rx) * (ry * ry).sum(0))


def _occlusion_sums(video, cell, pos, valid, occ) -> dict:
    rng = _video_rng(SEED, video.video_id, 11)
    scale = person_scale(pos, valid)
    h, w = cell.shape[-2:]
    err = (
        np.linalg.norm(video.keypoints - video.keypoints_gt, axis=-1)
        / _box_side(video.bbox, video.num_frames)[:, None]
    )
    acc = dict.fromkeys(
        ("at", "disp", "disp2", "before", "during", "err_b", "err_d", "cerr_b", "cerr_d"), 0.0
    )
    acc["count"] = 0
    acc["during_c"] = acc["before_c"] = 0.0  # per channel: mean |C_c| at the hidden joint
    for j in np.nonzero(occ.any(0))[0]:
        frames = np.nonzero(occ[:, j])[0]
        start = frames[0]
        pre = [t for t in range(max(0, start - BEFORE), start) if not occ[t, j] and valid[t, j]]
        frames = frames[valid[frames, j]]
        if not pre or not len(frames):
            continue
        control = [k for k in range(occ.shape[1]) if not occ[:, k].any()]
        p = pos[frames][:, [j]]
        disp = displaced_positions(p, scale[frames], (h, w), 16, rng).reshape(len(frames), -1, 2)
        d = _norm(cell[frames], disp)
        at = _norm(cell[frames], p)[:, 0]
        acc["at"] += at.mean()
        acc["disp"] += d[:, :8].mean()
        acc["disp2"] += d[:, 8:].mean()
        acc["before"] += _norm(cell[pre], pos[pre][:, [j]]).mean()
        acc["during"] += at.mean()
        acc["during_c"] = acc["during_c"] + np.abs(sample_bilinear(cell[frames], p)).mean((0, 2))
        acc["before_c"] = acc["before_c"] + np.abs(
            sample_bilinear(cell[pre], pos[pre][:, [j]])
        ).mean((0, 2))
        e_b, e_d = np.nanmean(err[pre, j]), np.nanmean(err[frames, j])
        c_b = np.nanmean(err[np.ix_(pre, control)]) if control else np.nan
        c_d = np.nanmean(err[np.ix_(frames, control)]) if control else np.nan
        if not np.isfinite([e_b, e_d, c_b, c_d]).all():
            e_b = e_d = c_b = c_d = 0.0
        acc["err_b"] += e_b
        acc["err_d"] += e_d
        acc["cerr_b"] += c_b
        acc["cerr_d"] += c_d
        acc["count"] += 1
    return acc if acc["count"] else None


def _sums_of_path(args) -> dict:
    path, expect = args
    video = DumpVideo(path, expect)
    try:
        return video_claim_sums(video)
    finally:
        video.close()


def _verdict(d: float, lo: float, hi: float, m: float, predicted: str) -> str:
    if not np.isfinite([d, lo, hi]).all():
        return "not measured"
    if predicted == "no rise":
        if hi < m:
            return "supported"
        if d >= m and lo > 0:
            return "contradicted"
        return "no meaningful effect"
    sign = -1 if predicted == "below null" else 1
    if (lo > 0 or hi < 0) and abs(d) >= m:
        return "supported" if np.sign(d) == sign else "contradicted"
    return "no meaningful effect"


def _ci(x: np.ndarray) -> tuple[float, float]:
    x = x[np.isfinite(x)]
    if not len(x):
        return (float("nan"), float("nan"))
    lo, hi = np.percentile(x, [2.5, 97.5])
    return (float(lo), float(hi))


def evaluate_claims(
    dump: Dump | str | os.PathLike, workers: int | None = None, bootstrap: int = BOOTSTRAP
) -> list[Claim]:
    """The claims table of a dump (see module doc), streamed over its videos in a process pool."""
    return claims_and_channels(dump, workers, bootstrap)[0]


def claims_and_channels(
    dump: Dump | str | os.PathLike, workers: int | None = None, bootstrap: int = BOOTSTRAP
) -> tuple[list[Claim], dict]:
    """The claims table and, per channel, claims 1 and 2 for that channel alone: ``rho`` (C,)
    retention vs speed with ``rho_ci`` (C, 2), ``kept`` (C,) memory kept at an occluded joint
    (during / before) with ``kept_ci`` (C, 2); NaN where the dump has no such data."""
    dump = dump if isinstance(dump, Dump) else open_dump(dump)
    man = dump.manifest
    expect = {"channels": man["channels"], "grid": man["grid_size"]}
    ids = sorted(dump.video_ids)
    if not ids:
        raise InputError(dump.path, "no finished videos in this dump")
    entries = {e["video_id"]: e for e in man["videos"]}
    jobs = [(dump.video_path(entries[v]), expect) for v in ids]
    R = bootstrap + 1
    rho = np.zeros((3, R))  # Σ w n ρ, Σ w n ρ_null, Σ w n
    occ_keys = ("at", "disp", "disp2", "before", "during", "err_b", "err_d", "cerr_b", "cerr_d")
    occ = np.zeros((len(occ_keys) + 1, R))
    logf, frames = None, np.zeros(R)
    n_rho = n_occ = n_gate = units_rho = units_occ = 0
    C = man["channels"]
    rho_c, n_c = np.zeros((R, C)), np.zeros((R, C))
    kept_d, kept_b = np.zeros((R, C)), np.zeros((R, C))
    for s in map_videos(_sums_of_path, jobs, workers):
        w = poisson_weights(SEED, s["video_id"], bootstrap)
        if s.get("rho_c") is not None:
            rc, n = s["rho_c"]
            fin = np.isfinite(rc)
            rho_c += np.outer(w, np.where(fin, n * rc, 0.0))
            n_c += np.outer(w, np.where(fin, n, 0.0))
        if s["occ"] is not None:
            kept_d += np.outer(w, s["occ"]["during_c"])
            kept_b += np.outer(w, s["occ"]["before_c"])
        if s["rho"] is not None:
            r, r0, n = s["rho"]
            rho += np.outer([n * r, n * r0, n], w)
            n_rho, units_rho = n_rho + 1, units_rho + n
        if s["occ"] is not None:
            o = s["occ"]
            occ += np.outer([o[k] for k in occ_keys] + [o["count"]], w)
            n_occ, units_occ = n_occ + 1, units_occ + o["count"]
        if s["logf"] is not None:
            lf, nf = s["logf"]
            logf = np.zeros((R, len(lf))) if logf is None else logf
            logf += np.outer(w, lf)
            frames += w * nf
            n_gate += 1
    claims = []
    with np.errstate(all="ignore"):
        eff, nul = rho[0] / rho[2], rho[1] / rho[2]
    claims.append(
        _claim("retention_vs_speed", "the forget term keeps static joints, the input term "
               "brings in moving ones (Spearman ρ, retention vs joint speed)", eff, nul,
               MIN_RHO, "below null", n_rho, units_rho)
    )  # fmt: skip
    o = dict(zip((*occ_keys, "count"), occ))
    with np.errstate(all="ignore"):
        eff, nul = o["at"] / o["disp"], o["disp2"] / o["disp"]
        kept = o["during"] / o["before"]
        rise = (o["err_d"] - o["err_b"]) / o["count"]
        crise = (o["cerr_d"] - o["cerr_b"]) / o["count"]
    kl, kh = _ci(kept[1:])
    claims.append(
        _claim("occlusion_memory", "memory carries an occluded joint (‖C_t‖ at the hidden "
               "joint / at displaced positions, during the occlusion)", eff, nul, MIN_LIFT,
               "above null", n_occ, units_occ,
               f"memory kept during/before {kept[0]:.2f} [{kl:.2f}, {kh:.2f}]")
    )  # fmt: skip
    claims.append(
        _claim("occlusion_error", "the hidden joint's error does not rise much (error during − "
               "before, in box units; null: visible joints, same frames)", rise, crise,
               MIN_ERROR, "no rise", n_occ, units_occ)
    )  # fmt: skip
    if logf is None:
        nan = np.full(R, np.nan)
        c = _claim("memory_horizon", "memory lasts beyond one frame (median channel horizon, "
                   "frames until the forget gates keep 10 % of a write)", nan, np.ones(R),
                   MIN_HORIZON, "above null", 0, 0,
                   "not measured: the dump has no gates (dump with --gates)")  # fmt: skip
        claims.append(c)
    else:
        with np.errstate(all="ignore"):
            mean_logf = logf / frames[:, None]
            horizon = np.where(mean_logf < 0, np.log(0.1) / mean_logf, np.inf)
        med = np.median(horizon, 1)
        claims.append(
            _claim("memory_horizon", "memory lasts beyond one frame (median channel horizon, "
                   "frames until the forget gates keep 10 % of a write)", med, np.ones(R),
                   MIN_HORIZON, "above null", n_gate, logf.shape[1])
        )  # fmt: skip
    with np.errstate(all="ignore"):
        rho_ch, kept_ch = rho_c / n_c, kept_d / kept_b
    per_channel = {
        "rho": rho_ch[0],
        "rho_ci": np.array([_ci(rho_ch[1:, c]) for c in range(C)]),
        "kept": kept_ch[0],
        "kept_ci": np.array([_ci(kept_ch[1:, c]) for c in range(C)]),
    }
    return claims, per_channel


def channel_horizons(dump: Dump | str | os.PathLike, workers: int | None = None) -> np.ndarray:
    """(C,) memory horizon of each channel in frames (see module doc); NaN without gates."""
    dump = dump if isinstance(dump, Dump) else open_dump(dump)
    C = dump.manifest["channels"]
    total, frames = np.zeros(C), 0
    for vid in sorted(dump.video_ids):
        v = dump.video(vid)
        if "gates" in v._datasets and v.num_frames >= 2:
            g = v._datasets["gates"]
            f_idx = list(g.attrs.get("gates", ["input_gate", "forget_gate"])).index("forget_gate")
            for t0 in range(1, v.num_frames, 32):
                f = g[t0 : t0 + 32, f_idx].astype(np.float32)
                total += np.log(np.clip(f, 1e-6, 1.0)).mean((2, 3)).sum(0)
                frames += len(f)
        v.close()  # one video open at a time
        dump._open.pop(vid, None)
    if not frames:
        return np.full(C, np.nan)
    mean = total / frames
    with np.errstate(all="ignore"):
        return np.where(mean < 0, np.log(0.1) / mean, np.inf)


def _claim(key, text, eff, nul, m, predicted, n, units, detail="") -> Claim:
    d = eff - nul
    lo, hi = _ci(d[1:])
    verdict = _verdict(float(d[0]), lo, hi, m, predicted) if n else "not measured"
    if not n and not detail:
        detail = "not measured: no video of this dump has the data"
    return Claim(
        key, text, float(eff[0]), _ci(eff[1:]), float(nul[0]), (lo, hi), m, predicted, verdict,
        n, units, detail,
    )  # fmt: skip


def format_claims(claims: list[Claim]) -> str:
    """The claims table as Markdown."""
    rows = [
        "| claim | effect [95 % CI] | null | effect − null [95 % CI] | min. effect | predicted "
        "| verdict | videos | units |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in claims:
        f = lambda x: "–" if not np.isfinite(x) else f"{x:.3g}"  # noqa: E731
        rows.append(
            f"| {c.key}: {c.claim}{' — ' + c.detail if c.detail else ''} | {f(c.effect)} "
            f"[{f(c.ci[0])}, {f(c.ci[1])}] | {f(c.null)} | {f(c.effect - c.null)} "
            f"[{f(c.diff_ci[0])}, {f(c.diff_ci[1])}] | {c.min_effect:g} | {c.predicted} | "
            f"**{c.verdict}** | {c.n} | {c.units} |"
        )
    return "\n".join(rows)


def claims_json(claims: list[Claim]) -> list[dict]:
    def clean(v):
        if isinstance(v, float):
            return v if np.isfinite(v) else None
        if isinstance(v, tuple | list):
            return [clean(x) for x in v]
        return v

    return [{k: clean(v) for k, v in asdict(c).items()} for c in claims]


def claims_report(dump, json_out: str | os.PathLike | None = None, workers=None) -> str:
    """The claims table as text (and as JSON into ``json_out``): what ``lstm-probe claims``
    prints."""
    claims = evaluate_claims(dump, workers)
    text = format_claims(claims)
    if json_out:
        from ..utils import write_json_atomic

        write_json_atomic(json_out, claims_json(claims))
        text += f"\nwrote {json_out}"
    return text
