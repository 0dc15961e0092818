"""What every benchmark shares: the machine header, timing, and the conv peak."""

from __future__ import annotations

import os
import platform
import statistics
import time
from datetime import datetime, timezone

import numpy as np
import torch
from torch import nn

from ..data.video import ArrayVideo, Video
from ..engine.accel import Accel, bf16_native
from ..engine.stream import FixedCrops, stream_video
from ..transforms.augment import CropPolicy
from ..transforms.heatmaps import HeatmapCodec


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(device: torch.device) -> dict:
    info = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "device": str(device),
        "bf16_native": bf16_native(device),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def header(info: dict) -> str:
    gpu = f", {info['gpu']}" if "gpu" in info else ""
    return (
        f"{info['date']} · {info['cpu']} ({info['cores']} cores){gpu} · torch {info['torch']}, "
        f"{info['threads']} threads · device {info['device']} · native bf16 {info['bf16_native']}"
    )


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median(xs) -> float:
    return float(statistics.median(xs))


def median_interval(xs, level: float = 0.95) -> tuple[float, float, float]:
    """A distribution-free interval for the median of what ``xs`` are draws of (the rounds of a
    benchmark): the k-th smallest and the k-th largest value, k the largest whose coverage
    1 − 2·P(Binomial(n, ½) < k) is at least ``level`` (the sign test's interval) -> (low, high,
    coverage). Too few values to reach ``level``: their whole range, with its lower coverage
    (five values: 93.8 %)."""
    from scipy.stats import binom

    xs = sorted(float(x) for x in xs)
    n = len(xs)
    if n == 0:
        raise ValueError("no values: no interval")
    coverage = lambda k: 1 - 2 * float(binom.cdf(k - 1, n, 0.5))  # noqa: E731
    k = 1
    while k < (n + 1) // 2 and coverage(k + 1) >= level:
        k += 1
    return xs[k - 1], xs[n - k], coverage(k)


def percentile(xs, q: float) -> float:
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, round(q / 100 * (len(xs) - 1))))
    return float(xs[k])


def stream_ms(model: nn.Module, video: Video, device: torch.device) -> list[float]:
    """ms per frame of the model step alone, streaming ``video`` (frames at the model's input
    size, cropped as they are) through a prepared model in its accel."""
    size = model.config.input_size
    crops = FixedCrops(CropPolicy(size), np.eye(2, 3))
    codec = HeatmapCodec(size)
    return [r.step_ms for r in stream_video(model, video, crops, codec, device, timed=True)]


def random_video(size: int, frames: int, seed: int = 1) -> ArrayVideo:
    """``frames`` random uint8 frames of ``size``² — input for timing only."""
    rng = np.random.default_rng(seed)
    return ArrayVideo("random", rng.integers(0, 256, (frames, size, size, 3), dtype=np.uint8))


def conv_peak(accel: Accel, device: torch.device, size: int = 184, repeats: int = 3) -> float:
    """GFLOP/s of the paper preset's dominant layer alone (conv2: 128→128, 9×9, 63 % of a later
    frame's FLOPs) at ``size``² in ``accel``'s precision, in whichever layout runs it faster."""
    flops = 2 * 128 * 128 * 81 * size * size
    best = 0.0
    for layout in ("plain", accel.mode) if accel.mode != "bf16" else ("bf16",):
        a = Accel(layout)
        conv = a.prepare(nn.Sequential(nn.Conv2d(128, 128, 9, padding=4)).to(device))
        x = a.input(torch.randn(1, 128, size, size, device=device))
        times = []
        with torch.inference_mode(), a.autocast(device):
            conv(x)
            for _ in range(repeats):
                sync(device)
                t = time.perf_counter()
                conv(x)
                sync(device)
                times.append(time.perf_counter() - t)
        best = max(best, flops / median(times) / 1e9)
    return best


def table(rows: list[list], head: list[str]) -> str:
    """A plain-text table, numbers right-aligned."""
    cells = [[str(h) for h in head]] + [[_fmt(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(head))]
    lines = []
    for k, r in enumerate(cells):
        lines.append(
            "  ".join(
                c.ljust(w) if k == 0 or not _numeric(c) else c.rjust(w)
                for i, (c, w) in enumerate(zip(r, widths))
            )
        )
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _numeric(c: str) -> bool:
    return c[:1].isdigit() or c[:2].lstrip("+-")[:1].isdigit()


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.1f}" if abs(v) >= 10 else f"{v:.2f}"
    return str(v)
