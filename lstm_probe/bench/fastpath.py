"""The fast inference modes against plain fp32, on a trained checkpoint and the synthetic set.

Per mode: end-to-end streaming frames/s over the test videos (crop, model, decoding) and its
speed-up over ``plain``; the largest absolute difference of any belief-map value from ``plain``
(beliefs peak near 1); PCK@0.2 and its difference from ``plain``; and, in a dump made in that mode,
the memory identity C_t = f⊙C_{t-1} + i⊙g on the stored float16 data (relative to the largest
|C|), with the largest memory difference from the plain dump; and prev_cell(t) = cell(t−1) on
what the model records in that mode (the dump stores the cell once and relies on it).
Once for all modes: ms per frame of rendering the synthetic test frames alone (the input side of
the end-to-end rate).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ..data import SyntheticVideos
from ..engine.dump import DumpOptions, dump_videos
from ..engine.evaluate import collect, score
from ..engine.infer import load_for_inference
from ..engine.stream import crops_for, stream_video
from ..probe.inspect import memory_identity_errors
from ..probe.recorder import MemoryProbe
from ..probe.store import open_dump
from .common import header, machine, table


def _stream_all(model, videos, policy, codec, device):
    """(frames/s, every frame's beliefs, PCK records) of the evaluation's own streaming path."""
    t = time.perf_counter()
    records = collect(model, videos, policy, codec, device, beliefs=True)
    fps = sum(len(r["pred"]) for r in records) / (time.perf_counter() - t)
    return fps, np.concatenate([r["beliefs"] for r in records]), records


def recorded_chain_error(model, video, policy, codec, device) -> float:
    """max |prev_cell(t) − cell(t−1)| of what the model records over ``video``, relative to the
    largest |cell| (0: the recorded C_{t-1} is the cell before, bit for bit)."""
    last, worst, top = None, 0.0, 0.0
    with MemoryProbe(model, ["prev_cell", "cell"], keep="latest") as probe:
        for _ in stream_video(model, video, crops_for(video, policy), codec, device):
            rec = probe.latest
            cell = rec["cell"].float()
            if last is not None:
                worst = max(worst, float((rec["prev_cell"].float() - last).abs().max()))
            last, top = cell, max(top, float(cell.abs().max()))
    return worst / max(top, 1e-6)


def render_ms(videos) -> float:
    """ms per frame of rendering every frame of ``videos`` (no model, no crop)."""
    n, t = 0, time.perf_counter()
    for v in videos:
        for _ in v.frames(0, None):
            n += 1
    return (time.perf_counter() - t) * 1000 / max(n, 1)


def run(
    checkpoint,
    accels=("plain", "fp32", "bf16"),
    videos: int = 16,
    frames: int = 48,
    dump_videos_n: int = 2,
    device: torch.device | str = "cpu",
) -> dict:
    device = torch.device(device)
    info = machine(device)
    test = list(SyntheticVideos(split="test", num_videos=videos, num_frames=frames))
    accels = [a for a in accels if a != "bf16" or info["bf16_native"]]
    if "plain" not in accels:
        accels = ["plain", *accels]
    rows, ref, ref_mem = [], None, None
    render = render_ms(test)
    with tempfile.TemporaryDirectory() as tmp:
        for mode in accels:
            model, _, policy, codec = load_for_inference(checkpoint, device, mode)
            _stream_all(model, test[:1], policy, codec, device)  # warm-up
            fps, beliefs, records = _stream_all(model, test, policy, codec, device)
            pck = score(records)["pck@0.2"]["overall"]
            out = dump_videos(checkpoint, test[:dump_videos_n], Path(tmp) / mode,
                              DumpOptions(accel=mode), device, progress=False)  # fmt: skip
            dump = open_dump(out)
            mem = [dump.video(v).memory[()].astype(np.float32) for v in dump.video_ids]
            dump.close()
            errs = np.array([memory_identity_errors(m) for m in mem])
            chain = recorded_chain_error(model, test[0], policy, codec, device)
            if mode == "plain":
                ref, ref_mem = {"fps": fps, "beliefs": beliefs, "pck": pck}, mem
            mem_diff = max(float(np.abs(a - b).max()) for a, b in zip(mem, ref_mem))
            rows.append({
                "accel": mode, "fps": fps, "speedup": fps / ref["fps"],
                "max_belief_diff": float(np.abs(beliefs - ref["beliefs"]).max()),
                "pck": pck, "pck_diff": pck - ref["pck"],
                "identity_err": float(errs[:, 0].max()), "chain_err": chain,
                "max_memory_diff": mem_diff,
                "max_abs_memory": max(float(np.abs(m).max()) for m in ref_mem),
            })  # fmt: skip
    return {
        "machine": info, "checkpoint": str(checkpoint), "videos": videos, "frames": frames,
        "dumped_videos": dump_videos_n, "render_ms": render, "rows": rows,
    }  # fmt: skip


def report(result: dict) -> str:
    rows = [
        [r["accel"], r["fps"], f"{r['speedup']:.2f}×", f"{r['max_belief_diff']:.1e}", r["pck"],
         f"{r['pck_diff']:+.2f}", f"{r['identity_err']:.1e}", f"{r['chain_err']:.1e}",
         f"{r['max_memory_diff']:.1e}"]
        for r in result["rows"]
    ]  # fmt: skip
    return "\n".join([
        header(result["machine"]),
        f"{result['checkpoint']} on {result['videos']} synthetic test videos × "
        f"{result['frames']} frames (end to end: rendering, crop, model, decoding)"
        f"; {result['dumped_videos']} of them dumped per mode",
        table(rows, ["accel", "frames/s", "speed-up", "max |Δbelief|", "PCK@0.2", "ΔPCK",
                     "C=fC+ig err", "recorded chain err", "max |Δmemory|"]),
        f"rendering the synthetic frames alone: {result['render_ms']:.2f} ms/frame",
        f"largest |memory| in the plain dump: {result['rows'][0]['max_abs_memory']:.2f}",
    ])  # fmt: skip
