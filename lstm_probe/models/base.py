"""What CPM, RPM and LSTM PM have in common: one frame at a time, two ways to run.

- ``step(frame, state)`` — streaming: one frame (B, 3, S, S) and the state from the previous
  frame (None at the first) -> a :class:`FrameOutput` with that frame's belief and the new state.
- ``forward(frames)`` — a clip (B, T, 3, S, S): calls ``step`` frame by frame, so the clip
  forward and streaming run the same operations and give identical numbers.

Input frames are crops normalised as the reference does: (pixel − 128) / 256, BGR channel order
(see :func:`lstm_probe.transforms.geometric.to_network_input`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .config import ModelConfig
from .layers import CenterMap, ProbePoint, check_frame


@dataclass
class StreamState:
    """Carried from one frame to the next. ``frame`` is the index of the frame just processed."""

    frame: int
    belief: torch.Tensor | None = None  # b_t, fed to the next frame (RPM, LSTM PM)
    hidden: torch.Tensor | None = None  # h_t (LSTM PM)
    cell: torch.Tensor | None = None  # C_t (LSTM PM)

    def detach(self) -> StreamState:
        def d(x):
            return None if x is None else x.detach()

        return StreamState(self.frame, d(self.belief), d(self.hidden), d(self.cell))


@dataclass
class FrameOutput:
    belief: torch.Tensor  # (B, J+1, h, w): the frame's final belief
    stages: tuple[torch.Tensor, ...]  # every supervised belief of this frame, the final one last
    state: StreamState


class PoseMachine(nn.Module):
    """Base of the three models. Subclasses implement ``step``."""

    name: str = ""
    has_memory: bool = False

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.config = cfg
        self.center = CenterMap(cfg)
        self.belief = ProbePoint()  # the belief of every frame (probe point "belief")

    @property
    def grid_size(self) -> int:
        return self.config.grid_size

    def step(self, frame: torch.Tensor, state: StreamState | None = None) -> FrameOutput:
        raise NotImplementedError

    def forward(self, frames: torch.Tensor) -> dict:
        """frames: (B, T, 3, S, S) -> {"beliefs": (B, T, J+1, h, w), "stages": [per-frame tuples]}.

        ``stages[t]`` holds every belief supervised at frame t (for LSTM PM's first frame: the
        initial belief of ConvNet1, then the frame's belief), which the loss of Eq. 5 sums over.
        """
        if frames.ndim != 5:
            raise ValueError(f"expected a clip (B, T, 3, H, W), got shape {tuple(frames.shape)}")
        state = None
        beliefs, stages = [], []
        for t in range(frames.shape[1]):
            out = self.step(frames[:, t], state)
            state = out.state
            beliefs.append(out.belief)
            stages.append(out.stages)
        return {"beliefs": torch.stack(beliefs, 1), "stages": stages, "state": state}

    def _check(self, frame: torch.Tensor) -> None:
        check_frame(frame, self.config)
