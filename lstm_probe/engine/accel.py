"""The fast inference path: memory layout, precision and compilation, chosen once per run.

An :class:`Accel` says how a model runs frames:

==========  =================================================================================
``plain``   fp32, NCHW, eager: the reference numbers (training, tests of exactness)
``fp32``    fp32 with the layout that measures fastest per layer on CPU (oneDNN): image trunks
            channels-last, belief generators NCHW (11×11 convs on 46×46 maps run ~1.5× faster
            so); on CUDA everything channels-last. Same numbers as ``plain`` up to summation order
``bf16``    channels-last with bf16 autocast for the convolutions; conv weights are cast once.
            The gate biases stay fp32, so the gates, the memory C_t and h_t are computed in fp32
            and the memory identity C_t = f⊙C_{t-1} + i⊙g holds as in fp32
``auto``    ``bf16`` where the device runs bf16 natively (a CPU with AVX512-BF16 or AMX, a CUDA
            GPU with bf16), else ``fp32``
==========  =================================================================================

``compile=True`` wraps the step function in :func:`torch.compile` (worth it on long runs without a
probe: the first frames pay tens of seconds of compilation; probe hooks would break its graphs);
on CUDA in mode ``reduce-overhead``, which replays each frame as a CUDA graph.

Usage (:func:`lstm_probe.engine.stream.stream_video` does this for a prepared model)::

    accel = resolve_accel("auto", device)
    accel.prepare(model)                   # in place: layout, weight dtype; model.accel = accel
    with torch.inference_mode(), accel.autocast(device):
        out = step_of(model)(accel.input(x), state)

``lstm-probe bench fast`` measures each mode's speed and its accuracy against ``plain``
(docs/performance.md).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

from ..models.layers import BeliefGenerator

ACCEL_MODES = ("auto", "plain", "fp32", "bf16")


def bf16_native(device: torch.device | str) -> bool:
    """Whether the device computes bf16 convolutions in hardware (else bf16 is emulated, slower)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # older builds without the CPU capability queries
        return False


@dataclass(frozen=True)
class Accel:
    mode: str = "plain"  # plain | fp32 | bf16 (resolved, never "auto")
    compile: bool = False

    def __post_init__(self):
        if self.mode not in ACCEL_MODES[1:]:
            raise ValueError(
                f"accel mode must be one of {', '.join(ACCEL_MODES[1:])}, got {self.mode!r}"
            )

    @property
    def channels_last(self) -> bool:
        return self.mode != "plain"

    def describe(self) -> str:
        return self.mode + ("+compile" if self.compile else "")

    def prepare(self, model: nn.Module) -> nn.Module:
        """Put ``model`` (in eval mode, for inference only) into this mode's layout and weight dtype,
        in place. Run it under :meth:`autocast` afterwards. A model is prepared once: preparing
        it again for the same mode does nothing, for another mode is refused (its weights may be
        bf16 already; load it anew)."""
        done = getattr(model, "accel", None)
        if done is not None:
            if done != self:
                raise ValueError(f"model already prepared for {done.describe()}; load it anew")
            return model
        model.eval()
        model.accel = self
        device = next(model.parameters()).device
        # on CUDA "reduce-overhead": CUDA graphs replay a frame's hundreds of kernel launches as
        # one (batch-1 frames are launch-bound there); the stream marks each step's start
        mode = "reduce-overhead" if device.type == "cuda" else None
        model.compiled_step = torch.compile(model.step, mode=mode) if self.compile else None
        if not self.channels_last:
            return model
        model.to(memory_format=torch.channels_last)
        if self.mode == "fp32" and device.type == "cpu":
            for m in model.modules():
                if isinstance(m, BeliefGenerator):
                    m.to(memory_format=torch.contiguous_format)
                    m.register_forward_pre_hook(_contiguous_inputs)
        if self.mode == "bf16":
            for m in model.modules():
                if isinstance(m, nn.Conv2d):
                    m.to(torch.bfloat16)
        return model

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def input(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def autocast(self, device: torch.device | str):
        if self.mode != "bf16":
            return contextlib.nullcontext()
        return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)


def accel_of(model: nn.Module) -> Accel:
    """How ``model`` was prepared (:meth:`Accel.prepare`); ``plain`` if it never was."""
    return getattr(model, "accel", None) or Accel()


def step_of(model: nn.Module):
    """The model's ``step`` as its accel runs it (compiled when asked)."""
    return getattr(model, "compiled_step", None) or model.step


def _contiguous_inputs(module, args):
    return tuple(a.contiguous() if isinstance(a, torch.Tensor) else a for a in args)


def resolve_accel(
    spec: str | Accel | None, device: torch.device | str, compile: bool = False
) -> Accel:
    """``auto`` | ``plain`` | ``fp32`` | ``bf16`` (None: ``plain``) -> an :class:`Accel` for ``device``.
    An explicit ``bf16`` on a device without native bf16 is refused: it would run slower than fp32."""
    if isinstance(spec, Accel):
        return spec
    spec = spec or "plain"
    if spec not in ACCEL_MODES:
        raise ValueError(f"--accel must be one of {', '.join(ACCEL_MODES)}, got {spec!r}")
    native = bf16_native(device)
    if spec == "auto":
        spec = "bf16" if native else "fp32"
    elif spec == "bf16" and not native:
        raise ValueError(
            f"--accel bf16: {torch.device(device)} has no native bf16 (AVX512-BF16/AMX or a bf16 "
            "GPU); use fp32"
        )
    return Accel(spec, compile)
