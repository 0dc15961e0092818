"""Building blocks shared by CPM, RPM and LSTM PM: the image trunk, ConvNet1, ConvNet2, ConvNet3,
the centre map and the probe point.

Layer names follow the reference prototxts' roles (conv1..7 of stage 1, conv1..4 of the encoder,
Mconv1..5 of the generator), so that a reader can hold this file next to
reference-implementation.md §1.
"""

from __future__ import annotations

import torch
from torch import nn

from ..transforms.heatmaps import center_map
from .config import ModelConfig


class ProbePoint(nn.Module):
    """An identity through which one per-frame tensor passes, so forward hooks can see it.

    ``frame`` (the 0-based frame index) is passed as a keyword so that hooks registered with
    ``with_kwargs=True`` can key records by (probe point, frame). With no hook attached the call
    costs one Python function call and changes nothing.
    """

    def forward(self, x: torch.Tensor, frame: int | None = None) -> torch.Tensor:
        return x


def conv(cin: int, cout: int, k: int) -> nn.Conv2d:
    """Stride-1 'same' convolution with bias, as every conv in the reference nets."""
    return nn.Conv2d(cin, cout, k, padding=k // 2)


def pool() -> nn.MaxPool2d:
    """Max pool 3/2 rounding up, as Caffe does: 368 -> 184 -> 92 -> 46."""
    return nn.MaxPool2d(3, 2, ceil_mode=True)


class ImageTrunk(nn.Sequential):
    """conv1..3, each followed by a pool and a ReLU: (B, 3, S, S) -> (B, image_channels, S/8, S/8).

    The reference applies ReLU before the pool; max-pooling commutes with ReLU (both monotone), so
    pooling first gives identical numbers and runs the ReLU on a quarter of the elements (about 10 %
    of a bf16 frame of the paper preset is that ReLU at 368×368).
    """

    def __init__(self, cfg: ModelConfig):
        c, k = cfg.image_channels, cfg.image_kernel
        super().__init__(
            conv(3, c, k), pool(), nn.ReLU(inplace=True),
            conv(c, c, k), pool(), nn.ReLU(inplace=True),
            conv(c, c, k), pool(), nn.ReLU(inplace=True),
        )  # fmt: skip


class FeatureEncoder(nn.Module):
    """ConvNet2 (F in the paper): the image trunk then conv4 -> (B, feature_channels, h, w)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.trunk = ImageTrunk(cfg)
        self.conv4 = conv(cfg.image_channels, cfg.feature_channels, cfg.feature_kernel)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv4(self.trunk(image)))


class InitialBeliefNet(nn.Module):
    """ConvNet1 (CPM stage 1, g0 in Eq. 2): image -> raw belief b0 (B, J+1, h, w), no final ReLU.

    Its own encoder (not shared with ConvNet2), then conv5 + dropout, conv6 (1×1) + dropout and
    conv7 (1×1). Dropout acts in training only.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.encoder = FeatureEncoder(cfg)
        c = cfg.initial_channels
        self.conv5 = conv(cfg.feature_channels, c, cfg.initial_kernel)
        self.drop5 = nn.Dropout(cfg.dropout)
        self.conv6 = conv(c, c, 1)
        self.drop6 = nn.Dropout(cfg.dropout)
        self.conv7 = conv(c, cfg.num_channels, 1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.encoder(image)
        x = self.drop5(torch.relu(self.conv5(x)))
        x = self.drop6(torch.relu(self.conv6(x)))
        return self.conv7(x)


class BeliefGenerator(nn.Sequential):
    """ConvNet3 (g in the paper; CPM's Mconv1..5): (B, cin, h, w) -> belief (B, J+1, h, w).

    Three k×k convs, one 1×1 conv, each with ReLU, then a 1×1 conv to the belief, no ReLU.
    """

    def __init__(self, cfg: ModelConfig, cin: int):
        c, k = cfg.generator_channels, cfg.generator_kernel
        super().__init__(
            conv(cin, c, k), nn.ReLU(inplace=True),
            conv(c, c, k), nn.ReLU(inplace=True),
            conv(c, c, k), nn.ReLU(inplace=True),
            conv(c, c, 1), nn.ReLU(inplace=True),
            conv(c, cfg.num_channels, 1),
        )  # fmt: skip


class CenterMap(nn.Module):
    """The pooled centre map fed to every stage: AVE pool 9/8 rounding up -> (1, 1, h, w)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        # torch.tensor (not from_numpy) follows a `with torch.device(...)` context, e.g. meta
        full = torch.tensor(center_map(cfg.input_size, cfg.center_sigma))[None, None]
        self.register_buffer("full", full, persistent=False)
        self.pool = nn.AvgPool2d(9, 8, ceil_mode=True)

    def forward(self, batch: int) -> torch.Tensor:
        return self.pool(self.full).expand(batch, -1, -1, -1)


def init_weights(module: nn.Module, std: float | None) -> None:
    """Caffe's fillers: gaussian(std) weights and zero biases for every conv (None: PyTorch's)."""
    if std is None:
        return
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, 0.0, std)
            nn.init.zeros_(m.bias)


def check_frame(frame: torch.Tensor, cfg: ModelConfig) -> None:
    if frame.ndim != 4 or frame.shape[1] != 3:
        raise ValueError(f"expected a frame batch (B, 3, H, W), got shape {tuple(frame.shape)}")
    if frame.shape[-2:] != (cfg.input_size, cfg.input_size):
        raise ValueError(
            f"frames must be {cfg.input_size}×{cfg.input_size} crops for this model, "
            f"got {frame.shape[-2]}×{frame.shape[-1]}"
        )


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
