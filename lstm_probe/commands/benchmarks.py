"""``bench``: every hot path measured side by side."""

from __future__ import annotations

from ..bench import BenchOptions, add_bench_arguments, bench_description, run_benchmarks


def add_bench(sub) -> None:
    p = sub.add_parser("bench", help="benchmarks of the hot paths (see docs/performance.md)",
                       description=bench_description())  # fmt: skip
    add_bench_arguments(p)
    p.set_defaults(func=cmd_bench)


def cmd_bench(args) -> int:
    run_benchmarks(args.which, BenchOptions.from_args(args), args.out)
    return 0
