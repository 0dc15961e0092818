"""The ``lstm-probe`` command line. Each subcommand parses its arguments and calls the package;
heavy modules (training, the dashboard) are imported only by the commands that need them.

Errors the user can fix (a missing file, a bad checkpoint) are printed as one line naming the
file and the problem, with exit status 2; no traceback.
"""

from __future__ import annotations

import argparse
import sys

from . import __version__
from .utils import LstmProbeError


def _add_info(sub) -> None:
    p = sub.add_parser("info", help="parameters and per-frame FLOPs of a model")
    p.add_argument("--model", default="lstm_pm", choices=["lstm_pm", "rpm", "cpm"])
    p.add_argument("--preset", default="paper", help="paper, small or tiny")
    p.add_argument("--all", action="store_true", help="every model of the preset")
    p.set_defaults(func=cmd_info)


def cmd_info(args) -> int:
    from .models import MODELS, build_model, count_parameters, frame_flops

    names = list(MODELS) if args.all else [args.model]
    print(f"preset {args.preset}")
    print(f"{'model':<8} {'params':>12} {'GFLOPs frame 1':>15} {'GFLOPs frame t>1':>17}  grid")
    for name in names:
        model = build_model(name, args.preset)
        first, later = frame_flops(model, 2)
        print(
            f"{name:<8} {count_parameters(model):>12,} {first / 1e9:>15.2f} {later / 1e9:>17.2f}"
            f"  {model.grid_size}×{model.grid_size} from {model.config.input_size}"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lstm-probe",
        description="LSTM Pose Machines with probes on the video memory.",
    )
    parser.add_argument("--version", action="version", version=f"lstm-probe {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_info(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except LstmProbeError as e:
        print(f"lstm-probe {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"lstm-probe {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
