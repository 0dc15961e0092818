"""The memory probe: a context manager that records what passes the model's probe points.

    with MemoryProbe(model, points=MEMORY_PHASES, dtype=torch.float16) as probe:
        model(clip)                       # or model.step(frame, state) frame by frame
    probe.stacked("cell")                 # (T, B, C, h, w)

Interventions change what passes a point, per channel and frame range (:class:`Intervention`):
``zero`` (ablate), ``mean`` (replace by a mean over a reference set) or ``patch`` (the value
recorded from another clip or another frame). They compose with recording — records hold what
actually passed — are removed with the hooks, and never touch the model's weights::

    with MemoryProbe(model, ["cell"], interventions=[Intervention("cell", [7], "zero", frames=(5, None))]):
        model(clip)

One record per (point, frame index): the index comes from the model (the ``frame`` keyword each
probe point is called with), so a module that runs once per frame is never overwritten. Records
are detached (and cast / channel-sliced when asked). ``keep="all"`` holds every record in
``records``; ``keep="latest"`` only each point's last one in ``latest`` (streaming: memory stays
flat in video length); ``keep="none"`` hands records to ``on_record`` alone. Hooks are removed in ``finally`` — after an
exception too — and a requested point that never fired raises :class:`ProbeError`.

Points are named as in :mod:`lstm_probe.models.conv_lstm` (``prev_cell``, ``forget_term``,
``input_term``, ``cell``, ``hidden``, the gates) plus ``belief`` and ``initial_belief``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..models import LSTM_POINTS, MEMORY_PHASES, PoseMachine, ProbePoint
from ..utils import LstmProbeError


class ProbeError(LstmProbeError):
    pass


@dataclass
class Intervention:
    """Change ``channels`` of ``point`` at frames ``start <= t < stop`` (stop None: to the end).

    - ``zero``: set them to 0;
    - ``mean``: set them to ``value`` — (C,) or (C, h, w), e.g. from :func:`mean_of`;
    - ``patch``: set them to recorded values: ``value`` maps a frame index to a tensor (B, C, h, w)
      or (C, h, w) (a probe's ``records[point]``); ``source_offset`` reads frame t + offset of the
      source instead (patch from another frame).
    """

    point: str
    channels: Sequence[int]
    mode: str = "zero"
    frames: tuple[int, int | None] = (0, None)
    value: object = None
    source_offset: int = 0

    def __post_init__(self):
        if self.mode not in ("zero", "mean", "patch"):
            raise ProbeError(f"intervention mode must be zero, mean or patch, got {self.mode!r}")
        if self.mode != "zero" and self.value is None:
            raise ProbeError(f"a {self.mode!r} intervention needs a value")

    def active(self, frame: int) -> bool:
        start, stop = self.frames
        return frame >= start and (stop is None or frame < stop)

    def apply(self, x: torch.Tensor, frame: int) -> torch.Tensor:
        idx = torch.as_tensor(list(self.channels), device=x.device)
        y = x.clone()
        if self.mode == "zero":
            y[:, idx] = 0
            return y
        if self.mode == "mean":
            v = torch.as_tensor(self.value, dtype=x.dtype, device=x.device)
            v = v.view(-1, 1, 1) if v.ndim == 1 else v
            y[:, idx] = v.expand(len(idx), *x.shape[2:])
            return y
        src = frame + self.source_offset
        if src not in self.value:
            raise ProbeError(f"patch for {self.point!r} has no recorded frame {src}")
        v = torch.as_tensor(self.value[src], device=x.device).to(x.dtype)
        v = v if v.ndim == 4 else v.unsqueeze(0)
        y[:, idx] = v[:, idx].expand(x.shape[0], -1, -1, -1) if v.shape[1] == x.shape[1] else v
        return y


def mean_of(records: dict[int, torch.Tensor], channels: Sequence[int]) -> torch.Tensor:
    """Mean map (C, h, w) of some channels over every frame and clip of a reference recording."""
    stack = torch.cat([r.float() for r in records.values()])  # (N·B, C, h, w)
    return stack[:, list(channels)].mean(0)


def probe_points(model: nn.Module) -> dict[str, ProbePoint]:
    """Point name -> module, for every :class:`ProbePoint` the model has: the name is the
    module's own attribute name (``belief``, ``initial_belief``, ``lstm.cell`` -> ``cell``), so a
    new probe point in a model needs no edit here."""
    model = getattr(model, "module", model)
    out: dict[str, ProbePoint] = {}
    for path, mod in model.named_modules():
        if isinstance(mod, ProbePoint):
            name = path.rpartition(".")[2]
            if name in out:
                raise ProbeError(f"two probe points are named {name!r} in {type(model).__name__}")
            out[name] = mod
    return out


KEEP_MODES = ("all", "latest", "none")


class MemoryProbe:
    def __init__(
        self,
        model: PoseMachine,
        points: Sequence[str] = MEMORY_PHASES,
        channels: Sequence[int] | None = None,
        dtype: torch.dtype | None = None,
        on_record: Callable[[str, int, torch.Tensor], None] | None = None,
        keep: str = "all",
        interventions: Sequence[Intervention] = (),
    ):
        available = probe_points(model)
        unknown = [p for p in (*points, *(i.point for i in interventions)) if p not in available]
        if unknown:
            raise ProbeError(
                f"{type(model).__name__} has no probe point {unknown}; "
                f"available: {', '.join(available) or 'none'}"
            )
        self.model, self.points = model, tuple(points)
        self.interventions = list(interventions)
        hooked = dict.fromkeys([*self.points, *(i.point for i in self.interventions)])
        self.modules = {p: available[p] for p in hooked}
        self.channels = None if channels is None else torch.as_tensor(list(channels))
        if keep not in KEEP_MODES:
            raise ProbeError(f"keep must be one of {', '.join(KEEP_MODES)}, got {keep!r}")
        self.dtype, self.on_record, self.keep = dtype, on_record, keep
        self.records: dict[str, dict[int, torch.Tensor]] = {p: {} for p in self.points}
        self.latest: dict[str, torch.Tensor] = {}  # keep="latest": the last record of each point
        self.changed: dict[str, list[int]] = {}  # frames at which each point was intervened on
        self.fired: set[str] = set()
        self._handles: list = []

    def _hook(self, name: str):
        def hook(module, args, kwargs, output):
            frame = kwargs.get("frame")
            if frame is None:
                raise ProbeError(f"probe point {name!r} was called without a frame index")
            replaced = None
            for iv in self.interventions:
                if iv.point == name and iv.active(int(frame)):
                    replaced = iv.apply(output if replaced is None else replaced, int(frame))
            if replaced is not None:
                self.changed.setdefault(name, []).append(int(frame))
                output = replaced
            if name not in self.records:
                return replaced
            x = output.detach()
            if self.channels is not None and name in LSTM_POINTS:
                x = x.index_select(1, self.channels.to(x.device))
            if self.dtype is not None:
                x = x.to(self.dtype)
            self.fired.add(name)
            if self.on_record is not None:
                self.on_record(name, int(frame), x)
            if self.keep == "latest":
                self.latest[name] = x
            elif self.keep == "all":
                if frame in self.records[name]:
                    raise ProbeError(
                        f"frame {frame} of {name!r} recorded twice in one probe session: "
                        "use one session per clip (or call clear())"
                    )
                self.records[name][int(frame)] = x
            return replaced

        return hook

    def __enter__(self) -> MemoryProbe:
        try:
            for name, mod in self.modules.items():
                self._handles.append(mod.register_forward_hook(self._hook(name), with_kwargs=True))
        except BaseException:
            self.remove()
            raise
        return self

    def remove(self) -> None:
        """Remove every hook; safe to call twice."""
        while self._handles:
            self._handles.pop().remove()

    def __exit__(self, exc_type, exc, tb) -> None:
        self.remove()
        if exc_type is None:
            silent = [p for p in self.points if p not in self.fired]
            if silent:
                raise ProbeError(f"requested probe points never fired: {silent}")

    def clear(self) -> None:
        for r in self.records.values():
            r.clear()

    def frames(self, name: str) -> list[int]:
        return sorted(self.records[name])

    def stacked(self, name: str) -> torch.Tensor:
        """(T, B, C, h, w): the records of one point in frame order."""
        rec = self.records[name]
        if not rec:
            raise ProbeError(f"nothing recorded for {name!r}")
        return torch.stack([rec[t] for t in sorted(rec)])
