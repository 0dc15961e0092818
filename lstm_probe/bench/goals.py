"""The goals each benchmark's figures are held to, printed next to the figures with a verdict.

A goal is ``(what, figure, verdict)``: ``what`` names the goal and its threshold, ``figure`` is
the measured value as printed, ``verdict`` pass or short — or, for a share measured over paired
rounds (the probe's and the dump's share of plain streaming), undecided when the interval of its
median spans the threshold (:func:`share_goal`). Goals come from the paper (1.89×: LSTM PM's later frames against CPM,
measured on its GPU), from docs/performance.md's aims (30 frames/s live with the probe; the fast
modes ≥ 2.2× plain; the dump ≥ 90 % of plain streaming and under 2 GiB; the probe's recording
cost ≤ 2 %; the stored memory identities within ``lstm-probe inspect``'s tolerance) and, on CUDA,
from the GPU aims (≥ 20 optimisation steps/s at batch 4 × T = 5 on the paper preset, batch-1
later frames ≤ 2 ms, ≥ 2,500 frames/s batched, data wait < 10 % of a step).
"""

from __future__ import annotations

from collections.abc import Callable

from .common import median_interval

Goal = tuple[str, str, str]  # what, figure, verdict: pass, short or undecided

PAPER_SPEEDUP = 1.89  # LSTM PM later frames over CPM, the paper's GPU
LIVE_FPS = 30.0
FAST_SPEEDUP = 2.2
DUMP_OF_STREAMING = 0.90
RECORDING_OF_STREAMING = 0.98
PEAK_RSS_MIB = 2048.0
DATA_SHARE = 0.10
GPU_STEPS_PER_S = 20.0
GPU_LATER_MS = 2.0
GPU_BATCHED_FPS = 2500.0


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def streaming(result: dict) -> list[Goal]:
    out = []
    for r in result["rows"]:
        if "ratio" in r:
            out.append((f"{r['preset']} {r['accel']}: LSTM PM t>1 ≥ {PAPER_SPEEDUP}× faster than "
                        "CPM (the paper's GPU)", f"{r['ratio']:.2f}×", _met(r["ratio"] >= PAPER_SPEEDUP)))  # fmt: skip
        elif result["machine"]["device"].startswith("cuda") and r["model"] == "LSTM PM t>1":
            if r["preset"] == "paper":
                out.append((f"paper {r['accel']}: batch-1 later frames ≤ {GPU_LATER_MS:g} ms",
                            f"{r['ms']:.2f} ms", _met(r["ms"] <= GPU_LATER_MS)))  # fmt: skip
    return out


def fast(result: dict) -> list[Goal]:
    from ..probe.inspect import TOLERANCE

    best = max(result["rows"], key=lambda r: r["speedup"])
    out = [(f"fastest mode ≥ {FAST_SPEEDUP}× plain end to end ({best['accel']})",
            f"{best['speedup']:.2f}×", _met(best["speedup"] >= FAST_SPEEDUP))]  # fmt: skip
    for r in result["rows"]:
        err = max(r["identity_err"], r["chain_err"])
        out.append((f"{r['accel']}: memory identities within {TOLERANCE:.1e}",
                    f"{err:.1e}", _met(err <= TOLERANCE)))  # fmt: skip
    return out


def probe(result: dict) -> list[Goal]:
    fps = result["fps"]
    peak = max(result["peak_rss_mib"].values())
    return [
        (f"recording ≥ {LIVE_FPS:g} frames/s (live)", f"{fps['recording']:.1f} frames/s",
         _met(fps["recording"] >= LIVE_FPS)),
        share_goal(result, "recording", RECORDING_OF_STREAMING),
        share_goal(result, "dump", DUMP_OF_STREAMING),
        (f"dump peak RSS < {PEAK_RSS_MIB / 1024:g} GiB", f"{peak:.0f} MiB",
         _met(peak < PEAK_RSS_MIB)),
    ]  # fmt: skip


def share_goal(result: dict, variant: str, aim: float) -> Goal:
    """``variant`` ≥ ``aim`` of plain streaming, judged by the interval of its rounds' median
    share (:func:`judged_share` of ``relative_rounds``). A result saved without its rounds: the
    point."""
    what = f"{variant} ≥ {100 * aim:.0f} % of streaming"
    share = result["relative"][variant]
    rounds = result.get("relative_rounds", {}).get(variant) or []
    interval, verdict = judged_share(share, rounds, aim)
    if interval is None:
        return what, _pct(share) + (" (one round)" if rounds else ""), verdict
    lo, hi, coverage = interval
    return what, f"{_pct(share)} ({100 * coverage:.0f} % interval {_pct(lo)}–{_pct(hi)})", verdict


def judged_share(share: float, rounds, aim: float) -> tuple[tuple[float, float, float] | None, str]:
    """A share's verdict against ``aim`` from its rounds: (the interval of their median — low,
    high, coverage, :func:`~lstm_probe.bench.common.median_interval` —, its verdict: pass when
    all of it reaches the aim, short when none does, undecided when it spans the aim, the
    difference within the rounds' noise). Fewer than two rounds: (None, the point's verdict)."""
    if len(rounds) < 2:
        return None, _met(share >= aim)
    lo, hi, coverage = median_interval(rounds)
    return (lo, hi, coverage), interval_verdict(lo, hi, aim)


def interval_verdict(lo: float, hi: float, aim: float) -> str:
    """``pass`` (the interval reaches ``aim``), ``short`` (it lies below) or ``undecided``."""
    return "pass" if lo >= aim else "short" if hi < aim else "undecided"


def train(result: dict) -> list[Goal]:
    return [
        (f"{r['config']}: waiting for data < {100 * DATA_SHARE:.0f} % of a step", _pct(r["data_share"]),
         _met(r["data_share"] < DATA_SHARE))
        for r in result["rows"]
    ]  # fmt: skip


def gpu(result: dict) -> list[Goal]:
    """The GPU check's goals (``lstm-probe bench gpu``)."""
    out = []
    t = result.get("train")
    if t:
        out.append((f"training ≥ {GPU_STEPS_PER_S:g} steps/s at batch {t['batch']} × T = "
                    f"{t['clip_length']} ({t['preset']})", f"{t['steps_per_s']:.2f} steps/s",
                    _met(t["steps_per_s"] >= GPU_STEPS_PER_S)))  # fmt: skip
        out.append((f"training: waiting for data < {100 * DATA_SHARE:.0f} % of a step",
                    _pct(t["data_share"]), _met(t["data_share"] < DATA_SHARE)))  # fmt: skip
    s = result.get("stream")
    if s:
        out.append((f"batch-1 later frames ≤ {GPU_LATER_MS:g} ms ({s['preset']}, {s['how']})",
                    f"{s['later_ms']:.2f} ms", _met(s["later_ms"] <= GPU_LATER_MS)))  # fmt: skip
    b = result.get("batched")
    if b:
        out.append((f"batched streaming ≥ {GPU_BATCHED_FPS:,.0f} frames/s ({b['videos']} videos)",
                    f"{b['fps']:,.0f} frames/s", _met(b["fps"] >= GPU_BATCHED_FPS)))  # fmt: skip
    d = result.get("dump")
    if d:
        out.append((f"dump ≥ {100 * DUMP_OF_STREAMING:.0f} % of streaming ({d['preset']})",
                    _pct(d["relative"]), _met(d["relative"] >= DUMP_OF_STREAMING)))  # fmt: skip
    return out


GOALS: dict[str, Callable[[dict], list[Goal]]] = {
    "streaming": streaming, "fast": fast, "probe": probe, "probe_paper": probe, "train": train,
    "gpu": gpu,
}  # fmt: skip


def goals_of(key: str, result: dict) -> list[Goal]:
    f = GOALS.get(key)
    return f(result) if f else []


def _met(ok: bool) -> str:
    return "pass" if ok else "short"


def report_goals(goals: list[Goal]) -> str:
    """One line per goal: ``what: figure — pass`` (or ``short``, ``undecided``)."""
    if not goals:
        return "goals: none set for this benchmark"
    lines = ["goals:"]
    lines += [f"  {what}: {figure} — {verdict}" for what, figure, verdict in goals]
    return "\n".join(lines)
