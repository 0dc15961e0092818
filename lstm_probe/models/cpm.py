"""Convolutional Pose Machine (Wei et al., CVPR 2016), the per-frame baseline, as released.

Per frame, independently of the others:

    stage 1:   b1 = ConvNet1(X)
    trunk:     T  = conv1..3 + pools (128 channels at stride 8), computed once per frame
    stage s≥2: b_s = Mconv_s([conv4_s(T) (32), b_{s-1} (15), centre (1)])

Stage 2's conv4 and stages 3..S's conv1 are one 5×5 conv each on the shared trunk; every stage
has its own generator. The frame's prediction is the last stage's belief.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import FrameOutput, PoseMachine, StreamState
from .config import ModelConfig
from .layers import BeliefGenerator, ImageTrunk, InitialBeliefNet, ProbePoint, conv, init_weights


class ConvolutionalPoseMachine(PoseMachine):
    name = "cpm"

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        if cfg.stages < 2:
            raise ValueError("a CPM needs at least 2 stages")
        self.initial = InitialBeliefNet(cfg)
        self.trunk = ImageTrunk(cfg)
        cin = cfg.feature_channels + cfg.num_channels + 1
        self.stage_features = nn.ModuleList(
            conv(cfg.image_channels, cfg.feature_channels, cfg.feature_kernel)
            for _ in range(cfg.stages - 1)
        )
        self.generators = nn.ModuleList(BeliefGenerator(cfg, cin) for _ in range(cfg.stages - 1))
        self.initial_belief = ProbePoint()
        init_weights(self, cfg.init_std)

    def step(self, frame: torch.Tensor, state: StreamState | None = None) -> FrameOutput:
        self._check(frame)
        t = 0 if state is None else state.frame + 1
        center = self.center(frame.shape[0])
        belief = self.initial_belief(self.initial(frame), frame=t)
        stages = [belief]
        trunk = self.trunk(frame)
        for feat, gen in zip(self.stage_features, self.generators):
            belief = gen(torch.cat([torch.relu(feat(trunk)), belief, center], dim=1))
            stages.append(belief)
        belief = self.belief(belief, frame=t)
        return FrameOutput(belief, tuple(stages), StreamState(t))
