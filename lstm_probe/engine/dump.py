"""``lstm-probe dump``: stream videos through LSTM PM with the probe attached, frame by frame, into
a dump directory (see :mod:`lstm_probe.probe.store`).

Memory use is flat in video length: each frame's probe records are written and dropped before the
next frame runs. Videos finished by an earlier, interrupted run are skipped (their files are not
touched); the partial one is redone from its start.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
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
    Dump,
    VideoDumpWriter,
    map_stats,
    new_manifest,
    safe_video_id,
    save_manifest,
)
from ..transforms.augment import CropPolicy
from ..transforms.heatmaps import HeatmapCodec
from ..utils import InputError, pick_device, progress_bar, sha256_file
from .accel import accel_of, resolve_accel
from .infer import test_policy
from .stream import crops_for, stream_video


@dataclass(frozen=True)
class DumpOptions:
    """What a dump records and how it streams.

    ``frames``: (start, stop) frame range (stop None: to the end); ``channels``: memory channels
    to keep (None: all); ``gates`` / ``hidden``: also store the four gates / the hidden state;
    ``crop``: ``auto``, ``gt`` or ``track`` (:func:`lstm_probe.engine.stream.crops_for`);
    ``accel``: the inference mode (:mod:`lstm_probe.engine.accel`), recorded per video.
    """

    frames: tuple[int, int | None] = (0, None)
    channels: tuple[int, ...] | None = None
    gates: bool = False
    hidden: bool = False
    crop: str = "auto"
    accel: str = "auto"

    @property
    def points(self) -> list[str]:
        """The probe points recorded: the four memory phases, the belief, and on request the
        gates and the hidden state."""
        return (
            [*MEMORY_PHASES, "belief"]
            + (list(GATE_POINTS) if self.gates else [])
            + (["hidden"] if self.hidden else [])
        )


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
    records the inference mode it was dumped with."""
    dev = pick_device(device)
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
    warn_domain(payload, [_source(v) for v in videos])  # a synthetic-only model on real footage
    return dump_model(model, videos, out, source, preset, policy, options, dev, progress)


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
) -> Path:
    """Dump a model held in memory. ``source`` describes it (path, sha256, meta) in the manifest."""
    out = Path(out)
    dev = torch.device(device)
    cfg = model.config
    channels = options.channels
    if channels is not None and any(not 0 <= c < cfg.hidden_channels for c in channels):
        raise InputError(None, f"channels must lie in 0..{cfg.hidden_channels - 1}")
    C = cfg.hidden_channels if channels is None else len(channels)
    indices = list(range(cfg.hidden_channels)) if channels is None else list(channels)
    _check_videos(videos, options)
    if (out / "manifest.json").exists():
        manifest = Dump(out).manifest
        if manifest["checkpoint"]["sha256"] != source["sha256"]:
            raise InputError(out, "holds a dump of another checkpoint; choose a new --out")
        if manifest["probe_points"] != options.points or manifest.get("channel_indices") != indices:
            raise InputError(
                out, "holds a dump with other --channels/--gates/--hidden; choose a new --out"
            )
    else:
        model_info = {"name": model.name, "preset": preset, "config": cfg.to_dict()}
        manifest = new_manifest(model_info, source, C, cfg.grid_size, options.points)
        manifest["channel_indices"] = indices
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
            save_manifest(out, manifest)
            n = _dump_one(model, video, out / fname, codec, policy, dev, options, C)
            e.update(status="done", num_frames=n, accel=accel_of(model).mode,
                     attrs=_plain(video.attrs), sha256=sha256_file(out / fname))  # fmt: skip
            save_manifest(out, manifest)
            bar.update(1)
    return out


def _finished(out: Path, entry: dict) -> bool:
    """Is this manifest entry's video really finished? Its file must exist and match the sha256
    recorded when it was written (older dumps: open and validate it, and count its frames); a
    video that fails is redone, never trusted."""
    path = out / entry["file"]
    if entry.get("status") != "done" or not path.is_file():
        return False
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


def _dump_one(model, video, path, codec, policy, dev, options: DumpOptions, C: int) -> int:
    """Stream one video into ``path`` (written as .tmp, renamed when complete) -> frames written."""
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
    )
    try:
        probe = MemoryProbe(model, options.points, channels=options.channels, keep="latest")
        crops = crops_for(video, policy, options.crop)
        with probe:
            for r in stream_video(model, video, crops, codec, dev, start, stop):
                rec = probe.latest
                mem = torch.stack([rec[p][0] for p in MEMORY_PHASES]).float()  # (4, C, h, w)
                stats = map_stats(mem).cpu().numpy()  # from the float32 maps, before rounding
                gt = None
                if ann.keypoints is not None:
                    box = ann.bbox[r.index] if ann.bbox is not None else np.full(4, np.nan)
                    gt = (ann.keypoints[r.index], ann.visibility[r.index], box)
                gates = None
                if options.gates:
                    gates = torch.stack([rec[g][0] for g in GATE_POINTS]).half().cpu().numpy()
                writer.append(
                    r.index,
                    r.frame,
                    mem.half().cpu().numpy(),
                    r.belief.float().cpu().numpy(),
                    r.keypoints,
                    r.confidence,
                    r.grid_to_frame,
                    gt=gt,
                    gates=gates,
                    hidden=rec["hidden"][0].half().cpu().numpy() if options.hidden else None,
                    stats=stats,
                )
                probe.latest.clear()
        writer.close()
    except BaseException:
        writer.abort()
        raise
    return writer.n
