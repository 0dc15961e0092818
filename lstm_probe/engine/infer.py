"""Loading a checkpoint for inference: the model in its inference mode, its test crop policy and
the heatmap codec. The streaming loop itself is :mod:`lstm_probe.engine.stream`."""

from __future__ import annotations

import torch

from ..models import PoseMachine
from ..transforms.augment import CropPolicy
from ..transforms.heatmaps import HeatmapCodec
from .accel import Accel, resolve_accel


def load_for_inference(
    checkpoint,
    device: str | torch.device | None = None,
    accel: str | Accel | None = "plain",
    compile: bool = False,
) -> tuple[PoseMachine, dict, CropPolicy, HeatmapCodec]:
    """A checkpoint ready to stream: (model in eval mode, prepared for ``accel`` — see
    :mod:`lstm_probe.engine.accel` —, payload, its test crop policy, codec)."""
    from ..checkpoint import load_checkpoint
    from ..utils import pick_device

    dev = pick_device(device)
    model, payload = load_checkpoint(checkpoint, dev)
    resolve_accel(accel, dev, compile).prepare(model)
    return model, payload, test_policy(model, payload), HeatmapCodec(model.config.input_size)


def test_policy(model: PoseMachine, payload: dict | None = None) -> CropPolicy:
    """The crop policy a checkpoint was trained with (its test transform: mid scale, no rotation),
    else 'fit' at scale 1."""
    crop = ((payload or {}).get("meta", {}).get("config", {}).get("data", {}) or {}).get("crop")
    if crop:
        return CropPolicy.from_config({"scale_range": (1.0, 1.0), **crop}, model.config.input_size)
    return CropPolicy(model.config.input_size, scale_mode="fit", scale_range=(1.0, 1.0))
