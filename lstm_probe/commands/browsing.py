"""Commands that read dumps: ``inspect``, ``figures``, ``dashboard``, and ``demo`` (the whole flow)."""

from __future__ import annotations

from ..argtypes import int_list, port
from ..probe.inspect import check_dump
from ..utils import LstmProbeError
from .common import add_inference_options


def add_inspect(sub) -> None:
    p = sub.add_parser("inspect", help="summarise a dump and check the memory identities")
    p.add_argument("dump")
    p.set_defaults(func=cmd_inspect)


def cmd_inspect(args) -> int:
    report = check_dump(args.dump)
    print(report["text"])
    if report["ok"]:
        return 0
    return 2 if report["invalid"] else 1  # 2: a video file was refused (bad input), as elsewhere


def add_figures(sub) -> None:
    p = sub.add_parser("figures", help="export Figures 4 and 5 from a dump (PDF, SVG or PNG)")
    p.add_argument("dump")
    p.add_argument("--video", default=None, help="video id (default: the first)")
    p.add_argument("--frame", type=int, default=3, help="frame t (Figure 5 shows t-2..t)")
    p.add_argument("--channels", type=int_list, help="Figure 5 rows (default: top 3 by energy)")
    p.add_argument("--format", default="pdf", choices=["png", "pdf", "svg"])
    p.add_argument("--width", default="double", choices=["single", "double"],
                   help="journal width: single column 3.3 in, double 7 in")  # fmt: skip
    p.add_argument("--scale", default="channel", choices=["channel", "global"],
                   help="Figure 5: one colour scale per channel row, or one for all")  # fmt: skip
    p.add_argument("--fig4-mode", default="curated", choices=["curated", "all"])
    p.add_argument("--fig4-phase", default="cell",
                   choices=["prev_cell", "forget_term", "input_term", "cell"])  # fmt: skip
    p.add_argument("--fig4-scale", default="tile", choices=["tile", "common"])
    p.add_argument("--out", default="figures")
    p.set_defaults(func=cmd_figures)


def cmd_figures(args) -> int:
    from ..viz.export import export_figures

    paths = export_figures(args.dump, args.video, args.frame, args.channels, args.format,
                           args.out, args.width, args.scale, args.fig4_mode, args.fig4_phase,
                           args.fig4_scale)  # fmt: skip
    print("\n".join(f"wrote {p}" for p in paths))
    return 0


def add_dashboard(sub) -> None:
    p = sub.add_parser("dashboard", help="browse dumps in the Dash app")
    p.add_argument("dumps", nargs="+", help="one or more dump directories")
    p.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1 (this machine only)")
    p.add_argument("--port", type=port, default=8050)
    p.add_argument("--allowed-host", action="append", metavar="NAME",
                   help="a Host name the server answers (repeatable; default: loopback names)")  # fmt: skip
    p.set_defaults(func=cmd_dashboard)


def cmd_dashboard(args) -> int:
    from dashboard import create_app

    app = create_app(args.dumps, allowed_hosts=args.allowed_host, bind_host=args.host)
    if not app.catalog.dumps:
        raise LstmProbeError("no dump could be opened: " + "; ".join(app.catalog.errors))
    print(f"lstm-probe dashboard: open http://{args.host}:{args.port}/ in a browser (Ctrl-C stops)")
    app.run(host=args.host, port=args.port, debug=False)
    return 0


def add_demo(sub) -> None:
    p = sub.add_parser("demo", help="the whole flow on the built-in synthetic videos")
    p.add_argument("--out", default="demo_output")
    p.add_argument("--videos", type=int, default=6)
    p.add_argument("--frames", type=int, default=30)
    p.add_argument("--train", action="store_true", help="retrain the demo model from scratch")
    p.add_argument("--no-serve", action="store_true", help="stop after the dump (CI)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=port, default=8050)
    add_inference_options(p, progress=False)
    p.set_defaults(func=cmd_demo)


def cmd_demo(args) -> int:
    from ..demo import run_demo

    return run_demo(args)
