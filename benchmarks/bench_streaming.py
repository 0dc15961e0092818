"""Streaming per-frame latency: LSTM PM (first frame, later frames) against CPM on the same frames.

Prints, for each preset, ms/frame, achieved GFLOP/s (FLOPs from torch's counter), the LSTM PM /
CPM speed ratio (the paper measured 1.89× on a GPU; the FLOP ratio ceiling is 2.47× for the paper
preset), and GFLOP/s as a fraction of a conv peak measured in the same run (the paper preset's
dominant layer alone: 128→128, 9×9, at 184×184).

    python benchmarks/bench_streaming.py [--presets paper small] [--frames 6] [--device auto]
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from lstm_probe.models import build_model, frame_flops
from lstm_probe.utils import pick_device


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def conv_peak(dev, repeats=3) -> float:
    conv = torch.nn.Conv2d(128, 128, 9, padding=4).to(dev).eval()
    x = torch.randn(1, 128, 184, 184, device=dev)
    flops = 2 * 128 * 128 * 81 * 184 * 184
    with torch.inference_mode():
        conv(x)
        sync(dev)
        t = time.perf_counter()
        for _ in range(repeats):
            conv(x)
        sync(dev)
    return flops * repeats / (time.perf_counter() - t) / 1e9


def stream_ms(model, frames, dev) -> list[float]:
    out, state = [], None
    with torch.inference_mode():
        for f in frames:
            sync(dev)
            t = time.perf_counter()
            state = model.step(f, state).state
            sync(dev)
            out.append((time.perf_counter() - t) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--presets", nargs="+", default=["small", "paper"])
    ap.add_argument("--frames", type=int, default=6)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    dev = pick_device(args.device)
    print(
        f"device {dev}, torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.machine()}"
    )
    peak = conv_peak(dev)
    print(f"conv peak (128→128, 9×9 @184²): {peak:.1f} GFLOP/s")
    for preset in args.presets:
        torch.manual_seed(0)
        lstm = build_model("lstm_pm", preset).to(dev).eval()
        cpm = build_model("cpm", preset).to(dev).eval()
        s = lstm.config.input_size
        frames = [torch.randn(1, 3, s, s, device=dev) for _ in range(args.frames)]
        stream_ms(lstm, frames[:2], dev)  # warm-up
        stream_ms(cpm, frames[:2], dev)
        lt, ct = stream_ms(lstm, frames, dev), stream_ms(cpm, frames, dev)
        f_first, f_later = frame_flops(lstm, 2)
        f_cpm = frame_flops(cpm, 1)[0]
        later = sorted(lt[1:])[len(lt[1:]) // 2]
        cpm_ms = sorted(ct)[len(ct) // 2]
        print(f"\npreset {preset} ({s}×{s})")
        for name, ms, fl in (
            ("LSTM PM frame 1", lt[0], f_first),
            ("LSTM PM t>1", later, f_later),
            ("CPM", cpm_ms, f_cpm),
        ):
            gfs = fl / ms / 1e6
            print(
                f"  {name:<16} {ms:8.1f} ms/frame  {gfs:7.1f} GFLOP/s  {100 * gfs / peak:5.1f} % of peak"
            )
        print(
            f"  speed-up LSTM PM (t>1) over CPM: {cpm_ms / later:.2f}× (FLOP ratio {f_cpm / f_later:.2f}×)"
        )


if __name__ == "__main__":
    main()
