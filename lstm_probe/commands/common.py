"""What several commands share: the data-source help, the inference options."""

from __future__ import annotations

from ..engine.accel import ACCEL_MODES

SHORT_HELP = "accept a video file whose later frames do not decode (default: an error)"
DATA_HELP = (
    "synthetic[:split[:N[:frames]]], penn:ROOT[:split], jhmdb:ROOT:K[:subset], lsp:ROOT[:split], "
    "lsp-extended:ROOT, mpii:ROOT, A+B, repeat:T:SPEC, own:VIDEO:KEYPOINTS[:train|test], a video "
    "file or a frame folder"
)


def add_inference_options(
    p, default: str = "auto", compile: bool = False, progress: bool = True
) -> None:
    """--device, --accel (--compile) and --no-progress: how a command runs a model."""
    p.add_argument("--device", default="auto")
    p.add_argument(
        "--accel",
        default=default,
        choices=ACCEL_MODES,
        help="inference mode: plain fp32 NCHW; fp32 fastest layout; bf16 autocast; auto = bf16 "
        f"where the device has native bf16, else fp32 (default {default})",
    )
    if compile:
        p.add_argument("--compile", action="store_true", help="torch.compile (long videos)")
    if progress:
        p.add_argument("--no-progress", action="store_true")
