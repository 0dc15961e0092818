"""Server-side checks of every value a callback receives.

The page is only a client: whatever it sends (or a forged POST to ``/_dash-update-component``
sends instead) is checked here against an allow-list or a range before it reaches a dump, a
figure or a file name. Each check returns the value in its canonical type or raises
:class:`InvalidInput` with a message fit for the page.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from lstm_probe.utils import LstmProbeError

CMAPS = ("RdBu_r", "PuOr_r", "coolwarm", "seismic")
SCALES = ("channel", "global")
EXPORT_FORMATS = ("pdf", "svg", "png")
EXPORT_WIDTHS = ("double", "single")
EXPORT_FIGURES = ("figure5", "figure4")
FIG4_MODES = ("curated", "all")
FIG4_SCALES = ("tile", "common")
PHASE_NAMES = ("cell", "forget_term", "input_term", "prev_cell")
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


def kept_frame(x: Any) -> int | None:
    """The frame chosen before a video switch: None, or an int the page can hold (any video's)."""
    return None if x is None else integer(x, 0, 10**9, "frame")


def kept_channels(x: Any) -> list[int]:
    """The channels chosen before a video switch: None/[] or a list the page can hold."""
    if x is None or x == []:
        return []
    return channels(x, 10**6)


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


def export_width(x: Any) -> str:
    return choice(x, EXPORT_WIDTHS, "export width")


def fig4_mode(x: Any) -> str:
    return choice(x, FIG4_MODES, "Figure 4 mode")


def fig4_scale(x: Any) -> str:
    return choice(x, FIG4_SCALES, "Figure 4 scale")


def phase(x: Any) -> str:
    return choice(x, PHASE_NAMES, "phase")


def curve_number(x: Any, count: int) -> int:
    """The trace index of a click on a figure grid (``clickData.points[0].curveNumber``)."""
    if not isinstance(x, dict) or not isinstance(x.get("points"), list) or not x["points"]:
        raise InvalidInput("click data must be {'points': [{'curveNumber': …}, …]}")
    p = x["points"][0]
    if not isinstance(p, dict):
        raise InvalidInput("a clicked point must be an object")
    return integer(p.get("curveNumber"), 0, max(0, count - 1), "clicked trace")


_INT = re.compile(r"^-?[0-9]{1,12}$")
_NUM = re.compile(r"^[0-9]{1,3}(\.[0-9]{1,6})?$")
_LIST = re.compile(r"^[0-9]{1,6}(,[0-9]{1,6}){0,15}$")
QUERY_KEYS = ("d", "video", "t", "ch", "alpha", "cmap", "scale", "mode", "phase", "scale4",
              "fmt", "width")  # fmt: skip


def query(args: Mapping[str, str]) -> dict[str, Any]:
    """The query string of an export link, each value parsed (strings only, strict patterns)
    into what the callbacks receive; the checks proper are the ones above."""
    out: dict[str, Any] = {}
    extra = set(args) - set(QUERY_KEYS)
    if extra:
        raise InvalidInput(f"unknown export parameter {sorted(extra)[0][:40]!r}")
    for k in QUERY_KEYS:
        v = args.get(k)
        if v is None or len(v) > 200:
            raise InvalidInput(f"export parameter {k!r} is missing or too long")
        if k in ("d", "t"):
            if not _INT.fullmatch(v):
                raise InvalidInput(f"export parameter {k!r} must be an integer")
            out[k] = int(v)
        elif k == "ch":
            if v and not _LIST.fullmatch(v):
                raise InvalidInput("export parameter 'ch' must be comma-separated integers")
            out[k] = [int(c) for c in v.split(",")] if v else []
        elif k == "alpha":
            if not _NUM.fullmatch(v):
                raise InvalidInput("export parameter 'alpha' must be a number")
            out[k] = float(v)
        else:
            out[k] = v
    return out


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
