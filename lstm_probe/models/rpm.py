"""Recurrent Pose Machine: the paper's Eq. 2, i.e. LSTM PM with the LSTM removed.

    frame 0:  b0 = ConvNet1(X_0);  b_0 = g([F(X_0), b0, centre])
    frame t:  b_t = g([F(X_t), b_{t-1}, centre])

F (ConvNet2) and g (ConvNet3, here fed the 48-channel concat directly) are shared over frames.

The first frame: Eq. 2 writes b_1 = g0(X_1). Like LSTM PM's first frame (and CPM's stages 1–2),
we refine ConvNet1's belief once with g on the same image, and supervise both beliefs. With that,
the LSTM is the only difference between RPM and LSTM PM, which is what the comparison is for.
"""

from __future__ import annotations

import torch

from .base import FrameOutput, PoseMachine, StreamState
from .config import ModelConfig
from .layers import BeliefGenerator, FeatureEncoder, InitialBeliefNet, ProbePoint, init_weights


class RecurrentPoseMachine(PoseMachine):
    name = "rpm"

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        self.initial = InitialBeliefNet(cfg)
        self.encoder = FeatureEncoder(cfg)
        self.generator = BeliefGenerator(cfg, cfg.feature_channels + cfg.num_channels + 1)
        self.initial_belief = ProbePoint()
        init_weights(self, cfg.init_std)

    def step(self, frame: torch.Tensor, state: StreamState | None = None) -> FrameOutput:
        self._check(frame)
        features = self.encoder(frame)
        if state is None:
            t = 0
            prev = self.initial_belief(self.initial(frame), frame=0)
            supervised: tuple[torch.Tensor, ...] = (prev,)
        else:
            t, prev, supervised = state.frame + 1, state.belief, ()
        x = torch.cat([features, prev, self.center(frame.shape[0])], dim=1)
        belief = self.belief(self.generator(x), frame=t)
        return FrameOutput(belief, (*supervised, belief), StreamState(t, belief))
