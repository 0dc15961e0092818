"""The GPU check: every scale-up figure in one run, each next to its goal (``make gpu-check``,
i.e. ``lstm-probe bench gpu --device cuda``; under 8 minutes on one GPU).

- training: optimisation steps/s at batch 4 × T = 5 on the paper preset (synthetic clips, as
  ``lstm-probe train`` runs them: bf16 autocast and channels-last on CUDA, ``--compile`` adds
  ``torch.compile``; the DataLoader's workers, pinned memory and prefetch), and the share of a step
  spent waiting for data;
- batch-1 streaming: the later frames' ms (bf16; on CUDA compiled in mode ``reduce-overhead``,
  CUDA graphs), the model step alone;
- batched streaming: frames/s of many videos streamed at once (:func:`stream_batch`), end to end;
- the dump against plain streaming, frames/s, on one video (device-to-host copies overlapped,
  the writer in its own thread).

``--quick`` runs the same code on the tiny preset in seconds, on any device (CI runs it on CPU);
its figures say nothing about a GPU.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ..config import load_config
from ..data import SyntheticVideos
from ..data.video import ArrayVideo
from ..engine.accel import Accel, resolve_accel
from ..engine.dump import dump_model
from ..engine.infer import test_policy
from ..engine.stream import FixedCrops, crops_for, stream_batch, stream_video
from ..engine.train import train
from ..models import build_model
from ..transforms.augment import CropPolicy
from ..transforms.heatmaps import HeatmapCodec
from .common import header, machine, median, random_video, stream_ms, sync, table


def run(device: torch.device | str = "cuda", quick: bool = False, compile: bool = False) -> dict:
    device = torch.device(device)
    cuda = device.type == "cuda"
    preset = "tiny" if quick else "paper"
    result = {"machine": machine(device), "preset": preset, "quick": quick}
    result["train"] = train_rate(device, preset, *((2, 2, 1, 2) if quick else (4, 5, 5, 30)),
                                 compile=compile and cuda)  # fmt: skip
    accel = resolve_accel("auto", device, compile=cuda and not quick)
    result["stream"] = later_frames(device, preset, accel, 4 if quick else 40)
    result["batched"] = batched(device, preset, resolve_accel("auto", device),
                                *((2, 3) if quick else (64, 12)))  # fmt: skip
    result["dump"] = dump_rate(device, preset, 6 if quick else 120)
    return result


def train_rate(device, preset: str, batch: int, clip: int, warmup: int, steps: int,
               compile: bool = False) -> dict:  # fmt: skip
    """Optimisation steps/s (median over ``steps`` after ``warmup``) and the data wait share."""
    cuda = device.type == "cuda"
    workers = min(8, os.cpu_count() or 1) if cuda else 0
    overrides = [
        f"model.preset={preset}", f"optim.batch_size={batch}", f"data.clip_length={clip}",
        f"data.synthetic.num_frames={clip}", f"run.workers={workers}",
        f"run.checkpoint_every={10**9}", f"run.amp={'bf16' if cuda else 'null'}",
        f"run.channels_last={str(cuda).lower()}", f"run.compile={str(compile).lower()}",
        "run.prefetch=4",
    ]  # fmt: skip
    cfg = load_config("synthetic_lstm_pm_small", overrides)
    with tempfile.TemporaryDirectory() as tmp:
        train(cfg, tmp, device=str(device), progress=False, max_steps=warmup + steps)
        log = [json.loads(x) for x in (Path(tmp) / "metrics.jsonl").read_text().splitlines()]
    log = log[warmup:]
    return {
        "preset": preset, "batch": batch, "clip_length": clip, "workers": workers,
        "amp": cfg["run"]["amp"], "compile": compile,
        "steps_per_s": median([r["clips_per_s"] for r in log]) / batch,
        "data_share": float(np.mean([r["data_share"] for r in log])),
    }  # fmt: skip


def later_frames(device, preset: str, accel: Accel, frames: int) -> dict:
    """Batch-1 ms of LSTM PM's later frames (the model step alone, median), after a warm-up
    (compilation and graph capture included in ``warmup_s``)."""
    torch.manual_seed(0)
    model = accel.prepare(build_model("lstm_pm", preset).to(device).eval())
    size = model.config.input_size
    t0 = time.perf_counter()
    stream_ms(model, random_video(size, 4), device)
    warmup_s = time.perf_counter() - t0
    ms = stream_ms(model, random_video(size, frames), device)
    how = accel.describe() + (" (CUDA graphs)" if accel.compile and device.type == "cuda" else "")
    return {"preset": preset, "how": how, "later_ms": median(ms[1:]), "first_ms": ms[0],
            "warmup_s": warmup_s, "frames": frames}  # fmt: skip


def batched(device, preset: str, accel: Accel, videos: int, frames: int) -> dict:
    """Frames/s of ``videos`` random videos streamed at once (end to end: crops, the batched
    step, decoding), after one warm-up pass."""
    torch.manual_seed(0)
    model = accel.prepare(build_model("lstm_pm", preset).to(device).eval())
    size = model.config.input_size
    clips = [random_video(size, frames, seed=k) for k in range(videos)]
    codec = HeatmapCodec(size)

    def once() -> float:
        crops = [FixedCrops(CropPolicy(size), np.eye(2, 3)) for _ in clips]
        sync(device)
        t = time.perf_counter()
        n = sum(len(r) for r in stream_batch(model, clips, crops, codec, device))
        sync(device)
        return n / (time.perf_counter() - t)

    once()
    return {"preset": preset, "accel": accel.describe(), "videos": videos, "frames": frames,
            "fps": max(once(), once())}  # fmt: skip


def dump_rate(device, preset: str, frames: int) -> dict:
    """Frames/s of plain streaming and of a dump (``dump_model``, the model loaded) of one
    synthetic video, interleaved, best of two each; ``relative`` = dump / streaming."""
    torch.manual_seed(0)
    model = resolve_accel("auto", device).prepare(build_model("lstm_pm", preset).to(device))
    policy = test_policy(model, {})
    codec = HeatmapCodec(model.config.input_size)
    video = next(iter(SyntheticVideos(split="test", num_videos=1, num_frames=frames)))
    video = ArrayVideo(video.video_id, np.stack(list(video.frames(0, None))), video.annotations)
    source = {"path": "untrained", "sha256": "benchmark", "meta": {}}
    times = {"stream": [], "dump": []}
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(3):
            sync(device)
            t = time.perf_counter()
            for _ in stream_video(model, video, crops_for(video, policy), codec, device):
                pass
            sync(device)
            times["stream"].append(time.perf_counter() - t)
            t = time.perf_counter()
            dump_model(model, [video], Path(tmp) / f"d{k}", source, preset, policy, device=device,
                       progress=False)  # fmt: skip
            sync(device)
            times["dump"].append(time.perf_counter() - t)
    fps = {k: frames / min(v[1:]) for k, v in times.items()}  # the first round warms up
    return {"preset": preset, "frames": frames, "stream_fps": fps["stream"],
            "dump_fps": fps["dump"], "relative": fps["dump"] / fps["stream"]}  # fmt: skip


def report(result: dict) -> str:
    t, s, b, d = (result[k] for k in ("train", "stream", "batched", "dump"))
    rows = [
        [f"training, batch {t['batch']} × T = {t['clip_length']}, amp {t['amp']}, "
         f"{t['workers']} workers" + (", compiled" if t["compile"] else ""),
         f"{t['steps_per_s']:.2f} steps/s", f"data wait {100 * t['data_share']:.1f} %"],
        [f"batch-1 later frames, {s['how']}", f"{s['later_ms']:.2f} ms",
         f"first {s['first_ms']:.1f} ms, warm-up {s['warmup_s']:.1f} s"],
        [f"batched streaming, {b['videos']} videos × {b['frames']} frames, {b['accel']}",
         f"{b['fps']:.0f} frames/s", "end to end"],
        [f"dump of {d['frames']} frames", f"{d['dump_fps']:.1f} frames/s",
         f"streaming {d['stream_fps']:.1f} frames/s"],
    ]  # fmt: skip
    note = (" — quick: tiny preset, the figures say nothing about a GPU" if result["quick"]
            else "")  # fmt: skip
    return "\n".join([
        header(result["machine"]),
        f"preset {result['preset']}{note}",
        table(rows, ["what", "figure", "beside it"]),
    ])  # fmt: skip
