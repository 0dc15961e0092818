"""Streaming per-frame latency: LSTM PM (first frame, later frames) against CPM on the same frames.

For each preset and inference mode: ms/frame (median over ``rounds`` interleaved clips of each
model), achieved GFLOP/s (FLOPs from torch's
counter, convolutions and all), the speed-up of LSTM PM's later frames over CPM (the paper measured
1.89× on a GPU; the FLOP ratio, 2.47× for the paper preset, is the ceiling), and GFLOP/s as a
fraction of the conv peak measured in the same run in the same precision (:func:`conv_peak`; measured
before the models and again after each mode, the largest reading counts, so noise cannot flatter
the fraction).
"""

from __future__ import annotations

import copy
import time

import torch

from ..data.video import ArrayVideo
from ..engine.accel import Accel, resolve_accel
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
    return {"machine": info, "conv_peak_gflops_per_s": peaks, "rows": rows}


def report(result: dict) -> str:
    out = [header(result["machine"])]
    out.append(
        "conv peak (128→128, 9×9 @184², best layout): "
        + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in result["conv_peak_gflops_per_s"].items())
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
