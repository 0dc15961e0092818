"""Server-side checks of every value a callback receives.

The page is only a client: whatever it sends (or a forged POST to ``/_dash-update-component``
sends instead) is checked here against an allow-list or a range before it reaches a dump, a
figure or a file name. Each check returns the value in its canonical type or raises
:class:`InvalidInput` with a message fit for the page.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from lstm_probe.utils import LstmProbeError

from . import ids

CMAPS = ("RdBu_r", "PuOr_r", "coolwarm", "seismic")
SCALES = ("channel", "global")
EXPORT_FORMATS = ("png", "pdf")
EXPORT_BUTTONS = (ids.EXPORT5, ids.EXPORT4)
MAX_CHANNELS = 8  # rows of Figure 5 (each row is 3 frames × 6 panels)
ALPHA_RANGE = (0.05, 1.0)


class InvalidInput(LstmProbeError, ValueError):
    """A callback value outside what the page can legitimately send."""


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x: Any) -> bool:
    return (_is_int(x) or isinstance(x, float)) and math.isfinite(x)


def integer(x: Any, lo: int, hi: int, what: str) -> int:
    """An int (not a bool, not a float) in lo..hi inclusive."""
    if not _is_int(x):
        raise InvalidInput(f"{what} must be an integer, got {type(x).__name__}")
    if not lo <= x <= hi:
        raise InvalidInput(f"{what} must lie in {lo}..{hi}, got {x}")
    return int(x)


def choice(x: Any, allowed: Sequence[str], what: str) -> str:
    """One of ``allowed`` exactly (a string; no normalisation)."""
    if not isinstance(x, str) or x not in allowed:
        shown = repr(x) if isinstance(x, str) and len(x) <= 40 else type(x).__name__
        raise InvalidInput(f"{what} must be one of {', '.join(allowed)}, got {shown}")
    return x


def dump_index(x: Any, count: int) -> int:
    if count == 0:
        raise InvalidInput("no dump is open")
    return integer(x, 0, count - 1, "dump")


def video_id(x: Any, video_ids: Sequence[str]) -> str:
    if not isinstance(x, str) or x not in video_ids:
        raise InvalidInput("video must be one of the dump's videos")
    return x


def frame(x: Any, num_frames: int) -> int:
    return integer(x, 0, num_frames - 1, "frame")


def channels(x: Any, num_channels: int, max_count: int = MAX_CHANNELS) -> list[int]:
    """A non-empty list of at most ``max_count`` distinct channel indices in 0..C−1."""
    if not isinstance(x, list):
        raise InvalidInput(f"channels must be a list, got {type(x).__name__}")
    if not 1 <= len(x) <= max_count:
        raise InvalidInput(f"choose 1 to {max_count} channels, got {len(x)}")
    out = [integer(c, 0, num_channels - 1, "channel") for c in x]
    if len(set(out)) != len(out):
        raise InvalidInput("channels must not repeat")
    return out


def alpha(x: Any) -> float:
    lo, hi = ALPHA_RANGE
    if not _is_number(x) or not lo <= x <= hi:
        raise InvalidInput(f"opacity must be a number in [{lo}, {hi}]")
    return float(x)


def cmap(x: Any) -> str:
    return choice(x, CMAPS, "colormap")


def scale(x: Any) -> str:
    return choice(x, SCALES, "scale")


def export_format(x: Any) -> str:
    return choice(x, EXPORT_FORMATS, "export format")


def export_button(x: Any) -> str:
    return choice(x, EXPORT_BUTTONS, "export button")


def click_point(x: Any, width: float | None = None, height: float | None = None) -> tuple:
    """Plotly ``clickData`` -> (x, y) of its first point; both finite numbers, within
    [0, width) × [0, height) when given. ``y`` is None when the point has none and no height
    is asked for."""
    if not isinstance(x, dict) or not isinstance(x.get("points"), list) or not x["points"]:
        raise InvalidInput("click data must be {'points': [{'x': …, 'y': …}, …]}")
    p = x["points"][0]
    if not isinstance(p, dict) or not _is_number(p.get("x")):
        raise InvalidInput("a clicked point needs a finite number x")
    px, py = float(p["x"]), p.get("y")
    if height is not None or py is not None:
        if not _is_number(py):
            raise InvalidInput("a clicked point needs a finite number y")
        py = float(py)
    if width is not None and not 0 <= px < width:
        raise InvalidInput(f"clicked x must lie in [0, {width})")
    if height is not None and not 0 <= py < height:
        raise InvalidInput(f"clicked y must lie in [0, {height})")
    return px, py
