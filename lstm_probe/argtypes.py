"""Argument types of the command line: each parses one option's text or raises
``argparse.ArgumentTypeError`` (argparse then prints one line naming the option, exit status 2)."""

from __future__ import annotations

import argparse

import numpy as np


def int_list(spec: str) -> tuple[int, ...]:
    """argparse type: comma-separated integers."""
    try:
        return tuple(int(x) for x in spec.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {spec!r}"
        ) from None


def frame_range(spec: str) -> tuple[int, int | None]:
    """argparse type: START:STOP (either may be left out) with 0 <= START < STOP."""
    a, _, b = spec.partition(":")
    try:
        start, stop = int(a or 0), int(b) if b else None
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected START:STOP, got {spec!r}") from None
    if start < 0 or (stop is not None and stop <= start):
        raise argparse.ArgumentTypeError(f"{spec!r}: need 0 <= START < STOP")
    return (start, stop)


def port(spec: str) -> int:
    """argparse type: a TCP port, 1–65535."""
    if not spec.isdigit() or not 1 <= int(spec) <= 65535:
        raise argparse.ArgumentTypeError(f"a port is a whole number in 1..65535, got {spec!r}")
    return int(spec)


def box(spec: str) -> tuple[float, ...]:
    """argparse type: x1,y1,x2,y2 as four finite numbers."""
    try:
        values = tuple(float(v) for v in spec.split(","))
    except ValueError:
        values = ()
    if len(values) != 4 or not np.all(np.isfinite(values)):
        raise argparse.ArgumentTypeError(f"expected x1,y1,x2,y2 (finite numbers), got {spec!r}")
    return values


def fraction(spec: str) -> float:
    """argparse type: a finite number in (0, 1] (a PCK threshold α)."""
    try:
        value = float(spec)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {spec!r}")
    return value


def count(limit: int):
    """argparse type: a whole number in 1..``limit``."""

    def parse(spec: str) -> int:
        if not spec.isdigit() or not 1 <= int(spec) <= limit:
            raise argparse.ArgumentTypeError(f"expected a whole number in 1..{limit}, got {spec!r}")
        return int(spec)

    return parse
