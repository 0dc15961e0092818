"""Model registry: ``build_model("lstm_pm", preset="small")`` -> an ``nn.Module``.

Go-to-definition works from here: ``MODELS`` maps a name to the class.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from .base import FrameOutput, PoseMachine, StreamState
from .config import PRESETS, ModelConfig, preset_config
from .conv_lstm import GATE_POINTS, LSTM_POINTS, MEMORY_PHASES, ConvLSTMCell
from .cpm import ConvolutionalPoseMachine
from .layers import ProbePoint, count_parameters
from .lstm_pm import LSTMPoseMachine
from .rpm import RecurrentPoseMachine

MODELS: dict[str, type[PoseMachine]] = {
    "lstm_pm": LSTMPoseMachine,
    "rpm": RecurrentPoseMachine,
    "cpm": ConvolutionalPoseMachine,
}

__all__ = [
    "GATE_POINTS",
    "LSTM_POINTS",
    "MEMORY_PHASES",
    "MODELS",
    "PRESETS",
    "ConvLSTMCell",
    "FrameOutput",
    "ModelConfig",
    "PoseMachine",
    "ProbePoint",
    "StreamState",
    "build_model",
    "build_model_from_config",
    "count_parameters",
    "frame_flops",
]


def build_model(
    name: str, preset: str = "small", config: ModelConfig | None = None, **overrides
) -> PoseMachine:
    """Build ``name`` ('lstm_pm', 'rpm' or 'cpm') from a preset (or a full config) + overrides."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    cfg = config if config is not None else preset_config(preset)
    if overrides:
        cfg = replace(cfg, **overrides)
    return MODELS[name](cfg)


def build_model_from_config(section: dict) -> PoseMachine:
    """From a config's ``model`` table: ``name``, ``preset`` (default small) and any
    :class:`ModelConfig` field overriding the preset."""
    fields_ = dict(section)
    name, preset = fields_.pop("name"), fields_.pop("preset", "small")
    config = ModelConfig.from_dict({**preset_config(preset).to_dict(), **fields_})
    return build_model(name, config=config)


def frame_flops(model: PoseMachine, frames: int = 2) -> list[int]:
    """FLOPs of each of the first ``frames`` streamed frames (batch 1), by torch's FLOP counter.

    Runs on the meta device: no arithmetic is done, so the paper preset costs nothing to count.
    Convolutions count 2 FLOPs per multiply-add, as in reference-implementation.md §9.
    """
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        meta = MODELS[model.name](model.config).eval()
    s = model.config.input_size
    out, state = [], None
    with torch.no_grad():
        for _ in range(frames):
            counter = FlopCounterMode(display=False)
            with counter:
                state = meta.step(torch.empty(1, 3, s, s, device="meta"), state).state
            out.append(counter.get_total_flops())
    return out


def model_table(preset: str, names: list[str] | None = None) -> str:
    """``lstm-probe info``: parameters and per-frame FLOPs of each model of a preset."""
    lines = [
        f"preset {preset}",
        f"{'model':<8} {'params':>12} {'GFLOPs frame 1':>15} {'GFLOPs frame t>1':>17}  grid",
    ]
    for name in names or list(MODELS):
        model = build_model(name, preset)
        first, later = frame_flops(model, 2)
        lines.append(
            f"{name:<8} {count_parameters(model):>12,} {first / 1e9:>15.2f} {later / 1e9:>17.2f}"
            f"  {model.grid_size}×{model.grid_size} from {model.config.input_size}"
        )
    return "\n".join(lines)
