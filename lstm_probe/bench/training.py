"""Training throughput of the CPU configs, and the data loader's share of a step.

For each config: ``steps`` training steps (after ``warmup`` that are not counted) as
``lstm-probe train`` runs them, reading clips/s and the share of each step spent waiting for data
(``clips_per_s`` and ``data_share`` in ``metrics.jsonl``); then the same data pipeline alone (the
synthetic renderer, crop transform and target heatmaps in the configured worker processes): clips/s
it can supply, against the clips/s training consumes.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from ..config import config_path, load_config
from ..data import build_dataset
from ..engine.train import train
from ..models import build_model_from_config
from .common import header, machine, median, table

CONFIGS = ("synthetic_lstm_pm_small", "synthetic_rpm_small", "synthetic_cpm_small")


def loader_rate(cfg: dict, batches: int) -> float:
    """Clips/s the configured data pipeline supplies with no model attached."""
    batch = int(cfg["optim"]["batch_size"])
    size = build_model_from_config(cfg["model"]).config.input_size
    dataset = build_dataset(cfg, size, (batches + 2) * batch, seed=1)
    workers = int(cfg["run"]["workers"])
    loader = iter(DataLoader(dataset, batch_size=batch, num_workers=workers))
    next(loader), next(loader)  # workers started, first batches ready
    t = time.perf_counter()
    for _ in range(batches):
        next(loader)
    return batches * batch / (time.perf_counter() - t)


def run(configs=CONFIGS, steps: int = 20, warmup: int = 3, overrides=()) -> dict:
    info = machine(torch.device("cpu"))
    rows = []
    for name in configs:
        path = config_path(name)
        cfg = load_config(path, list(overrides))
        with tempfile.TemporaryDirectory() as tmp:
            train(cfg, tmp, device="cpu", progress=False, max_steps=warmup + steps)
            log = [
                json.loads(line) for line in (Path(tmp) / "metrics.jsonl").read_text().splitlines()
            ]
        log = log[warmup:]
        rate = median([r["clips_per_s"] for r in log])
        supply = loader_rate(cfg, max(4, steps // 2))
        rows.append({
            "config": path.stem, "model": cfg["model"]["name"], "preset": cfg["model"]["preset"],
            "batch": int(cfg["optim"]["batch_size"]), "clip_length": int(cfg["data"]["clip_length"]),
            "workers": int(cfg["run"]["workers"]), "clips_per_s": rate,
            "data_share": float(np.mean([r["data_share"] for r in log])),
            "loader_clips_per_s": supply,
        })  # fmt: skip
    return {"machine": info, "steps": steps, "rows": rows}


def report(result: dict) -> str:
    rows = [
        [r["config"], f"{r['batch']}×{r['clip_length']}", r["workers"], r["clips_per_s"],
         f"{100 * r['data_share']:.1f} %", r["loader_clips_per_s"]]
        for r in result["rows"]
    ]  # fmt: skip
    return "\n".join([
        header(result["machine"]),
        f"median over {result['steps']} training steps after warm-up",
        table(rows, ["config", "batch×T", "workers", "train clips/s", "waiting for data",
                     "loader alone clips/s"]),
    ])  # fmt: skip
