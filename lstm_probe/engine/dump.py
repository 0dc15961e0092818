"""``lstm-probe dump``: stream videos through LSTM PM with the probe attached, frame by frame, into
a dump directory (see :mod:`lstm_probe.probe.store`).

Memory use is flat in video length: each frame's probe records are written and dropped before the
next frame runs. Videos finished by an earlier, interrupted run are skipped (their files are not
touched); the partial one is redone from its start.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import load_checkpoint
from ..data.video import Video
from ..domain import warn_domain
from ..models import GATE_POINTS, MEMORY_PHASES
from ..probe.recorder import MemoryProbe
from ..probe.store import (
    FORMAT_VERSION,
    STORED_PHASES,
    Dump,
    VideoDumpWriter,
    check_manifest,
    new_manifest,
    safe_video_id,
    save_manifest,
    writer_in_background,
)
from ..transforms.augment import CropPolicy
from ..transforms.heatmaps import HeatmapCodec
from ..utils import (
    InputError,
    crc32_file,
    progress_bar,
    sha256_file,
    write_json_atomic,
    xxh3_file,
)
from .accel import accel_of, resolve_accel
from .distributed import Shard, init_distributed
from .infer import test_policy
from .stream import crops_for, stream_video


@dataclass(frozen=True)
class DumpOptions:
    """What a dump records and how it streams.

    ``frames``: (start, stop) frame range (stop None: to the end); ``channels``: memory channels
    to keep (None: all); ``gates`` / ``hidden``: also store the four gates / the hidden state;
    ``crop``: ``auto``, ``gt`` or ``track`` (:func:`lstm_probe.engine.stream.crops_for`);
    ``accel``: the inference mode (:mod:`lstm_probe.engine.accel`), recorded per video;
    ``lanes``: the threads that prepare each block of frames where the caller's thread writes
    it (:class:`~lstm_probe.probe.store.VideoDumpWriter`; None: its default) — the same file
    whatever their number.
    """

    frames: tuple[int, int | None] = (0, None)
    channels: tuple[int, ...] | None = None
    gates: bool = False
    hidden: bool = False
    crop: str = "auto"
    accel: str = "auto"
    lanes: int | None = None

    @property
    def points(self) -> list[str]:
        """The probe points a dump holds (its manifest's ``probe_points``): the four memory
        phases, the belief, and on request the gates and the hidden state."""
        return (
            [*MEMORY_PHASES, "belief"]
            + (list(GATE_POINTS) if self.gates else [])
            + (["hidden"] if self.hidden else [])
        )

    @property
    def recorded_points(self) -> list[str]:
        """The points a dump records through the probe's hooks: :attr:`points` but prev_cell
        (stored as the cell of the frame before) and the belief (the stream yields it)."""
        return [p for p in self.points if p not in ("prev_cell", "belief")]


def dump_videos(
    checkpoint: str | Path,
    videos: Sequence[Video],
    out: str | Path,
    options: DumpOptions = DumpOptions(),
    device: str | None = None,
    progress: bool = True,
    policy: CropPolicy | None = None,
) -> Path:
    """Dump a checkpoint's memory on ``videos`` into ``out``; each video's manifest entry
    records the inference mode it was dumped with.

    Started by ``torchrun`` with several processes (``torchrun --nproc_per_node=N -m
    lstm_probe.cli dump …``), the videos are sharded across the ranks (gloo on CPU, NCCL on
    CUDA, one GPU per local rank): see :func:`dump_model`'s ``shard``."""
    rank, world, dev = init_distributed(device)
    model, payload = load_checkpoint(checkpoint, dev)
    resolve_accel(options.accel, dev).prepare(model)
    if not model.has_memory:
        raise InputError(checkpoint, f"a {model.name!r} model has no LSTM memory to dump")
    source = {
        "path": str(checkpoint),
        "sha256": sha256_file(checkpoint),
        "meta": _plain(payload.get("meta", {})),
    }
    preset = payload["model"].get("preset")
    policy = policy or test_policy(model, payload)
    if rank == 0:  # a synthetic-only model on real footage
        warn_domain(payload, [_source(v) for v in videos])
    shard = Shard(rank, world)
    return dump_model(model, videos, out, source, preset, policy, options, dev,
                      progress and rank == 0, shard)  # fmt: skip


def weights_sha256(model) -> str:
    """A fingerprint of a model in memory (for dumps made during training)."""
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def dump_model(
    model,
    videos: Sequence[Video],
    out: str | Path,
    source: dict,
    preset: str | None,
    policy: CropPolicy,
    options: DumpOptions = DumpOptions(),
    device: str | torch.device = "cpu",
    progress: bool = True,
    shard: Shard | None = None,
    profile: dict[str, float] | None = None,
) -> Path:
    """Dump a model held in memory. ``source`` describes it (path, sha256, meta) in the manifest.
    ``profile``: a dict the seconds spent beside the model add to, per stage (the writer's
    :data:`~lstm_probe.probe.store.WRITER_STAGES`, ``fingerprint``, ``manifest``).

    ``shard`` (rank r of W processes, each calling this with the same ``videos``): rank r dumps
    every W-th video from the r-th and writes only those videos' files; its progress goes to its
    own ``manifest.rank<r>.json``. Rank 0 opens (or creates) ``manifest.json`` before the others
    start and, after a barrier at the end, merges every rank's entries into it (atomically) and
    removes the rank files. A killed rank resumes like a killed single-process dump: the next run
    merges what the rank files say first, so finished videos are skipped and the partial one is
    redone."""
    out = Path(out)
    dev = torch.device(device)
    shard = shard or Shard()
    spent = profile if profile is not None else {}
    cfg = model.config
    channels = options.channels
    if channels is not None and any(not 0 <= c < cfg.hidden_channels for c in channels):
        raise InputError(None, f"channels must lie in 0..{cfg.hidden_channels - 1}")
    C = cfg.hidden_channels if channels is None else len(channels)
    indices = list(range(cfg.hidden_channels)) if channels is None else list(channels)
    _check_videos(videos, options)
    all_videos = list(videos)

    def opened() -> dict:
        if (out / "manifest.json").exists():
            manifest = Dump(out).manifest
            if manifest["checkpoint"]["sha256"] != source["sha256"]:
                raise InputError(out, "holds a dump of another checkpoint; choose a new --out")
            if (manifest["probe_points"] != options.points
                    or manifest.get("channel_indices") != indices):  # fmt: skip
                raise InputError(
                    out, "holds a dump with other --channels/--gates/--hidden; choose a new --out"
                )
            # the files written from now on are of this format (its reader reads older files)
            manifest["format_version"] = FORMAT_VERSION
            return manifest
        model_info = {"name": model.name, "preset": preset, "config": cfg.to_dict()}
        manifest = new_manifest(model_info, source, C, cfg.grid_size, options.points)
        manifest["channel_indices"] = indices
        return manifest

    if shard.world == 1:
        manifest = opened()
        if any(out.glob("manifest.rank*.json")):  # left by a killed sharded run
            _merge_rank_manifests(out, manifest, [v.video_id for v in videos])
        save = save_manifest
    else:
        if shard.rank == 0:  # one manifest, with what killed ranks had finished, before any rank
            manifest = opened()
            (out / "videos").mkdir(parents=True, exist_ok=True)
            _merge_rank_manifests(out, manifest, [v.video_id for v in videos])
        shard.barrier()
        manifest = opened()
        mine = {v.video_id for v in shard.take(videos)}
        manifest["videos"] = [e for e in manifest["videos"] if e["video_id"] in mine]
        videos = shard.take(videos)

        def save(out: Path, manifest: dict) -> None:
            write_json_atomic(out / f"manifest.rank{shard.rank}.json", manifest)

    (out / "videos").mkdir(parents=True, exist_ok=True)
    codec = HeatmapCodec(cfg.input_size)
    entries = {v["video_id"]: v for v in manifest["videos"]}
    _check_against_dump(out, manifest["videos"], videos)
    with progress_bar(progress, total=len(videos), desc="dump", unit="video") as bar:
        for video in videos:
            vid = video.video_id
            fname = f"videos/{safe_video_id(vid)}.h5"
            e = entries.get(vid)
            if e is not None and _finished(out, e):
                bar.update(1)
                continue
            e = {"video_id": vid, "file": fname, "status": "partial", "source": _source(video)}
            if vid not in entries:
                manifest["videos"].append(e)
            else:
                manifest["videos"][[v["video_id"] for v in manifest["videos"]].index(vid)] = e
            entries[vid] = e
            with _timed(spent, "manifest"):
                save(out, manifest)
            n = _dump_one(model, video, out / fname, codec, policy, dev, options, C, spent)
            with _timed(spent, "fingerprint"):
                size, xxh3 = (out / fname).stat().st_size, xxh3_file(out / fname)
            e.update(status="done", num_frames=n, accel=accel_of(model).mode,
                     attrs=_plain(video.attrs), bytes=size, xxh3=xxh3)  # fmt: skip
            with _timed(spent, "manifest"):
                save(out, manifest)
            bar.update(1)
    if shard.world > 1:
        shard.barrier()  # every rank's file is final
        if shard.rank == 0:
            manifest = opened()
            _merge_rank_manifests(out, manifest, [v.video_id for v in all_videos])
        shard.barrier()  # no rank returns before the manifest lists its videos
    return out


def _merge_rank_manifests(out: Path, manifest: dict, order: Sequence[str]) -> None:
    """Fold every ``manifest.rank<r>.json`` in ``out`` into ``manifest`` and save it as
    ``manifest.json`` (atomically), then remove the rank files. A rank's entry replaces the
    manifest's for the same video; new videos follow the manifest's in the order of ``order``
    (the videos as given), so a sharded dump lists its videos as a single process would."""
    parts = sorted(out.glob("manifest.rank*.json"))
    if not parts and (out / "manifest.json").exists():
        return
    index = {v["video_id"]: i for i, v in enumerate(manifest["videos"])}
    position = {vid: i for i, vid in enumerate(order)}
    new: list[dict] = []
    for part in parts:
        for e in _read_rank_manifest(part)["videos"]:
            if e["video_id"] in index:
                manifest["videos"][index[e["video_id"]]] = e
            else:
                new.append(e)
    new.sort(key=lambda e: position.get(e["video_id"], len(position)))
    manifest["videos"].extend(new)
    save_manifest(out, manifest)
    for part in parts:
        part.unlink()


def _read_rank_manifest(path: Path) -> dict:
    try:
        manifest = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as e:
        raise InputError(
            path, f"unreadable rank manifest ({e}); remove it to redo its videos"
        ) from None
    check_manifest(path, manifest)
    return manifest


def _finished(out: Path, entry: dict) -> bool:
    """Is this manifest entry's video really finished? Its file must exist and have the size and
    XXH3 hash recorded when it was written (dumps before them: size and CRC-32, or sha256;
    older still: open and validate it, and count its frames); a video that fails is redone,
    never trusted."""
    path = out / entry["file"]
    if entry.get("status") != "done" or not path.is_file():
        return False
    for key, fingerprint in (("xxh3", xxh3_file), ("crc32", crc32_file)):
        if key in entry:
            return path.stat().st_size == entry.get("bytes") and fingerprint(path) == entry[key]
    if "sha256" in entry:
        return sha256_file(path) == entry["sha256"]
    try:
        from ..probe.store import DumpVideo

        video = DumpVideo(path)
        ok = video.num_frames == entry.get("num_frames")
        video.close()
        return ok
    except InputError:
        return False


def _source(video: Video) -> str:
    return str(video.attrs.get("source", ""))


def _check_against_dump(out: Path, entries: list[dict], videos: Sequence[Video]) -> None:
    """A video must not overwrite or skip another one already in the dump: the same id from
    another source (``a/clip`` and ``b/clip``), or another id that maps to the same file."""
    by_id = {e["video_id"]: e for e in entries}
    by_file = {e["file"]: e["video_id"] for e in entries}
    for v in videos:
        e = by_id.get(v.video_id)
        if e is not None and e.get("source") not in (None, _source(v)):
            raise InputError(
                out, f"already holds a video {v.video_id!r} from {e['source']!r}; this one comes "
                f"from {_source(v)!r}: choose another --out",
            )  # fmt: skip
        other = by_file.get(f"videos/{safe_video_id(v.video_id)}.h5")
        if other is not None and other != v.video_id:
            raise InputError(out, f"video {v.video_id!r} would overwrite the file of {other!r}")


def _check_videos(videos: Sequence[Video], options: DumpOptions) -> None:
    """Refuse what would fail half-way, before anything is written: two videos with one file
    name, a frame range past a video's end, ground-truth crops on unlabelled footage."""
    seen: dict[str, str] = {}
    start = options.frames[0]
    for v in videos:
        name = safe_video_id(v.video_id)
        if name in seen:
            raise InputError(
                None, f"videos {seen[name]!r} and {v.video_id!r} would share the file {name}.h5"
            )
        seen[name] = v.video_id
        if start >= v.num_frames:
            raise InputError(None, f"--frames starts at {start}, but {v.video_id!r} has "
                                   f"{v.num_frames} frames")  # fmt: skip
        if options.crop == "gt" and v.annotations.bbox is None:
            raise InputError(None, f"{v.video_id}: --crop gt needs person boxes; use track")


def _plain(d):
    return json.loads(
        json.dumps(d, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))
    )


@contextmanager
def _timed(spent: dict[str, float], key: str):
    t = time.perf_counter()
    try:
        yield
    finally:
        spent[key] = spent.get(key, 0.0) + time.perf_counter() - t


def _dump_one(model, video, path, codec, policy, dev, options: DumpOptions, C: int,
              spent: dict[str, float]) -> int:  # fmt: skip
    """Stream one video into ``path`` (written as .tmp, renamed when complete) -> frames written;
    the writer's seconds per stage add to ``spent``."""
    ann = video.annotations
    start, stop = options.frames
    first = next(iter(video.frames(start, start + 1)), None)
    if first is None:
        raise InputError(path, f"{video.video_id}: no frame at index {start}")
    writer = VideoDumpWriter(
        path,
        video.video_id,
        C,
        model.config.grid_size,
        model.config.num_joints,
        (first.shape[1], first.shape[0]),
        video.attrs,
        labelled=ann.keypoints is not None,
        flags={k: v for k, v in ann.flags.items() if k in ("occluded", "cue_visible")},
        gates=options.gates,
        hidden=options.hidden,
        background=writer_in_background(dev),
        lanes=options.lanes,
    )
    try:
        probe = MemoryProbe(
            model, options.recorded_points, channels=options.channels, keep="latest"
        )
        crops = crops_for(video, policy, options.crop)
        with probe:
            for r in stream_video(model, video, crops, codec, dev, start, stop):
                rec = probe.latest
                # the stored phases (C, h, w): on a CPU the writer copies them into its float32
                # block as they are appended; on a GPU a copy to host memory in flight, which the
                # background writer waits for when it writes the block
                mem = [rec[p][0] for p in STORED_PHASES]
                if dev.type == "cuda":
                    mem = _host(torch.stack(mem).float())
                gt = None
                if ann.keypoints is not None:
                    box = ann.bbox[r.index] if ann.bbox is not None else np.full(4, np.nan)
                    gt = (ann.keypoints[r.index], ann.visibility[r.index], box)
                gates = None
                if options.gates:
                    gates = _host(torch.stack([rec[g][0] for g in GATE_POINTS]).float())
                writer.append(
                    r.index,
                    r.frame,
                    mem,
                    _host(r.belief.float()),
                    r.keypoints,
                    r.confidence,
                    r.grid_to_frame,
                    gt=gt,
                    gates=gates,
                    hidden=_host(rec["hidden"][0].float(), copy=True) if options.hidden else None,
                    source_jpeg=video.encoded_frame(r.index),  # a JPEG frame file: kept as is
                )
                probe.latest.clear()
                del mem  # the recorded tensors go before the next step (the writer has copied them)
        writer.close()
    except BaseException:
        writer.abort()
        raise
    for stage, seconds in writer.seconds.items():
        spent[stage] = spent.get(stage, 0.0) + seconds
    return writer.n


def _host(t: torch.Tensor, copy: bool = False):
    """``t`` for the writer thread, which reads it when it writes its block. On CPU its array
    (``copy``: a copy, for a tensor the model keeps using). On CUDA a non-blocking copy into
    pinned host memory and an event the writer waits for: the copy overlaps the next frames'
    kernels instead of stalling the stream."""
    if t.device.type != "cuda":
        return t.numpy().copy() if copy else t.numpy()
    buf = torch.empty(t.shape, dtype=t.dtype, pin_memory=True)
    buf.copy_(t, non_blocking=True)
    event = torch.cuda.Event()
    event.record()
    return HostCopy(buf, event)


class HostCopy:
    """A device-to-host copy in flight: ``np.asarray`` of it waits for its event, then is the
    pinned buffer's array."""

    __slots__ = ("buffer", "event")

    def __init__(self, buffer: torch.Tensor, event):
        self.buffer, self.event = buffer, event

    def __array__(self, dtype=None, copy=None):
        self.event.synchronize()
        a = self.buffer.numpy()
        return a if dtype is None else a.astype(dtype)
