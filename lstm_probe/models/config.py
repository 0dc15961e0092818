"""Architecture configuration shared by CPM, RPM and LSTM PM, and its presets.

``paper`` is the authors' network layer for layer (reference-implementation.md §1–2): 368-pixel
input, 46×46 belief maps, 9×9 image convs of 128 channels, a 48-channel conv-LSTM with 3×3 gates
and 11×11 generator convs. ``small`` keeps the structure (three stride-2 pools, the same concat
order, the same LSTM) at 128 pixels with thinner layers, so a 2-core CPU trains it in minutes;
``tiny`` is for tests.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from ..transforms.geometric import grid_size


@dataclass(frozen=True)
class ModelConfig:
    input_size: int = 368  # square crop, pixels
    num_joints: int = 14  # + 1 background channel
    image_channels: int = 128  # conv1..3 of the image trunk
    image_kernel: int = 9
    feature_channels: int = 32  # conv4: the features concatenated with the belief
    feature_kernel: int = 5
    initial_channels: int = 512  # conv5..6 of ConvNet1 (the initial belief net)
    initial_kernel: int = 9  # conv5 of ConvNet1
    hidden_channels: int = 48  # conv-LSTM cell and hidden state
    gate_kernel: int = 3
    generator_channels: int = 128  # ConvNet3 / CPM Mconv1..4
    generator_kernel: int = 11
    dropout: float = 0.5  # after conv5 and conv6 of ConvNet1, training only
    center_sigma: float = 21.0  # centre map Gaussian, input pixels
    stages: int = 6  # CPM only: stages per frame
    # Extra learnable per-gate biases (the reference's Scale layers): g, i, o, f.
    gate_bias_init: tuple[float, float, float, float] = (0.0, 1.4, 0.2, 1.0)
    # Gaussian std of conv weights as Caffe initialises them; None keeps PyTorch's default.
    init_std: float | None = 0.01

    @property
    def num_channels(self) -> int:
        return self.num_joints + 1

    @property
    def stride(self) -> int:
        return 8

    @property
    def grid_size(self) -> int:
        """Belief-map side: three ceil-mode 3/2 max pools (Caffe rounds up): 368 -> 46."""
        return grid_size(self.input_size)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["gate_bias_init"] = list(self.gate_bias_init)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        """From a plain dict (a checkpoint's or a config file's): every value type- and
        range-checked (:data:`LIMITS`) before any layer is built, so a crafted file cannot ask
        for a huge allocation."""
        if not isinstance(d, dict):
            raise ValueError(f"a model config is a table of fields, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(map(str, unknown))}")
        d = dict(d)
        for key, value in d.items():
            if key in LIMITS:
                low, high = LIMITS[key]
                ok_type = isinstance(value, int) and not isinstance(value, bool)
                if not ok_type or not low <= value <= high:
                    raise ValueError(
                        f"{key} must be a whole number in {low}..{high}, got {value!r}"
                    )
            elif key in ("dropout", "center_sigma", "init_std"):
                if key == "init_std" and value is None:
                    continue
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ValueError(f"{key} must be a number, got {value!r}")
                if not 0 <= value < (1 if key == "dropout" else 1e4):
                    raise ValueError(f"{key} = {value!r} is out of range")
        if "gate_bias_init" in d:
            g = d["gate_bias_init"]
            if not isinstance(g, list | tuple) or len(g) != 4:
                raise ValueError(f"gate_bias_init must be 4 numbers (g, i, o, f), got {g!r}")
            try:
                d["gate_bias_init"] = tuple(float(v) for v in g)
            except (TypeError, ValueError):
                raise ValueError(f"gate_bias_init must be 4 numbers, got {g!r}") from None
            if not all(abs(v) < 1e3 for v in d["gate_bias_init"]):
                raise ValueError(f"gate_bias_init must be 4 finite numbers, got {g!r}")
        return cls(**d)


# Bounds of the whole-number fields: far beyond any sensible model, well below what would
# exhaust memory when a crafted checkpoint is loaded.
LIMITS: dict[str, tuple[int, int]] = {
    "input_size": (16, 2048),
    "num_joints": (1, 64),
    "image_channels": (1, 2048),
    "image_kernel": (1, 31),
    "feature_channels": (1, 2048),
    "feature_kernel": (1, 31),
    "initial_channels": (1, 4096),
    "initial_kernel": (1, 31),
    "hidden_channels": (1, 1024),
    "gate_kernel": (1, 31),
    "generator_channels": (1, 2048),
    "generator_kernel": (1, 31),
    "stages": (2, 16),
}

PRESETS: dict[str, ModelConfig] = {
    "paper": ModelConfig(),
    "small": ModelConfig(
        input_size=128,
        image_channels=32,
        image_kernel=5,
        feature_channels=32,
        feature_kernel=5,
        initial_channels=128,
        initial_kernel=7,
        hidden_channels=48,
        generator_channels=64,
        generator_kernel=7,
        center_sigma=21.0 * 128 / 368,
        stages=3,
        init_std=None,
    ),
    "tiny": ModelConfig(
        input_size=64,
        image_channels=8,
        image_kernel=3,
        feature_channels=8,
        feature_kernel=3,
        initial_channels=16,
        initial_kernel=3,
        hidden_channels=8,
        generator_channels=16,
        generator_kernel=3,
        center_sigma=21.0 * 64 / 368,
        stages=2,
        init_std=None,
    ),
}


def preset_config(preset: str, **overrides) -> ModelConfig:
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    return replace(PRESETS[preset], **overrides)
