"""What every benchmark shares: the machine header, timing, and the conv peak."""

from __future__ import annotations

import os
import platform
import statistics
import time
from datetime import datetime, timezone

import torch
from torch import nn

from ..engine.accel import Accel, accel_of, bf16_native, step_of


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


def percentile(xs, q: float) -> float:
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, round(q / 100 * (len(xs) - 1))))
    return float(xs[k])


def stream_ms(model: nn.Module, frames: list[torch.Tensor], device: torch.device) -> list[float]:
    """ms per frame of streaming ``frames`` through a prepared model (its accel), one clip."""
    accel, step = accel_of(model), step_of(model)
    out, state = [], None
    with torch.inference_mode():
        for f in frames:
            x = accel.input(f)
            sync(device)
            t = time.perf_counter()
            with accel.autocast(device):
                state = step(x, state).state
            sync(device)
            out.append((time.perf_counter() - t) * 1000)
    return out


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
