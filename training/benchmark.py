"""The synthetic benchmark: does memory matter? CPM vs RPM vs LSTM PM, and a T-sweep.

Trains each model on the built-in synthetic set with the same budget in optimisation steps (each
step is a batch of 8 clips of T frames, so every model sees the same frames; CPM costs about twice
as much time per frame), evaluates all of them on the same held-out videos, streamed frame by
frame, and writes

    docs/results/synthetic_benchmark.json   every number
    docs/results/synthetic_benchmark.md     the tables (like the paper's Tables 1–3)

Runs resume: a finished run is not retrained. Usage (about 1.5 h on 2 CPU cores):

    python training/benchmark.py                   # all runs
    python training/benchmark.py --only lstm_pm_T5 rpm
    python training/benchmark.py --quick           # a smoke run in a minute (tiny models)
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from lstm_probe import __version__
from lstm_probe.checkpoint import read_checkpoint
from lstm_probe.config import load_config
from lstm_probe.data import SyntheticVideos
from lstm_probe.engine.evaluate import collect, score
from lstm_probe.engine.infer import load_for_inference
from lstm_probe.engine.train import train
from lstm_probe.metrics import pck as P
from lstm_probe.utils import write_json_atomic

ROOT = Path(__file__).resolve().parents[1]
RUNS = {
    "lstm_pm_T5": ("synthetic_lstm_pm_small.yaml", []),
    "rpm": ("synthetic_rpm_small.yaml", []),
    "cpm": ("synthetic_cpm_small.yaml", []),
    "lstm_pm_T1": (
        "synthetic_lstm_pm_small.yaml",
        ["--data.clip_length=1", "--data.synthetic.num_frames=1"],
    ),
    "lstm_pm_T2": (
        "synthetic_lstm_pm_small.yaml",
        ["--data.clip_length=2", "--data.synthetic.num_frames=2"],
    ),
}
QUICK = ["--model.preset=tiny", "--optim.steps=20", "--optim.batch_size=2", "--optim.warmup=2"]


def hold_last_visible(records: list[dict], alpha: float) -> dict:
    """Oracle baseline on occluded joints: predict the joint's last visible ground truth."""
    hits = total = 0
    hits01 = 0
    for r in records:
        occ, gt = r["flags"]["occluded"], r["gt"]
        side = P.box_size(r["bbox"])
        for j in range(gt.shape[1]):
            last = None
            for t in range(len(gt)):
                if not occ[t, j]:
                    last = gt[t, j]
                elif last is not None and r["vis"][t, j] >= 0:
                    d = np.linalg.norm(last - gt[t, j])
                    hits += d <= alpha * side[t]
                    hits01 += d <= 0.1 * side[t]
                    total += 1
    return {f"pck@{alpha:g}": 100 * hits / max(total, 1), "pck@0.1": 100 * hits01 / max(total, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--runs", default="runs/benchmark")
    ap.add_argument("--results", default=str(ROOT / "docs/results"))
    ap.add_argument("--only", nargs="*", default=None, help=f"a subset of {list(RUNS)}")
    ap.add_argument("--videos", type=int, default=64)
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    runs_dir = Path(args.runs)
    names = args.only or list(RUNS)
    test = SyntheticVideos(
        split="test", num_videos=args.videos if not args.quick else 4, num_frames=args.frames
    )
    long_occ = SyntheticVideos(
        split="val", seed=7, num_videos=args.videos // 2 if not args.quick else 2, num_frames=args.frames,
        occluder_prob=1.0, occluder_frames=(8, 16), occluder_max_size=0.8,
    )  # fmt: skip
    results = {}
    records_for_oracle = None
    for name in names:
        cfg_file, overrides = RUNS[name]
        cfg = load_config(cfg_file, overrides + (QUICK if args.quick else []))
        out = runs_dir / name
        ckpt = out / "checkpoint.pt"
        done = ckpt.exists() and read_checkpoint(ckpt)["meta"].get("step") == cfg["optim"]["steps"]
        t0 = time.time()
        if not done:
            print(f"== training {name} ({cfg['model']['name']}, T={cfg['data']['clip_length']})")
            train(cfg, out, resume=True, device="cpu")
        train_s = time.time() - t0
        model, _, policy, codec = load_for_inference(ckpt, "cpu")
        entry = {"model": cfg["model"]["name"], "clip_length": cfg["data"]["clip_length"],
                 "steps": cfg["optim"]["steps"], "batch": cfg["optim"]["batch_size"]}  # fmt: skip
        if not done:
            entry["train_seconds_this_call"] = round(train_s, 1)
        for set_name, videos in (("test", test), ("long_occlusion", long_occ)):
            recs = collect(model, list(videos), policy, codec, "cpu", progress=True)
            entry[set_name] = score(recs)
            if set_name == "test" and records_for_oracle is None:
                records_for_oracle = (recs, None)
            if set_name == "long_occlusion":
                records_for_oracle = (records_for_oracle[0], recs)
        results[name] = entry
        print(json.dumps({k: v for k, v in entry.items() if k not in ("test", "long_occlusion")}))
    if records_for_oracle is not None:
        results["hold_last_visible"] = {
            "test": hold_last_visible(records_for_oracle[0], 0.2),
            "long_occlusion": hold_last_visible(records_for_oracle[1], 0.2),
        }
    meta = {
        "lstm_probe_version": __version__,
        "torch": torch.__version__,
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
        "test_set": {"videos": len(test), "frames": args.frames, "split": "test"},
        "budget": "equal optimisation steps (same clips and frames for every model)",
        "quick": args.quick,
    }
    out_dir = Path(args.results)
    old = {}
    if (out_dir / "synthetic_benchmark.json").exists() and not args.quick:
        old = json.loads((out_dir / "synthetic_benchmark.json").read_text()).get("runs", {})
    merged = {**old, **results}
    write_json_atomic(out_dir / ("synthetic_benchmark_quick.json" if args.quick else "synthetic_benchmark.json"),
                      {"meta": meta, "runs": merged})  # fmt: skip
    if not args.quick:
        (out_dir / "synthetic_benchmark.md").write_text(markdown(merged, meta))
    print(markdown(merged, meta))


def markdown(runs: dict, meta: dict) -> str:
    def g(entry, set_name, split, key="pck@0.2"):
        try:
            return f"{entry[set_name]['splits'][split][key]:.1f}"
        except KeyError:
            return "–"

    lines = [
        "# Synthetic benchmark: does memory matter?",
        "",
        f"{meta['test_set']['videos']} held-out synthetic videos × {meta['test_set']['frames']} frames, "
        f"streamed frame by frame; budget: {meta['budget']}; lstm-probe {meta['lstm_probe_version']}, "
        f"torch {meta['torch']}, {meta['machine']}. Regenerate with `python training/benchmark.py`.",
        "",
        "| model | T | clean @0.2 | clean @0.1 | occluded @0.2 | occluded @0.1 | cue-less @0.2 | cue-less L/R swaps % | long occl. @0.2 | accel. err px |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, e in runs.items():
        if name == "hold_last_visible":
            continue
        sw = e["test"].get("splits", {}).get("cueless", {}).get("lr_swap_percent", float("nan"))
        lines.append(
            f"| {name} | {e['clip_length']} | {g(e, 'test', 'clean')} | {g(e, 'test', 'clean', 'pck@0.1')} | "
            f"{g(e, 'test', 'occluded')} | {g(e, 'test', 'occluded', 'pck@0.1')} | {g(e, 'test', 'cueless')} | "
            f"{sw:.1f} | {g(e, 'long_occlusion', 'occluded')} | {e['test']['acceleration_error']:.2f} |"
        )
    if "hold_last_visible" in runs:
        h = runs["hold_last_visible"]
        lines.append(
            f"| hold last visible GT (oracle) | – | – | – | {h['test']['pck@0.2']:.1f} | {h['test']['pck@0.1']:.1f} "
            f"| – | – | {h['long_occlusion']['pck@0.2']:.1f} | – |"
        )
    lines += ["", "Per-group PCK@0.2 on all visible joints (the paper's table layout):", "",
              "| model | Head | Sho | Elb | Wri | Hip | Knee | Ank | Mean |", "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for name, e in runs.items():
        if name == "hold_last_visible":
            continue
        gr = e["test"]["pck@0.2"]["groups"]
        lines.append(
            f"| {name} | "
            + " | ".join(
                f"{gr[c]:.1f}" for c in ("Head", "Sho", "Elb", "Wri", "Hip", "Knee", "Ank", "Mean")
            )
            + " |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
