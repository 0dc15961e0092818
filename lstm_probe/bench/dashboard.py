"""Dashboard server latency: what one frame change and one channel change cost on the server.

Dumps a synthetic video with the given checkpoint (into a temp dir), then calls the functions
behind the app's callbacks (:mod:`dashboard.callbacks`) for random frame and channel changes, and
reports p50/p95 per callback and for the slowest callback of each interaction (Dash runs an
interaction's callbacks as parallel requests, so the interaction costs its slowest one).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ..data import SyntheticVideos
from ..engine.dump import dump_videos
from .common import header, machine, percentile, table


def run(checkpoint, frames: int = 100, repeats: int = 40) -> dict:
    from dashboard import callbacks as C
    from dashboard import create_app

    info = machine(torch.device("cpu"))
    with tempfile.TemporaryDirectory() as tmp:
        videos = SyntheticVideos(split="test", num_videos=1, num_frames=frames, occluder_prob=1.0)
        dump_videos(checkpoint, list(videos), Path(tmp) / "dump", progress=False, device="cpu")
        app = create_app([Path(tmp) / "dump"])
        vid = app.catalog.dumps[0].video_ids[0]
        channels = app.catalog.dumps[0].manifest["channels"]
        cat = app.catalog
        C.video_changed(cat, vid, 0)  # warms the channel analysis cache
        fig5, fig4, timeline = (
            lambda *a: C.figure5(cat, *a),
            lambda *a: C.figure4(cat, *a),
            lambda *a: C.timeline(cat, *a),
        )
        rng = np.random.default_rng(0)
        ms: dict[str, list[float]] = {
            k: [] for k in ("figure 5", "figure 4", "timeline", "frame change", "channel change")
        }

        def timed(name, f, *a) -> float:
            t0 = time.perf_counter()
            f(*a)
            dt = (time.perf_counter() - t0) * 1000
            ms[name].append(dt)
            return dt

        for _ in range(repeats):
            t, c = int(rng.integers(1, frames)), int(rng.integers(channels))
            a = timed("figure 5", fig5, t, [c], 0.7, "RdBu_r", "channel", vid, 0)
            b = timed("figure 4", fig4, t, 0.7, "RdBu_r", vid, 0)
            d = timed("timeline", timeline, t, [c], vid, 0)
            ms["frame change"].append(max(a, b, d))
            c2 = int(rng.integers(channels))
            a = timed("figure 5", fig5, t, [c2], 0.7, "RdBu_r", "channel", vid, 0)
            d = timed("timeline", timeline, t, [c2], vid, 0)
            ms["channel change"].append(max(a, d))
        for d in app.catalog.dumps:  # files closed before the temp dir goes
            d.close()
    stats = {k: {"p50": percentile(v, 50), "p95": percentile(v, 95)} for k, v in ms.items()}
    return {"machine": info, "frames": frames, "channels": channels, "repeats": repeats,
            "ms": stats}  # fmt: skip


def report(result: dict) -> str:
    rows = [[k, v["p50"], v["p95"]] for k, v in result["ms"].items()]
    return "\n".join([
        header(result["machine"]),
        f"{result['frames']}-frame dump, {result['channels']} channels, {result['repeats']} random "
        "frame and channel changes",
        table(rows, ["callback", "p50 ms", "p95 ms"]),
    ])  # fmt: skip
