"""Commands that read a whole dump at once: ``claims`` (the Section 4.6 claims with error bars)
and ``atlas`` (a static HTML atlas of the memory channels)."""

from __future__ import annotations


def add_claims(sub) -> None:
    p = sub.add_parser("claims", help="the paper's Section 4.6 claims with effect, CI and verdict")
    p.add_argument("dump")
    p.add_argument("--json", default=None, help="also write the table as JSON here")
    p.add_argument("--workers", type=int, default=None, help="processes (default: CPU count)")
    p.set_defaults(func=cmd_claims)


def cmd_claims(args) -> int:
    from ..probe.claims import claims_report

    print(claims_report(args.dump, args.json, args.workers))
    return 0


def add_atlas(sub) -> None:
    p = sub.add_parser("atlas", help="a static HTML atlas of a dump's memory channels")
    p.add_argument("dump")
    p.add_argument("--out", required=True, help="output directory (open OUT/index.html)")
    p.add_argument("--top-k", type=int, default=8, help="top activating moments per channel")
    p.add_argument("--workers", type=int, default=None, help="processes (default: CPU count)")
    p.set_defaults(func=cmd_atlas)


def cmd_atlas(args) -> int:
    from ..viz.atlas import build_atlas

    print(build_atlas(args.dump, args.out, args.top_k, args.workers))
    return 0
