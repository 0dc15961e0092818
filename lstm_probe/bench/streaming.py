"""Streaming per-frame latency: LSTM PM (first frame, later frames) against CPM on the same frames.

For each preset and inference mode: ms/frame (median over ``rounds`` interleaved clips of each
model), achieved GFLOP/s (FLOPs from torch's
counter, convolutions and all), the speed-up of LSTM PM's later frames over CPM (the paper measured
1.89× on a GPU; the FLOP ratio, 2.47× for the paper preset, is the ceiling), and GFLOP/s as a
fraction of the conv peak measured in the same run in the same precision (:func:`conv_peak`; measured
before the models and again after each mode, the largest reading counts, so noise cannot flatter
the fraction).

:func:`profile` is a per-operator profile (``torch.profiler``) of one later frame of LSTM PM in one
mode, each convolution apart by its input shapes:
``python -m lstm_probe.bench.streaming --profile paper fp32``.
"""

from __future__ import annotations

import copy
import time

import numpy as np
import torch

from ..data.video import ArrayVideo
from ..engine.accel import Accel, resolve_accel
from ..engine.stream import FixedCrops, stream_video
from ..models import build_model, frame_flops
from .common import conv_peak, header, machine, median, random_video, stream_ms, table


def run(
    presets=("small", "paper"),
    accels=("plain", "fp32", "bf16"),
    frames: int = 6,
    device: torch.device | str = "cpu",
    peak_size: int = 184,
    compile: bool = False,
    rounds: int = 3,
) -> dict:
    """``compile`` adds each non-plain mode compiled (its warm-up, compilation included, is
    reported as ``compile_s``)."""
    device = torch.device(device)
    info = machine(device)
    modes = [resolve_accel(a, device) for a in accels if a != "bf16" or info["bf16_native"]]
    peaks = {a.mode: conv_peak(a, device, peak_size) for a in modes}
    if compile:
        modes += [Accel(a.mode, compile=True) for a in modes if a.mode != "plain"]
    rows = []
    for preset in presets:
        torch.manual_seed(0)
        base = {n: build_model(n, preset).to(device).eval() for n in ("lstm_pm", "cpm")}
        first_fl, later_fl = frame_flops(base["lstm_pm"], 2)
        cpm_fl = frame_flops(base["cpm"], 1)[0]
        s = base["lstm_pm"].config.input_size
        clip = random_video(s, frames)
        warm = ArrayVideo("warm-up", clip.array[:3])
        for accel in modes:
            if accel.compile:  # dynamo's cache of `step` is shared by every instance: start anew
                torch._dynamo.reset()
            lstm, cpm = (accel.prepare(copy.deepcopy(base[n])) for n in ("lstm_pm", "cpm"))
            t0 = time.perf_counter()
            # warm-up: allocator, oneDNN caches, compilation (3 frames: the frame index turns
            # dynamic at its second new value, the last recompilation)
            stream_ms(lstm, warm, device)
            stream_ms(cpm, warm, device)
            warmup_s = time.perf_counter() - t0
            lt, ct = [], []
            for _ in range(rounds):  # interleaved, so a burst of noise hits both models alike
                lt.append(stream_ms(lstm, clip, device))
                ct.append(stream_ms(cpm, clip, device))
            first = median([r[0] for r in lt])
            later = median([ms for r in lt for ms in r[1:]])
            cpm_ms = median([ms for r in ct for ms in r])
            # the peak again, next to this mode's runs: the largest reading is the denominator
            peaks[accel.mode] = max(peaks[accel.mode], conv_peak(accel, device, peak_size))
            for model, ms, fl in (
                ("LSTM PM frame 1", first, first_fl),
                ("LSTM PM t>1", later, later_fl),
                ("CPM", cpm_ms, cpm_fl),
            ):
                gfs = fl / ms / 1e6
                rows.append({
                    "preset": preset, "accel": accel.describe(), "model": model, "ms": ms,
                    "gflop": fl / 1e9, "gflops_per_s": gfs, "mode": accel.mode,
                })  # fmt: skip
            rows.append({
                "preset": preset, "accel": accel.describe(), "model": "speed-up t>1 vs CPM",
                "ratio": cpm_ms / later, "flop_ratio": cpm_fl / later_fl, "warmup_s": warmup_s,
            })  # fmt: skip
            del lstm, cpm
    for r in rows:
        if "gflops_per_s" in r:
            r["peak_fraction"] = r["gflops_per_s"] / peaks[r.pop("mode")]
    return {
        "machine": info, "conv_peak_gflops_per_s": peaks, "rows": rows, "peak_size": peak_size,
        "peak_gflop": 2 * 128 * 128 * 81 * peak_size**2 / 1e9, "frames": frames, "rounds": rounds,
    }  # fmt: skip


def report(result: dict) -> str:
    out = [header(result["machine"])]
    out.append(
        f"conv peak (128→128, 9×9 @{result['peak_size']}², {result['peak_gflop']:.1f} GFLOP, "
        "best layout): "
        + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in result["conv_peak_gflops_per_s"].items())
    )
    out.append(
        f"median ms/frame over {result['rounds']} interleaved clips of {result['frames']} frames "
        "per model"
    )
    body, ratios = [], []
    for r in result["rows"]:
        if "ratio" in r:
            ratios.append([r["preset"], r["accel"], r["ratio"], r["flop_ratio"], r["warmup_s"]])
        else:
            body.append([
                r["preset"], r["accel"], r["model"], r["ms"], r["gflop"], r["gflops_per_s"],
                f"{100 * r['peak_fraction']:.0f} %",
            ])  # fmt: skip
    out.append(table(body, ["preset", "accel", "model", "ms/frame", "GFLOP", "GFLOP/s", "of peak"]))
    out.append("\nLSTM PM (later frames) over CPM, same frames, same mode:")
    out.append(table(ratios, ["preset", "accel", "speed-up", "FLOP ratio", "warm-up s (2 models)"]))
    out.append("\nLSTM PM later frames, each mode against plain fp32:")
    plain = {r["preset"]: r["ms"] for r in result["rows"]
             if r.get("model") == "LSTM PM t>1" and r["accel"] == "plain"}  # fmt: skip
    out.append(table(
        [[r["preset"], r["accel"], r["ms"], f"{plain[r['preset']] / r['ms']:.2f}×"]
         for r in result["rows"] if r.get("model") == "LSTM PM t>1" and r["preset"] in plain],
        ["preset", "accel", "ms/frame", "speed-up"],
    ))  # fmt: skip
    return "\n".join(out)


def profile(
    preset: str = "paper",
    accel: str = "fp32",
    device: torch.device | str = "cpu",
    top: int = 12,
) -> dict:
    """Per-operator CPU time of one later frame (the third) of LSTM PM streaming random frames in
    ``accel``, from ``torch.profiler`` (operators grouped by their input shapes, so each
    convolution is a row: its input and weight shapes), after three warm-up frames; ``frame_ms`` is the frame with the profiler
    on."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    from ..transforms.augment import CropPolicy
    from ..transforms.heatmaps import HeatmapCodec

    device = torch.device(device)
    info = machine(device)
    mode = resolve_accel(accel, device)
    torch.manual_seed(0)
    model = mode.prepare(build_model("lstm_pm", preset).to(device).eval())
    size = model.config.input_size
    clip = random_video(size, 3)
    stream_ms(model, clip, device)  # warm-up
    crops = FixedCrops(CropPolicy(size), np.eye(2, 3))
    frames = stream_video(model, clip, crops, HeatmapCodec(size), device)
    next(frames), next(frames)  # frames 1 and 2 unprofiled
    with torch_profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        t0 = time.perf_counter()
        next(frames)
        frame_ms = (time.perf_counter() - t0) * 1000
    frames.close()
    events = [e for e in prof.key_averages(group_by_input_shape=True) if e.self_cpu_time_total > 0]
    events.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
    rows = [
        {
            "op": e.key, "input_shapes": str(e.input_shapes[:2]), "calls": e.count,
            "self_ms": e.self_cpu_time_total / 1000,
        }
        for e in events[:top]
    ]  # fmt: skip
    total = sum(e.self_cpu_time_total for e in events) / 1000
    return {
        "machine": info, "preset": preset, "accel": mode.describe(), "frame_ms": frame_ms,
        "profiled_ms": total, "rows": rows,
    }  # fmt: skip


def report_profile(result: dict) -> str:
    total = result["profiled_ms"]
    rows = [
        [r["op"], r["input_shapes"], r["calls"], r["self_ms"], f"{100 * r['self_ms'] / total:.0f} %"]
        for r in result["rows"]
    ]  # fmt: skip
    return "\n".join([
        header(result["machine"]),
        f"LSTM PM {result['preset']}, {result['accel']}: one later frame, {result['frame_ms']:.1f} "
        f"ms with the profiler on ({total:.1f} ms of operator self time)",
        table(rows, ["operator", "input shapes", "calls", "self ms", "of frame"]),
    ])  # fmt: skip


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="per-operator profile of one later LSTM PM frame")
    ap.add_argument("--profile", nargs=2, metavar=("PRESET", "ACCEL"), default=("paper", "fp32"))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--top", type=int, default=12)
    a = ap.parse_args()
    print(report_profile(profile(*a.profile, device=a.device, top=a.top)))
