"""Benchmarks of every hot path, run by ``lstm-probe bench`` (and the scripts in ``benchmarks/``).

Each benchmark measures what it compares side by side in one run on one machine, prints a table
headed by the machine and versions, and returns its numbers as a dict (``--out`` writes them as
JSON; docs/performance.md is made from one such run):

==============  ===========================================================================
``streaming``   per-frame latency of LSTM PM (first, later frames) against CPM on the same
                frames, per preset and inference mode; the speed ratio, GFLOP/s and the
                fraction of a conv peak measured in the same run
``fast``        the fast inference modes against ``plain`` fp32 on the demo checkpoint:
                end-to-end frames/s, the largest heatmap difference, PCK on the synthetic set,
                the memory identity in a dump made in that mode
``probe``       the probe's cost: plain streaming, recording the four phases, a detached
                probe, a whole dump (frames/s), and the peak memory of dumps of growing length
``train``       training throughput (clips/s) of the CPU configs and the data loader's share
``dashboard``   server latency of frame and channel changes on a 100-frame dump
``gpu``         the scale-up check (paper preset): training steps/s, batch-1 later frames,
                batched streaming, the dump against streaming (``make gpu-check``)
==============  ===========================================================================

After each report ``bench`` prints that benchmark's goals, each next to its figure with
``pass`` or ``short`` — or ``undecided`` where a share measured over rounds has an interval
that spans its goal (:mod:`lstm_probe.bench.goals`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ..utils import LstmProbeError, write_json_atomic
from .goals import goals_of, report_goals

BENCHMARKS = ("streaming", "fast", "probe", "train", "dashboard", "gpu")
# `all` runs these; `gpu` (the scale-up check) joins them on a CUDA device
ON_CPU = BENCHMARKS[:-1]


@dataclass
class BenchOptions:
    """What ``lstm-probe bench`` takes; ``quick`` shrinks every benchmark to check it runs."""

    checkpoint: str | None = None  # a trained LSTM PM (default: the demo's)
    presets: Sequence[str] = ("small", "paper")
    accels: Sequence[str] = ("plain", "fp32", "bf16")
    frames: int | None = None
    compile: bool = False
    quick: bool = False
    device: str = "auto"

    @classmethod
    def from_args(cls, args) -> BenchOptions:
        return cls(args.checkpoint, args.presets, args.accels, args.frames, args.compile,
                   args.quick, args.device)  # fmt: skip


def bench_description() -> str:
    return (
        "Measure side by side in one run and print the ratios: streaming (LSTM PM vs CPM, "
        "GFLOP/s, fraction of a conv peak), fast (inference modes: speed and accuracy), probe "
        "(probe and dump costs, peak memory), train (clips/s, data share), dashboard (server "
        "latency)."
    )


def add_bench_arguments(p) -> None:
    """The options of ``lstm-probe bench`` (and of the scripts in ``benchmarks/``)."""
    from ..engine.accel import ACCEL_MODES

    p.add_argument("which", nargs="*", metavar="BENCH",
                   help=f"{', '.join(BENCHMARKS)} or all (default)")  # fmt: skip
    p.add_argument("--checkpoint", default=None, help="a trained LSTM PM (default: the demo's)")
    p.add_argument("--presets", nargs="+", default=["small", "paper"], help="streaming presets")
    p.add_argument("--accels", nargs="+", default=["plain", "fp32", "bf16"], choices=ACCEL_MODES)
    p.add_argument("--frames", type=int, default=None, help="frames per run (each bench's default)")
    p.add_argument("--compile", action="store_true", help="streaming: add compiled modes too")
    p.add_argument("--quick", action="store_true", help="tiny sizes: checks the benches run")
    p.add_argument("--out", default=None, help="write every result as JSON")
    p.add_argument("--device", default="auto")


def _jobs(name: str, o: BenchOptions, dev) -> Iterator[tuple]:
    """(result key, bench module, measuring call) for one benchmark."""
    q = o.quick
    if name == "streaming":
        from . import streaming as b

        yield name, b, lambda: b.run(
            ["tiny"] if q else o.presets, o.accels, o.frames or (3 if q else 6), dev,
            32 if q else 184, o.compile, 1 if q else 3,
        )  # fmt: skip
    elif name == "fast":
        from . import fastpath as b

        sizes = (2, o.frames or 6, 1) if q else (16, o.frames or 48, 2)
        yield name, b, lambda: b.run(o.checkpoint, o.accels, *sizes, device=dev)
    elif name == "probe":
        from . import probe_cost as b

        # 15 rounds on the small model: the goals judge its shares by their intervals
        yield name, b, lambda: b.run(o.checkpoint, "auto", o.frames or (20 if q else 600),
                                     1 if q else 15, (10, 40) if q else (250, 1000), dev)  # fmt: skip
        if not q:  # the paper preset too, where compute dwarfs the writing
            yield "probe_paper", b, lambda: b.run_untrained("paper", dev)
    elif name == "train":
        from . import training as b

        yield (
            name,
            b,
            lambda: b.run(["tiny_cpu"] if q else b.CONFIGS, 2 if q else 20, 1 if q else 3),
        )
    elif name == "gpu":
        from . import gpu as b

        yield name, b, lambda: b.run(dev, q, o.compile)
    else:
        from . import dashboard as b

        yield name, b, lambda: b.run(o.checkpoint, *((10, 2) if q else (100, 40)))


def run_benchmarks(which: Sequence[str], options: BenchOptions, out: str | None = None) -> dict:
    """Run the named benchmarks (empty or ``all``: every one), printing each report as it
    finishes -> {key: result}; ``out`` writes them all as JSON."""
    from ..utils import pick_device

    unknown = [w for w in which if w not in (*BENCHMARKS, "all")]
    if unknown:
        raise LstmProbeError(f"no benchmark {unknown}; choose from {', '.join(BENCHMARKS)}, all")
    dev = pick_device(options.device)
    every = BENCHMARKS if dev.type == "cuda" else ON_CPU
    names = list(dict.fromkeys(which)) if which and "all" not in which else list(every)
    if options.checkpoint is None:
        from ..checkpoint import packaged_checkpoint

        options.checkpoint = str(packaged_checkpoint())
    results = {}
    for name in names:
        for key, module, measure in _jobs(name, options, dev):
            print(f"\n== bench {key} ==", flush=True)
            results[key] = measure()
            print(module.report(results[key]), flush=True)
            goals = goals_of(key, results[key])
            results[key]["goals"] = [{"goal": g, "figure": f, "verdict": v, "pass": v == "pass"}
                                     for g, f, v in goals]  # fmt: skip
            print(report_goals(goals), flush=True)
    if out:
        write_json_atomic(out, results)
        print(f"\nresults written to {out}")
    return results
