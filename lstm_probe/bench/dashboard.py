"""Dashboard server latency, next to its goals: frame changes with 1 and 3 channels, page load,
an ablation click (30-frame video), and 50 concurrent clients changing frames over HTTP.

Dumps synthetic videos with the given checkpoint (into a temp dir), then (i) calls the functions
behind the app's callbacks (:mod:`dashboard.callbacks`) for random frame changes: an interaction
costs its slowest callback, since Dash runs an interaction's callbacks as parallel requests;
(ii) replays a page load through the Flask test client (page, layout, dependencies, then every
initial callback in turn); (iii) times ablation clicks once the unchanged run is cached;
(iv) serves the app on loopback and lets ``clients`` threads post Figure 5 frame changes at
once, reporting the p95 latency, the shared cache's bytes against its budget and the peak RSS.
"""

from __future__ import annotations

import json
import resource
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import torch

from ..data import SyntheticVideos
from ..engine.dump import dump_videos
from .common import header, machine, percentile, table

ABLATION_FRAMES = 30  # the ablation is timed on a video of this length (the goal's)
GOALS_MS = {"frame change, 1 channel": 100, "frame change, 3 channels": 250, "page load": 1500,
            "ablation click": 1000, "concurrent frame change": 1000}  # fmt: skip


def _payload(app, output_prefix: str, values: dict) -> dict:
    key, spec = next((k, s) for k, s in app.callback_map.items() if k.startswith(output_prefix))
    outs = [dict(zip(("id", "property"), p.split(".", 1))) for p in key.strip(".").split("...")]

    def items(deps):
        return [{**d, "value": values[f"{d['id']}.{d['property']}"]} for d in deps]

    first = spec["inputs"][0]
    return {"output": key, "outputs": outs if key.startswith("..") else outs[0],
            "inputs": items(spec["inputs"]), "state": items(spec["state"]),
            "changedPropIds": [f"{first['id']}.{first['property']}"]}  # fmt: skip


def run(checkpoint, frames: int = 30, repeats: int = 40, clients: int = 50) -> dict:
    from dashboard import callbacks as C
    from dashboard import create_app
    from dashboard.browser import serve

    info = machine(torch.device("cpu"))
    res: dict[str, list[float]] = {k: [] for k in GOALS_MS}
    with tempfile.TemporaryDirectory() as tmp:
        videos = SyntheticVideos(split="test", num_videos=1, num_frames=frames, occluder_prob=1.0)
        dump_videos(checkpoint, list(videos), Path(tmp) / "dump", progress=False, device="cpu")
        short = SyntheticVideos(split="val", num_videos=1, num_frames=ABLATION_FRAMES)
        dump_videos(checkpoint, list(short), Path(tmp) / "short", progress=False, device="cpu")
        app = create_app([Path(tmp) / "dump"])
        cat = app.catalog
        vid = cat.dumps[0].video_ids[0]
        channels = cat.dumps[0].manifest["channels"]
        rng = np.random.default_rng(0)
        look = (0.7, "RdBu_r")

        def timed(f, *a) -> float:
            t0 = time.perf_counter()
            f(cat, *a)
            return (time.perf_counter() - t0) * 1000

        C.video_changed(cat, vid, 0, None, None)  # the channel analysis, computed once per video
        for n in (1, 3):
            for _ in range(repeats):
                t = int(rng.integers(0, frames))
                ch = [int(c) for c in rng.choice(channels, n, replace=False)]
                res[f"frame change, {n} channel" + ("s" if n > 1 else "")].append(max(
                    timed(C.figure5, t, ch, *look, "channel", vid, 0),
                    timed(C.figure4, t, *look, "curated", "cell", "tile", vid, 0),
                    timed(C.timeline, t, ch, vid, 0),
                    timed(C.export_links, t, ch, *look, "channel", "curated", "cell", "tile",
                          "pdf", "double", vid, 0)))  # fmt: skip
        values = {"dump.value": 0, "video.value": vid, "frame.value": 3, "channels.value": None,
                  "alpha.value": 0.7, "cmap.value": "RdBu_r", "scale.value": "channel",
                  "figure4-mode.value": "curated", "figure4-phase.value": "cell",
                  "figure4-scale.value": "tile", "export-format.value": "pdf",
                  "export-width.value": "double"}  # fmt: skip
        for _ in range(5):
            fresh = create_app([Path(tmp) / "dump"])  # nothing cached: a first visit
            client = fresh.server.test_client()
            t0 = time.perf_counter()
            for path in ("/", "/_dash-layout", "/_dash-dependencies"):
                client.get(path)
            for prefix in ("..video.options", "..frame.max", "..importance", "figure5.figure", "figure5-note",
                           "figure4.figure", "timeline.figure", "..export5"):  # fmt: skip
                resp = client.post("/_dash-update-component", json=_payload(fresh, prefix, values))
                if prefix == "..frame.max":
                    values["channels.value"] = json.loads(resp.data)["response"]["channels"][
                        "value"
                    ]
            res["page load"].append((time.perf_counter() - t0) * 1000)
            for d in fresh.catalog.dumps:
                d.close()
        short_app = create_app([Path(tmp) / "short"])
        svid = short_app.catalog.dumps[0].video_ids[0]
        C.ablate(short_app.catalog, 3, [0], *look, svid, 0)  # loads the model, caches the run
        for _ in range(8):
            t, c = int(rng.integers(1, ABLATION_FRAMES)), int(rng.integers(channels))
            t0 = time.perf_counter()
            C.ablate(short_app.catalog, t, [c], *look, svid, 0)
            res["ablation click"].append((time.perf_counter() - t0) * 1000)
        short_app.catalog.dumps[0].close()
        with serve(app) as url:
            body = _payload(app, "figure5.figure", {**values, "channels.value": [0]})
            lat: list[float] = []
            lock = threading.Lock()

            def client_loop(k: int) -> None:
                r = np.random.default_rng(k)
                for _ in range(6):
                    b = json.loads(json.dumps(body))
                    b["inputs"][0]["value"] = int(r.integers(0, frames))
                    req = urllib.request.Request(url + "_dash-update-component",
                                                 json.dumps(b).encode(),
                                                 {"Content-Type": "application/json"})  # fmt: skip
                    t0 = time.perf_counter()
                    with urllib.request.urlopen(req, timeout=60) as resp:
                        resp.read()
                    with lock:
                        lat.append((time.perf_counter() - t0) * 1000)

            threads = [threading.Thread(target=client_loop, args=(k,)) for k in range(clients)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            res["concurrent frame change"] = lat
        cache = {"bytes": cat.cache.bytes, "budget": cat.cache.max_bytes, "entries": len(cat.cache),
                 "hits": cat.cache.hits, "misses": cat.cache.misses}  # fmt: skip
        for d in cat.dumps:  # files closed before the temp dir goes
            d.close()
    stats = {k: {"p50": percentile(v, 50), "p95": percentile(v, 95), "goal_p95": GOALS_MS[k],
                 "n": len(v)} for k, v in res.items() if v}  # fmt: skip
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"machine": info, "frames": frames, "channels": channels, "clients": clients,
            "ms": stats, "cache": cache, "peak_rss_mib": rss}  # fmt: skip


def report(result: dict) -> str:
    rows = [[k, v["p50"], v["p95"], v["goal_p95"], "yes" if v["p95"] <= v["goal_p95"] else "NO"]
            for k, v in result["ms"].items()]  # fmt: skip
    c = result["cache"]
    return "\n".join([
        header(result["machine"]),
        f"{result['frames']}-frame dump, {result['channels']} channels; ablation on a "
        f"{ABLATION_FRAMES}-frame video (unchanged run cached); concurrent: {result['clients']} "
        "clients over HTTP, Figure 5 frame changes",
        table(rows, ["server time", "p50 ms", "p95 ms", "goal p95 ms", "met"]),
        f"shared cache: {c['bytes'] / 2**20:.1f} MiB in {c['entries']} entries, budget "
        f"{c['budget'] / 2**20:.0f} MiB (LSTM_PROBE_CACHE_MB), {c['hits']} hits / "
        f"{c['misses']} misses (frames, maps, figures); peak RSS "
        f"{result['peak_rss_mib']:.0f} MiB",
    ])  # fmt: skip
