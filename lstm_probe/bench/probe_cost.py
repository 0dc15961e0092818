"""What the probe and the dump cost, on a checkpoint streaming one long synthetic video.

Variants, run interleaved ``repeats`` times (median frames/s): ``plain`` streaming (the probe
never attached), ``recording`` the four memory phases and the belief as a dump does (the current
frame only), ``detached`` (a probe attached then removed), and a ``dump`` of the video by the
loaded model (``dump_model``: the probe, statistics, JPEG and HDF5 writes; loading the checkpoint
is left out) — and where the dump prepares its blocks on several lanes, the same dump on one
(``dump, 1 lane``: what the lanes gain, round by round). A round runs recording, plain and the
dump first, so that both shares the goals judge pair plain with the run beside it, then the
others (:func:`round_sequence`), in that order in even rounds and reversed in odd ones
(:func:`round_order`). Live speed is the recording rate. A variant's share
of plain streaming is the median over rounds of its ratio to the plain run of the same round: a
shared machine's speed drifts by more than the effects measured here between rounds (the first
rounds of a process run slower), and within a round the drift mostly cancels; one stream and
one dump (of each kind) before the first round warm up. Each
variant's cores busy (process CPU time over wall time) shows how much of the machine plain
streaming leaves to a writer: on a CPU whose cores the model's threads fill, the dump's writing
adds to the frame time. Peak memory: the peak resident set of a fresh process that loads the
checkpoint and dumps videos of growing length (``dump_videos``); :func:`peak_rss` alone, for any
lengths: ``python -m lstm_probe.bench.probe_cost --peak-lengths 250 1000 3000``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import torch

from ..data import SyntheticVideos
from ..engine.dump import DumpOptions, dump_model, dump_videos
from ..engine.infer import load_for_inference
from ..engine.stream import crops_for, stream_video
from ..probe.recorder import MemoryProbe
from ..probe.store import writer_in_background, writer_lanes
from ..utils import InputError
from .common import header, machine, median, median_interval, table
from .goals import DUMP_OF_STREAMING, judged_share

ONE_LANE = "dump, 1 lane"  # a variant where the dump's blocks have several lanes by default
GOAL_RUNS = ("recording", "plain", "dump")  # first in every round: plain beside both goals' runs


def _video(frames: int):
    return next(
        iter(SyntheticVideos(split="test", num_videos=1, num_frames=frames, occluder_prob=1.0))
    )


def random_checkpoint(preset: str, folder: Path) -> Path:
    """An LSTM PM of ``preset`` with its initial (untrained) weights: what it costs, not what it
    finds, is measured."""
    from ..checkpoint import save_checkpoint
    from ..models import build_model

    torch.manual_seed(0)
    path = Path(folder) / f"lstm_pm_{preset}_untrained.pt"
    save_checkpoint(path, build_model("lstm_pm", preset), preset=preset)
    return path


def run(
    checkpoint,
    accel: str = "auto",
    frames: int = 300,
    repeats: int = 5,
    peak_lengths=(250, 1000),
    device: torch.device | str = "cpu",
) -> dict:
    device = torch.device(device)
    info = machine(device)
    model, _, policy, codec = load_for_inference(checkpoint, device, accel)
    video = _video(frames)

    def stream() -> None:
        for _ in stream_video(model, video, crops_for(video, policy), codec, device):
            pass

    def recording() -> None:
        with MemoryProbe(model, DumpOptions().points, keep="latest"):
            stream()

    def detached() -> None:
        MemoryProbe(model, DumpOptions().points, keep="none").__enter__().remove()
        stream()

    source = {"path": str(checkpoint), "sha256": "benchmark", "meta": {}}
    spent: dict[str, float] = {}  # seconds beside the model, per stage, over every dump run

    def dump(folder: Path, lanes: int | None = None) -> None:  # the loaded model: per-frame
        # cost, not checkpoint loading; the stages of the dump as it runs by default
        dump_model(model, [video], folder, source, None, policy, DumpOptions(lanes=lanes),
                   device, progress=False, profile=spent if lanes is None else None)  # fmt: skip

    variants = {"plain": stream, "recording": recording, "detached": detached, "dump": dump}
    if writer_lanes(device) > 1:  # the same dump with its blocks prepared on one lane
        variants[ONE_LANE] = lambda folder: dump(folder, lanes=1)
    sequence = round_sequence(list(variants))
    times: dict[str, list[float]] = {k: [] for k in variants}
    cpu: dict[str, list[float]] = {k: [] for k in variants}  # process CPU seconds per run
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)
        stream()  # warm-up: the model, the allocator, HDF5 and the writer's first file
        dump(tmp / "warm-up")
        stored = _stored_bytes(tmp / "warm-up")
        if ONE_LANE in variants:
            variants[ONE_LANE](tmp / "warm-up" / "one lane")
        shutil.rmtree(tmp / "warm-up")
        spent.clear()
        for r in range(repeats):
            for name in round_order(sequence, r):
                fn = variants[name]
                folder = tmp / f"round{r}" / str(list(variants).index(name))
                args = (folder,) if name.startswith("dump") else ()
                t, c = time.perf_counter(), time.process_time()
                fn(*args)
                times[name].append(time.perf_counter() - t)
                cpu[name].append(time.process_time() - c)
            shutil.rmtree(tmp / f"round{r}")
        peaks = peak_rss(checkpoint, peak_lengths, accel, tmp)
    fps = {k: frames / median(v) for k, v in times.items()}
    spread = {k: [frames / max(v), frames / min(v)] for k, v in times.items()}
    ratios = paired_ratios(times)
    share, share_range = shares_of(ratios)
    plain_ms = 1000 / fps["plain"]
    stages = {k: 1000 * v / (frames * repeats) for k, v in spent.items()}
    return {
        "machine": info, "checkpoint": str(checkpoint), "accel": model.accel.mode,
        "input_size": model.config.input_size,
        "frames": frames, "repeats": repeats, "round_order": "alternating",
        "round_sequence": sequence, "fps": fps,
        "fps_range": spread,
        "relative": share, "relative_range": share_range,  # paired, round by round
        "relative_rounds": ratios,  # each round's share: the goals' intervals
        "cores_busy": {k: median([c / w for c, w in zip(cpu[k], times[k])]) for k in times},
        "peak_rss_mib": peaks,
        "dump_stages_ms": stages,  # ms per frame beside the model, per stage
        "dump_extra_ms": plain_ms / share["dump"] - plain_ms,  # the dump's ms/frame over plain
        "dump_kib_per_frame": {k: v / 1024 / frames for k, v in stored.items()},
        "writer": {"background": writer_in_background(device), "lanes": writer_lanes(device)},
        # each round's one-lane dump time over the dump's: what the lanes gain (None: one lane)
        "lanes_speedup_rounds": [a / b for a, b in zip(times[ONE_LANE], times["dump"])]
        if ONE_LANE in times else None,
        "frame_jpeg_ms": frame_jpeg_ms(video),
    }  # fmt: skip


def frame_jpeg_ms(video, frames: int = 64, quality: int = 90) -> dict[str, float]:
    """ms per frame of a dump's JPEG stage on ``video``'s first frames, both ways: ``encoded``
    (a generated or decoded frame, encoded at ``quality``) and ``kept`` (a frame file that is a
    JPEG holding the image alone: checked by :func:`~lstm_probe.probe.store.source_jpeg_size`
    and stored as it is); the files are the frames encoded once beforehand."""
    import cv2

    from ..probe.store import source_jpeg_size

    images = list(video.frames(0, frames))
    params = [cv2.IMWRITE_JPEG_QUALITY, quality]
    files = [cv2.imencode(".jpg", f, params)[1].tobytes() for f in images]
    t = time.perf_counter()
    for f in images:
        cv2.imencode(".jpg", f, params)
    encoded = time.perf_counter() - t
    t = time.perf_counter()
    kept = [source_jpeg_size(b) == f.shape[1::-1] for b, f in zip(files, images)]
    checked = time.perf_counter() - t
    if not all(kept):
        raise RuntimeError("an OpenCV JPEG was not admitted as a source frame")
    return {"encoded": 1000 * encoded / len(images), "kept": 1000 * checked / len(images)}


def round_sequence(names: list[str]) -> list[str]:
    """The variants in the order a round runs them (before :func:`round_order`): recording,
    plain streaming and the dump first, so each share a goal judges pairs plain with the run
    beside it, seconds apart (the machine drifts between a round's runs too), then the others
    as given."""
    return [*(n for n in GOAL_RUNS if n in names), *(n for n in names if n not in GOAL_RUNS)]


def round_order(names: list[str], r: int) -> list[str]:
    """The order of the variants in round ``r``: as given in even rounds, reversed in odd ones.
    A machine that speeds up or slows down during a round favours whichever variant runs first
    in it; alternating the order cancels a steady drift over each pair of rounds instead of
    handing it to the variant that always runs last."""
    return list(names) if r % 2 == 0 else list(reversed(names))


def _stored_bytes(dump: Path) -> dict[str, int]:
    """Bytes of a dump's video files, and of the memory within them (its stored chunks)."""
    files = sorted((dump / "videos").glob("*.h5"))
    memory = 0
    for path in files:
        with h5py.File(path, "r") as f:
            memory += f["memory"].id.get_storage_size()
    return {"file": sum(p.stat().st_size for p in files), "memory": memory}


def paired_ratios(times: dict[str, list[float]]) -> dict[str, list[float]]:
    """{variant: seconds of each round} -> {variant: plain's time over its time, round by
    round}: its share of plain streaming in each round."""
    return {k: [p / x for p, x in zip(times["plain"], v, strict=True)] for k, v in times.items()}


def shares_of(ratios: dict[str, list[float]]) -> tuple[dict, dict]:
    """{variant: each round's share} -> ({variant: median share}, {variant: [lowest, highest]})."""
    return ({k: median(v) for k, v in ratios.items()},
            {k: [min(v), max(v)] for k, v in ratios.items()})  # fmt: skip


def run_untrained(preset: str = "paper", device: torch.device | str = "cpu", **kw) -> dict:
    """:func:`run` on an untrained LSTM PM of ``preset`` (for presets with no trained weights
    here): 30 frames, 9 interleaved repeats, dumps of 100 and 1,000 frames for the peak."""
    with tempfile.TemporaryDirectory() as tmp:
        args = {"frames": 30, "repeats": 9, "peak_lengths": (100, 1000), **kw}
        result = run(random_checkpoint(preset, tmp), "auto", device=device, **args)
    result["checkpoint"] = f"an untrained LSTM PM, {preset} preset"  # its file is gone
    return result


def peak_rss(checkpoint, lengths=(250, 1000), accel: str = "auto", folder=None) -> dict:
    """{frames: peak RSS in MiB} of a fresh process per length (0, the model loaded, first) that
    loads ``checkpoint`` and dumps one synthetic video of that many frames."""
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(folder or scratch)
        return {n: _peak_rss_mib(checkpoint, n, accel, tmp) for n in (0, *lengths)}


def report_peak_rss(peaks: dict) -> str:
    return "peak RSS of a dump process: " + ", ".join(
        f"{n} frames {v:.0f} MiB" if n else f"model loaded {v:.0f} MiB" for n, v in peaks.items()
    )


def _peak_rss_mib(checkpoint, frames: int, accel: str, tmp: Path) -> float:
    """Peak RSS (MiB) of a fresh process that loads the model and dumps a ``frames``-frame video
    (0: loads and streams nothing)."""
    code = (
        "import json, sys; from lstm_probe.bench.probe_cost import _child, _peak_kib; "
        "_child(*json.loads(sys.argv[1])); print(_peak_kib())"
    )
    args = json.dumps([str(checkpoint), frames, accel, str(tmp / f"peak{frames}")])
    out = subprocess.run([sys.executable, "-c", code, args], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"peak-memory child failed:\n{out.stderr[-2000:]}")
    return int(out.stdout.split()[-1]) / 1024


def _peak_kib() -> int:
    """This process's peak resident set in KiB: VmHWM (Linux) counts from its own exec, whereas
    ru_maxrss would include the parent's size at fork."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _child(checkpoint: str, frames: int, accel: str, out: str) -> None:
    if frames == 0:
        load_for_inference(checkpoint, "cpu", accel)
        return
    dump_videos(checkpoint, [_video(frames)], out, DumpOptions(accel=accel), "cpu", progress=False)


def report(result: dict) -> str:
    fps, rel = result["fps"], result["relative"]
    lo_hi, rel_lo_hi, busy = result["fps_range"], result["relative_range"], result["cores_busy"]

    def share(k: str) -> str:
        lo, hi = rel_lo_hi[k]
        return f"{100 * rel[k]:.1f} % ({100 * lo:.1f}–{100 * hi:.1f})"

    rows = [[k, fps[k], f"{lo_hi[k][0]:.1f}–{lo_hi[k][1]:.1f}", share(k), f"{busy[k]:.2f}"]
            for k in fps]  # fmt: skip
    return "\n".join([
        header(result["machine"]),
        f"{result['checkpoint']} ({result['accel']}, {result['input_size']}-px crops), one "
        f"synthetic video × {result['frames']} "
        f"frames, median of {result['repeats']} interleaved runs; of plain: the median (range) "
        "of each run's ratio to the plain run beside it",
        table(rows, ["variant", "frames/s", "range over runs", "of plain", "cores busy"]),
        *report_writer(result),
        *report_stages(result),
        "a dump file: {file:.1f} KiB per frame, of which the memory {memory:.1f} KiB".format(
            **result["dump_kib_per_frame"]
        ),
        *report_frame_jpeg(result),
        report_peak_rss(result["peak_rss_mib"]),
    ])  # fmt: skip


def report_writer(result: dict) -> list[str]:
    w = result.get("writer")
    if not w:  # a result saved before it was recorded
        return []
    if w["background"]:
        return ["the dump's blocks: written by a background thread beside the model"]
    lanes = w["lanes"]
    how = (f"prepared by {lanes} lanes (torch's idle workers released)" if lanes > 1
           else "prepared on one lane")  # fmt: skip
    lines = [f"the dump's blocks: written in the caller's thread between model steps, {how}"]
    gain = result.get("lanes_speedup_rounds")
    if gain:
        spread = "one round"  # an interval needs rounds
        if len(gain) > 1:
            lo, hi, coverage = median_interval(gain)
            spread = f"round by round; {100 * coverage:.0f} % interval {lo:.3f}–{hi:.3f}×"
        lines.append(
            f"the {lanes} lanes against 1: the dump {median(gain):.3f}× as fast ({spread})"
        )
    return lines


def report_frame_jpeg(result: dict) -> list[str]:
    j = result.get("frame_jpeg_ms")
    if not j:  # a result saved before it was measured
        return []
    return [f"a frame's JPEG stage: encoded {j['encoded']:.3f} ms; a source frame file's JPEG "
            f"kept as it is {j['kept']:.3f} ms (its check)"]  # fmt: skip


def report_stages(result: dict) -> list[str]:
    """Where the dump's time beside the model goes: ms per frame per stage, and each stage as a
    share of a plain frame (the dump's shortfall from plain streaming, stage by stage)."""
    stages = result["dump_stages_ms"]
    plain_ms = 1000 / result["fps"]["plain"]
    extra = result["dump_extra_ms"]
    rows = [[k, f"{v:.3f}", f"{100 * v / plain_ms:.1f} %"] for k, v in
            sorted(stages.items(), key=lambda kv: -kv[1])]  # fmt: skip
    rest = extra - sum(stages.values())
    rows.append(
        ["rest (probe, hand-over, caches)", f"{rest:.3f}", f"{100 * rest / plain_ms:.1f} %"]
    )
    return [
        f"the dump's {extra:.3f} ms per frame over plain ({plain_ms:.3f} ms), by stage:",
        table(rows, ["stage", "ms/frame", "of a plain frame"]),
    ]


def summarize_runs(paths) -> str:
    """A table of saved ``bench probe`` results (``--out`` files): per run and model, the dump's
    share of plain streaming with its rounds' range, the interval of its median (results saved
    with their rounds' shares) and its verdict (:func:`~lstm_probe.bench.goals.share_goal`'s),
    then how many runs of each model meet the 90 % aim and the median of their shares."""
    rows, shares = [], {}
    for path in paths:
        for run in _saved_runs(Path(path)):
            shares.setdefault(run["bench"], []).append(run["share"])
            judged, verdict = judged_share(run["share"], run["each"], DUMP_OF_STREAMING)
            interval = "—"
            if judged is not None:  # saved with its rounds: the verdict of the median's interval
                lo, hi, coverage = judged
                interval = f"{100 * lo:.1f}–{100 * hi:.1f} ({100 * coverage:.0f} %)"
            rows.append([run["date"], Path(path).name, run["bench"], run["rounds"], run["order"],
                         f"{100 * run['share']:.1f} %",
                         f"{100 * run['lo']:.1f}–{100 * run['hi']:.1f}", interval, verdict])  # fmt: skip
    aim = f"≥ {100 * DUMP_OF_STREAMING:.0f} %"
    head = ["run", "file", "bench", "rounds", "order", "dump of plain", "rounds' range",
            "median's interval", aim]  # fmt: skip
    lines = [table(rows, head)]
    if any(r[7] == "—" for r in rows):
        lines.append(
            "—: saved without its rounds' shares (or with one); its verdict is the median's"
        )
    for key, v in shares.items():
        n = sum(x >= DUMP_OF_STREAMING for x in v)
        lines.append(f"{key}: {n} of {len(v)} runs' medians {aim}, "
                     f"median of the runs {100 * median(v):.1f} %")  # fmt: skip
    return "\n".join(lines)


def _saved_runs(path: Path) -> list[dict]:
    """The ``bench probe`` results in a saved ``--out`` file, each as the fields
    :func:`summarize_runs` prints; anything else in the file is refused, naming it."""
    try:
        saved = json.loads(path.read_bytes())
        runs = []
        for key in ("probe", "probe_paper"):
            if key not in saved:
                continue
            r = saved[key]
            lo, hi = (float(x) for x in r["relative_range"]["dump"])
            each = [float(x) for x in r.get("relative_rounds", {}).get("dump", [])]
            if each and len(each) != int(r["repeats"]):
                raise ValueError(f"{len(each)} rounds' shares for {r['repeats']} rounds")
            runs.append({"bench": key, "date": str(r["machine"]["date"]),
                         "rounds": int(r["repeats"]), "order": str(r.get("round_order", "fixed")),
                         "share": float(r["relative"]["dump"]), "lo": lo, "hi": hi,
                         "each": each})  # fmt: skip
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as e:
        raise InputError(path, f"not a saved `lstm-probe bench probe` result ({e!r})") from None
    if not runs:
        raise InputError(path, "holds no `bench probe` result (no 'probe' or 'probe_paper')")
    return runs


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(
        description="peak RSS of dump processes of growing length; or, with --summarize, a "
        "table of saved `lstm-probe bench probe --out` results"
    )
    ap.add_argument("--checkpoint", default=None, help="default: the demo's")
    ap.add_argument("--peak-lengths", type=int, nargs="+", default=[250, 1000, 3000])
    ap.add_argument("--accel", default="auto")
    ap.add_argument("--summarize", nargs="+", metavar="JSON", help="saved results to tabulate")
    a = ap.parse_args()
    if a.summarize:
        try:
            print(summarize_runs(a.summarize))
        except InputError as e:
            raise SystemExit(f"error: {e}") from None
        raise SystemExit(0)
    if a.checkpoint is None:
        from ..checkpoint import packaged_checkpoint

        a.checkpoint = str(packaged_checkpoint())
    print(header(machine(torch.device("cpu"))))
    print(f"{a.checkpoint} ({a.accel}), one synthetic video per length")
    print(report_peak_rss(peak_rss(a.checkpoint, a.peak_lengths, a.accel)))
