"""``lstm-probe dump``: stream videos through LSTM PM with the probe attached, frame by frame, into
a dump directory (see :mod:`lstm_probe.probe.store`).

Memory use is flat in video length: each frame's probe records are written and dropped before the
next frame runs. Videos finished by an earlier, interrupted run are skipped (their files are not
touched); the partial one is redone from its start.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import load_checkpoint
from ..data.video import Video
from ..engine.accel import accel_of, resolve_accel
from ..engine.infer import stream_video, test_policy
from ..models import MEMORY_PHASES
from ..transforms.augment import CropPolicy
from ..transforms.heatmaps import HeatmapCodec
from ..utils import InputError, pick_device, sha256_file
from .recorder import MemoryProbe
from .store import (
    GATES,
    VideoDumpWriter,
    map_stats,
    new_manifest,
    safe_video_id,
    save_manifest,
)


def dump_videos(
    checkpoint: str | Path,
    videos: Sequence[Video],
    out: str | Path,
    frames: tuple[int, int | None] = (0, None),
    channels: Sequence[int] | None = None,
    gates: bool = False,
    hidden: bool = False,
    crop: str = "auto",
    device: str | None = None,
    progress: bool = True,
    policy: CropPolicy | None = None,
    accel: str = "auto",
) -> Path:
    """``accel``: the inference mode (:mod:`lstm_probe.engine.accel`); each video's manifest entry
    records the one it was dumped with."""
    dev = pick_device(device)
    model, payload = load_checkpoint(checkpoint, dev)
    resolve_accel(accel, dev).prepare(model)
    if not model.has_memory:
        raise InputError(checkpoint, f"a {model.name!r} model has no LSTM memory to dump")
    source = {
        "path": str(checkpoint),
        "sha256": sha256_file(checkpoint),
        "meta": _plain(payload.get("meta", {})),
    }
    return dump_model(
        model, videos, out, source, payload["model"].get("preset"),
        policy or test_policy(model, payload), frames, channels, gates, hidden, crop, dev, progress,
    )  # fmt: skip


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
    frames: tuple[int, int | None] = (0, None),
    channels: Sequence[int] | None = None,
    gates: bool = False,
    hidden: bool = False,
    crop: str = "auto",
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> Path:
    """Dump a model held in memory. ``source`` describes it (path, sha256, meta) in the manifest."""
    out = Path(out)
    dev = torch.device(device)
    sha = source["sha256"]
    cfg = model.config
    C = cfg.hidden_channels if channels is None else len(channels)
    if channels is not None and any(not 0 <= c < cfg.hidden_channels for c in channels):
        raise InputError(None, f"channels must lie in 0..{cfg.hidden_channels - 1}")
    points = dumped_points(gates, hidden)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    mpath = out / "manifest.json"
    if mpath.exists():
        from .store import Dump

        manifest = Dump(out).manifest
        if manifest["checkpoint"]["sha256"] != sha:
            raise InputError(out, "holds a dump of another checkpoint; choose a new --out")
    else:
        manifest = new_manifest(
            {"name": model.name, "preset": preset, "config": cfg.to_dict()},
            source,
            C,
            cfg.grid_size,
            points,
        )
        manifest["channel_indices"] = (
            list(range(cfg.hidden_channels)) if channels is None else list(channels)
        )
    codec = HeatmapCodec(cfg.input_size)
    entries = {v["video_id"]: v for v in manifest["videos"]}
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(videos), desc="dump", unit="video")
    for video in videos:
        vid = video.video_id
        fname = f"videos/{safe_video_id(vid)}.h5"
        e = entries.get(vid)
        if e is not None and e.get("status") == "done" and (out / e["file"]).is_file():
            if bar is not None:
                bar.update(1)
            continue
        e = {"video_id": vid, "file": fname, "status": "partial"}
        if vid not in entries:
            manifest["videos"].append(e)
        else:
            manifest["videos"][[v["video_id"] for v in manifest["videos"]].index(vid)] = e
        entries[vid] = e
        save_manifest(out, manifest)
        n = _dump_one(
            model, video, out / fname, codec, policy, dev, frames, channels, gates, hidden, crop, C
        )
        e.update(status="done", num_frames=n, accel=accel_of(model).mode, attrs=_plain(video.attrs))
        save_manifest(out, manifest)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return out


def dumped_points(gates: bool, hidden: bool) -> list[str]:
    """The probe points a dump records: the four memory phases, the belief, and on request the
    gates and the hidden state."""
    return (
        [*MEMORY_PHASES, "belief"] + (list(GATES) if gates else []) + (["hidden"] if hidden else [])
    )


def _plain(d):
    import json

    return json.loads(
        json.dumps(d, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))
    )


def _dump_one(
    model, video, path, codec, policy, dev, frames, channels, gates, hidden, crop, C
) -> int:
    """Stream one video into ``path`` (written as .tmp, renamed when complete) -> frames written."""
    ann = video.annotations
    first = next(iter(video.frames(frames[0], frames[0] + 1)), None)
    if first is None:
        raise InputError(path, f"{video.video_id}: no frame at index {frames[0]}")
    current: dict[str, torch.Tensor] = {}
    points = dumped_points(gates, hidden)
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
        gates=gates,
        hidden=hidden,
    )
    try:
        probe = MemoryProbe(
            model,
            points,
            channels=channels,
            on_record=lambda n, t, x: current.__setitem__(n, x[0]),
            keep=False,
        )
        with probe:
            for r in stream_video(model, video, policy, codec, dev, crop, frames[0], frames[1]):
                mem = torch.stack([current[p] for p in MEMORY_PHASES]).float()  # (4, C, h, w)
                stats = map_stats(mem).cpu().numpy()  # from the float32 maps, before rounding
                mem = mem.half().cpu().numpy()
                gt = None
                if ann.keypoints is not None:
                    box = ann.bbox[r.index] if ann.bbox is not None else np.full(4, np.nan)
                    gt = (ann.keypoints[r.index], ann.visibility[r.index], box)
                writer.append(
                    r.index,
                    r.frame,
                    mem,
                    r.belief.float().cpu().numpy(),
                    r.keypoints,
                    r.confidence,
                    r.grid_to_frame,
                    gt=gt,
                    gates=torch.stack([current[g] for g in GATES]).half().cpu().numpy()
                    if gates
                    else None,
                    hidden=current["hidden"].half().cpu().numpy() if hidden else None,
                    stats=stats,
                )
                current.clear()
        writer.close()
    except BaseException:
        writer.abort()
        raise
    return writer.n
