"""LSTM Pose Machines (Luo et al., CVPR 2018), Eq. 3, as the authors' Caffe nets compute it.

    frame 0:  b0 = ConvNet1(X_0)                       (initial belief, supervised)
              x  = [ConvNet2(X_0) (32), b0 (15), centre (1)]            48 channels
              h, C = LSTM_first(x);  b_0 = ConvNet3(h)
    frame t:  x  = [ConvNet2(X_t), b_{t-1}, centre]
              h, C = LSTM(x, h, C);  b_t = ConvNet3(h)

ConvNet2, the LSTM and ConvNet3 are one set of weights used at every frame; ConvNet1 runs on the
first frame only. One stage per frame: after the first frame the cost is ConvNet2 + LSTM +
ConvNet3, which is why LSTM PM is about twice as fast per frame as a 6-stage CPM.
"""

from __future__ import annotations

import torch

from .base import FrameOutput, PoseMachine, StreamState
from .config import ModelConfig
from .conv_lstm import ConvLSTMCell
from .layers import BeliefGenerator, FeatureEncoder, InitialBeliefNet, ProbePoint, init_weights


class LSTMPoseMachine(PoseMachine):
    name = "lstm_pm"
    has_memory = True

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        self.initial = InitialBeliefNet(cfg)  # ConvNet1
        self.encoder = FeatureEncoder(cfg)  # ConvNet2
        lstm_in = cfg.feature_channels + cfg.num_channels + 1
        self.lstm = ConvLSTMCell(lstm_in, cfg.hidden_channels, cfg.gate_kernel, cfg.gate_bias_init)
        self.generator = BeliefGenerator(cfg, cfg.hidden_channels)  # ConvNet3
        self.initial_belief = ProbePoint()
        init_weights(self, cfg.init_std)

    def step(self, frame: torch.Tensor, state: StreamState | None = None) -> FrameOutput:
        self._check(frame)
        batch = frame.shape[0]
        features = self.encoder(frame)  # (B, 32, h, w)
        if state is None:
            t = 0
            prev_belief = self.initial_belief(self.initial(frame), frame=0)  # (B, J+1, h, w)
            memory = None
            supervised: tuple[torch.Tensor, ...] = (prev_belief,)
        else:
            t = state.frame + 1
            prev_belief, memory = state.belief, (state.hidden, state.cell)
            supervised = ()
        x = torch.cat([features, prev_belief, self.center(batch)], dim=1)  # (B, 48, h, w)
        h, c = self.lstm(x, memory, frame=t)
        belief = self.belief(self.generator(h), frame=t)
        return FrameOutput(belief, (*supervised, belief), StreamState(t, belief, h, c))
