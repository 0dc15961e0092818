"""The ``lstm-probe`` command line: the parser of every subcommand (:mod:`lstm_probe.commands`)
and one way to fail. Each subcommand parses its arguments, calls one function of the package and
prints; training, the dashboard and the figures are imported only by the commands that need them.

Errors the user can fix (a missing file, a bad checkpoint) are printed as one line naming the
file and the problem, with exit status 2; no traceback.
"""

from __future__ import annotations

import argparse
import os
import sys

from . import __version__
from .commands import ADDERS
from .utils import LstmProbeError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lstm-probe", description="LSTM Pose Machines with probes on the video memory."
    )
    parser.add_argument("--version", action="version", version=f"lstm-probe {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in ADDERS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "accepts_overrides", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    bad = [e for e in extra if not (e.startswith("--") and "=" in e and "." in e.split("=")[0])]
    if bad:
        parser.error(f"unrecognized arguments: {' '.join(bad)} (overrides are --section.key=value)")
    args.overrides = extra
    try:
        return int(args.func(args) or 0)
    except LstmProbeError as e:
        print(f"lstm-probe {args.command}: error: {e}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as e:  # a file system or value problem: one line, no traceback
        if os.environ.get("LSTM_PROBE_DEBUG"):
            raise
        print(f"lstm-probe {args.command}: error: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"lstm-probe {args.command}: interrupted", file=sys.stderr)
        return 130


def run() -> None:
    """The console script: ``main``, then exit. After a write the file system refused inside
    HDF5 (see :class:`lstm_probe.probe.store.VideoDumpWriter`), HDF5's own exit handler would
    crash on the file it cannot close, so the process then ends without running exit handlers
    (streams flushed first)."""
    from .probe.store import unclosable_files

    code = main()
    if unclosable_files():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    run()
