"""The convolutional LSTM of LSTM PM (paper Eq. 4), exactly as the authors' prototxts build it.

Every per-frame tensor of the memory passes through a named :class:`ProbePoint`:

==============  =========================  =================================================
probe point     tensor                     at frame 0 (no previous memory)
==============  =========================  =================================================
prev_cell       C_{t-1}                    zeros (C_0 = 0)
forget_term     f_t ⊙ C_{t-1}              zeros
input_term      i_t ⊙ g_t
cell            C_t = forget + input       C_1 = i ⊙ g (the reference has no forget term)
hidden          h_t = o_t ⊙ tanh(C_t)
input_gate      i_t
forget_gate     f_t                        zeros: frame 0 has no forget gate
output_gate     o_t
candidate       g_t
==============  =========================  =================================================

So every point fires once per frame, the memory identities C_t = f⊙C_{t-1} + i⊙g and
prev_cell(t) = cell(t−1) hold at every frame including the first, and frame 0's undefined
quantities read as zeros (a dump marks them).

Gate pre-activations carry the conv biases plus the reference's extra learnable per-gate
biases (its Scale layers, whose multiplicative weights are frozen at 1):

- frame 0: g = tanh(W_gx*x + b_gx + s_g), i and o likewise; no forget gate, no h-convs.
- frame t>0: g = tanh(W_gx*x + b_gx + W_gh*h + b_gh + s_g), f, i and o likewise.

The x-convs of g, i and o are the same modules at frame 0 and later frames (weights shared).
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import ProbePoint, conv

MEMORY_PHASES = ("prev_cell", "forget_term", "input_term", "cell")
GATE_POINTS = ("input_gate", "forget_gate", "output_gate", "candidate")
LSTM_POINTS = (*MEMORY_PHASES, "hidden", *GATE_POINTS)


class ConvLSTMCell(nn.Module):
    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        kernel: int = 3,
        bias_init: tuple[float, float, float, float] = (0.0, 1.4, 0.2, 1.0),
    ):
        super().__init__()
        cin, ch = in_channels, hidden_channels
        self.hidden_channels = ch
        # Convs on the input x_t, shared by frame 0 and later frames (f only exists for t>0).
        self.g_x, self.i_x, self.o_x, self.f_x = (conv(cin, ch, kernel) for _ in range(4))
        # Convs on the previous hidden state h_{t-1} (t>0 only).
        self.g_h, self.i_h, self.o_h, self.f_h = (conv(ch, ch, kernel) for _ in range(4))
        g0, i0, o0, f0 = bias_init
        self.g_bias = nn.Parameter(torch.full((ch,), float(g0)))
        self.i_bias = nn.Parameter(torch.full((ch,), float(i0)))
        self.o_bias = nn.Parameter(torch.full((ch,), float(o0)))
        self.f_bias = nn.Parameter(torch.full((ch,), float(f0)))
        for name in LSTM_POINTS:
            self.add_module(name, ProbePoint())

    @staticmethod
    def _b(bias: torch.Tensor) -> torch.Tensor:
        return bias.view(1, -1, 1, 1)

    def forward(
        self,
        x: torch.Tensor,
        state: tuple[torch.Tensor, torch.Tensor] | None,
        frame: int,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, in, h, w); state: (h_{t-1}, C_{t-1}) or None at the first frame -> (h_t, C_t)."""
        if state is None:
            g = torch.tanh(self.g_x(x) + self._b(self.g_bias))
            i = torch.sigmoid(self.i_x(x) + self._b(self.i_bias))
            o = torch.sigmoid(self.o_x(x) + self._b(self.o_bias))
            f = c_prev = torch.zeros_like(g)
        else:
            h, c_prev = state
            g = torch.tanh(self.g_x(x) + self.g_h(h) + self._b(self.g_bias))
            i = torch.sigmoid(self.i_x(x) + self.i_h(h) + self._b(self.i_bias))
            o = torch.sigmoid(self.o_x(x) + self.o_h(h) + self._b(self.o_bias))
            f = torch.sigmoid(self.f_x(x) + self.f_h(h) + self._b(self.f_bias))
        g = self.candidate(g, frame=frame)
        i = self.input_gate(i, frame=frame)
        o = self.output_gate(o, frame=frame)
        f = self.forget_gate(f, frame=frame)
        c_prev = self.prev_cell(c_prev, frame=frame)
        forget = self.forget_term(f * c_prev, frame=frame)
        inflow = self.input_term(i * g, frame=frame)
        c = self.cell(forget + inflow, frame=frame)
        h = self.hidden(o * torch.tanh(c), frame=frame)
        return h, c
