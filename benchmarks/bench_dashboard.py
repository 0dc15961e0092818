"""Dashboard server latency: what one frame change and one channel change cost on the server.

Dumps a 100-frame synthetic video with the demo checkpoint (once, into a temp dir), then calls the
app's callbacks exactly as Dash would for random frame and channel changes and reports p50/p95 per
callback and for the slowest callback of each interaction (Dash runs them as parallel requests).

    python benchmarks/bench_dashboard.py [--frames 100] [--repeats 40]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from dashboard import create_app
from lstm_probe.data import SyntheticVideos
from lstm_probe.demo import packaged_checkpoint
from lstm_probe.probe.dump import dump_videos


def cb(app, part):
    (key,) = [k for k in app.callback_map if part in k]
    return app.callback_map[key]["callback"].__wrapped__


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=40)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    videos = SyntheticVideos(split="test", num_videos=1, num_frames=args.frames, occluder_prob=1.0)
    dump_videos(packaged_checkpoint(), list(videos), tmp / "dump", progress=False, device="cpu")
    app = create_app([tmp / "dump"])
    vid = app.catalog.dumps[0].video_ids[0]
    cb(app, "frame.max")(vid, 0)  # warms the channel analysis cache
    fig5, fig4, timeline = (
        cb(app, "figure5.figure"),
        cb(app, "figure4.figure"),
        cb(app, "energy.figure"),
    )
    rng = np.random.default_rng(0)
    timings: dict[str, list[float]] = {
        k: [] for k in ("fig5", "fig4", "timeline", "frame change", "channel change")
    }

    def timed(name, f, *a):
        t0 = time.perf_counter()
        f(*a)
        dt = (time.perf_counter() - t0) * 1000
        timings[name].append(dt)
        return dt

    for _ in range(args.repeats):
        t, c = int(rng.integers(1, args.frames)), int(rng.integers(48))
        a = timed("fig5", fig5, t, [c], 0.7, "RdBu_r", "channel", vid, 0)
        b = timed("fig4", fig4, t, 0.7, "RdBu_r", vid, 0)
        d = timed("timeline", timeline, t, [c], vid, 0)
        timings["frame change"].append(max(a, b, d))
        c2 = int(rng.integers(48))
        a = timed("fig5", fig5, t, [c2], 0.7, "RdBu_r", "channel", vid, 0)
        d = timed("timeline", timeline, t, [c2], vid, 0)
        timings["channel change"].append(max(a, d))
    print(
        f"dashboard server latency, {args.frames}-frame dump, 48 channels, {args.repeats} random changes"
    )
    print(
        f"machine: {platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}"
    )
    print(f"{'callback':<16}{'p50 ms':>9}{'p95 ms':>9}")
    for k, v in timings.items():
        print(f"{k:<16}{np.percentile(v, 50):>9.1f}{np.percentile(v, 95):>9.1f}")


if __name__ == "__main__":
    main()
