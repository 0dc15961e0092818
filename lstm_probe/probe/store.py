"""The dump store: a directory the dashboard and notebooks read, written frame by frame.

    DUMP/manifest.json          format version, lstm-probe version, model, checkpoint sha256,
                                joints, probe points, channels, grid size, videos + status
                                and the inference mode (accel) each was dumped in
    DUMP/videos/<video_id>.h5   one HDF5 file per video (written as .h5.tmp, renamed when done)

Per video (F frames, C channels, h×w grid, J joints):

    memory        float16 [F, 4, C, h, w]  phases prev_cell, forget_term, input_term, cell;
                                           chunks (1, 4, 1, h, w): one channel of one frame, all
                                           phases — how Figure 5 reads
    stats         float32 [F, 4, C, 7]     mean, mean |x|, min, max, energy (Σx²), argmax y, x
                                           (of the float32 maps, before rounding)
    beliefs       float16 [F, J+1, h, w]
    keypoints     float32 [F, J, 2]        predicted, frame pixels;  confidence [F, J]
    keypoints_gt  float32 [F, J, 2], visible int8 [F, J], bbox float32 [F, 4]  when annotated
    flags/<name>  per-frame flags of the source (the synthetic set: occluded [F, J], cue_visible [F])
    grid_to_frame float32 [F, 2, 3]
    frames        vlen uint8 [F]            JPEG bytes of the original frames
    gates, hidden optional float16 [F, 4, C, h, w] (i, f, o, g) and [F, C, h, w]
    attrs         video_id, frame_width, frame_height, num_frames, source attributes (JSON),
                  frame0_has_no_memory = True: at frame 0, prev_cell and forget_term are zeros

Nothing is pickled. Frame 0's prev_cell and forget_term are zeros (C_0 = 0), so the identities
C_t = f⊙C_{t-1} + i⊙g and prev_cell(t) = cell(t−1) hold at every stored frame.
"""

from __future__ import annotations

import json
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from pathlib import Path

import cv2
import h5py
import numpy as np
import torch

from .. import __version__
from ..skeleton import SKELETON
from ..utils import InputError, write_json_atomic

FORMAT = "lstm-probe-dump"
FORMAT_VERSION = 1
PHASES = ("prev_cell", "forget_term", "input_term", "cell")
STATS = ("mean", "abs_mean", "min", "max", "energy", "argmax_y", "argmax_x")
GATES = ("input_gate", "forget_gate", "output_gate", "candidate")
_SAFE_ID = re.compile(r"[^A-Za-z0-9_.-]+")


def safe_video_id(video_id: str) -> str:
    """A file name for a video id (no path separators, no leading dot)."""
    s = _SAFE_ID.sub("_", video_id).strip("._")
    return s or "video"


def map_stats(maps):
    """maps (..., h, w) -> (..., 7) float32 summary statistics (see STATS). A torch tensor (as the
    dump computes them, on the model's fp32 records) gives a tensor, a NumPy array an array."""
    is_numpy = isinstance(maps, np.ndarray)
    m = torch.as_tensor(maps).float()
    w = m.shape[-1]
    flat = m.flatten(-2)
    mag = flat.abs()
    am = mag.argmax(-1)
    out = torch.stack(
        [
            flat.mean(-1),
            mag.mean(-1),
            flat.amin(-1),
            flat.amax(-1),
            (flat * flat).sum(-1),
            torch.div(am, w, rounding_mode="floor").float(),
            (am % w).float(),
        ],
        -1,
    )
    return out.numpy() if is_numpy else out


class VideoDumpWriter:
    """Append frames to ``videos/<id>.h5.tmp``; ``close()`` renames it into place, ``abort()``
    removes it. Frames are buffered in blocks of ``block`` and written by a background thread
    (JPEG encoding, HDF5 writes and the statistics a caller did not give run beside the next
    frames' inference); memory stays bounded by two blocks."""

    def __init__(
        self,
        path: Path,
        video_id: str,
        channels: int,
        grid: int,
        num_joints: int,
        frame_size: tuple[int, int],
        attrs: dict,
        labelled: bool,
        flags: dict[str, np.ndarray] | None = None,
        gates: bool = False,
        hidden: bool = False,
        jpeg_quality: int = 90,
        block: int = 32,
    ):
        self.path = Path(path)
        self.tmp = self.path.with_name(self.path.name + ".tmp")
        self.f = h5py.File(self.tmp, "w")
        C, h, J = channels, grid, num_joints
        self.jpeg_quality, self.n = jpeg_quality, 0
        # Frames are written in blocks by one background thread, overlapping model compute:
        # one HDF5 call per dataset and block instead of per frame.
        self.block, self.written = block, 0
        self._block: list[dict] = []
        self._inflight = None
        self._pool = ThreadPoolExecutor(
            1, thread_name_prefix="dump-writer", initializer=_lowest_priority
        )

        def ds(name, shape, dtype, chunks=None):
            return self.f.create_dataset(
                name, shape=(0, *shape), maxshape=(None, *shape), dtype=dtype,
                chunks=chunks or (1, *shape),
            )  # fmt: skip

        self.memory = ds("memory", (4, C, h, h), "f2", (1, 4, 1, h, h))
        self.memory.attrs["phases"] = list(PHASES)
        self.memory.attrs["dims"] = ["frame", "phase", "channel", "y", "x"]
        self.stats = ds("stats", (4, C, len(STATS)), "f4")
        self.stats.attrs["names"] = list(STATS)
        self.beliefs = ds("beliefs", (J + 1, h, h), "f2")
        self.keypoints = ds("keypoints", (J, 2), "f4")
        self.confidence = ds("confidence", (J,), "f4")
        self.g2f = ds("grid_to_frame", (2, 3), "f4")
        self.frames = self.f.create_dataset(
            "frames", shape=(0,), maxshape=(None,), dtype=h5py.vlen_dtype(np.uint8), chunks=(16,)
        )
        self.gates = ds("gates", (4, C, h, h), "f2", (1, 4, 1, h, h)) if gates else None
        if self.gates is not None:
            self.gates.attrs["gates"] = list(GATES)
        self.hidden = ds("hidden", (C, h, h), "f2") if hidden else None
        self.labelled, self.flags = labelled, flags or {}
        self.gt = {}
        if labelled:
            self.gt["keypoints_gt"] = ds("keypoints_gt", (J, 2), "f4")
            self.gt["visible"] = ds("visible", (J,), "i1")
            self.gt["bbox"] = ds("bbox", (4,), "f4")
        self.flag_ds = {k: ds(f"flags/{k}", v.shape[1:], v.dtype) for k, v in self.flags.items()}
        self.f.attrs.update(
            {
                "video_id": video_id,
                "frame_width": int(frame_size[0]),
                "frame_height": int(frame_size[1]),
                "source_attrs": json.dumps(attrs, default=str),
                "frame0_has_no_memory": True,
                "first_frame": -1,
            }
        )

    def append(
        self,
        t: int,
        frame_bgr: np.ndarray,
        memory: np.ndarray,  # (4, C, h, w)
        belief: np.ndarray,
        keypoints: np.ndarray,
        confidence: np.ndarray,
        grid_to_frame: np.ndarray,
        gt: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
        gates: np.ndarray | None = None,
        hidden: np.ndarray | None = None,
        stats: np.ndarray | None = None,
    ) -> None:
        """Queue frame ``t``. The arrays are kept (not copied) until their block is written: pass
        arrays the caller does not reuse. ``stats`` (4, C, 7): :func:`map_stats` of the memory
        when the caller has them (computed from the float32 maps), else computed here."""
        if self.n == 0:
            self.f.attrs["first_frame"] = int(t)
        row = {
            "t": t, "frames": frame_bgr, "memory": memory, "beliefs": belief,
            "keypoints": keypoints, "confidence": confidence, "grid_to_frame": grid_to_frame,
            "stats": stats,
        }  # fmt: skip
        if self.gates is not None:
            row["gates"] = gates
        if self.hidden is not None:
            row["hidden"] = hidden
        if self.labelled:
            row.update(zip(self.gt, gt if gt is not None else (None,) * 3))
        self._block.append(row)
        self.n += 1
        if len(self._block) >= self.block:
            self._submit()

    def _submit(self) -> None:
        """Hand the filled block to the writer thread, after the previous block has landed (so at
        most two blocks are in memory and errors surface at the next frame)."""
        if self._inflight is not None:
            self._inflight.result()
            self._inflight = None
        if self._block:
            block, self._block = self._block, []
            self._inflight = self._pool.submit(self._write_block, block)

    def _write_block(self, rows: list[dict]) -> None:
        i, n = self.written, len(rows)

        def put(d: h5py.Dataset, values) -> None:
            d.resize(i + n, axis=0)
            d[i : i + n] = values

        memory = np.stack([r["memory"] for r in rows])
        put(self.memory, memory.astype(np.float16, copy=False))
        given = [r["stats"] for r in rows if r["stats"] is not None]
        put(self.stats, np.stack(given) if len(given) == n else map_stats(memory))
        put(self.beliefs, np.stack([r["beliefs"] for r in rows]).astype(np.float16, copy=False))
        for name in ("keypoints", "confidence", "grid_to_frame"):
            put(self.f[name], np.stack([r[name] for r in rows]))
        jpegs = []
        params = [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality]
        for r in rows:
            try:
                ok, buf = cv2.imencode(".jpg", r["frames"], params)
            except cv2.error:
                ok = False
            if not ok:
                shape = getattr(r["frames"], "shape", None)
                raise InputError(self.path, f"frame {r['t']} could not be encoded (shape {shape})")
            jpegs.append(buf.ravel())
        self.frames.resize(i + n, axis=0)
        for k, buf in enumerate(jpegs):  # one by one: h5py would broadcast a 1-element block
            self.frames[i + k] = buf
        for name, d in (("gates", self.gates), ("hidden", self.hidden)):
            if d is not None:
                put(d, np.stack([r[name] for r in rows]).astype(np.float16, copy=False))
        for name, d in self.gt.items():
            put(d, np.stack([_missing(r[name], d) for r in rows]))
        ts = [r["t"] for r in rows]
        for k, d in self.flag_ds.items():
            put(d, self.flags[k][ts])
        self.written = i + n

    def close(self) -> None:
        self._submit()
        self._submit()  # waits for the last block
        self._pool.shutdown()
        self.f.attrs["num_frames"] = self.n
        self.f.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        try:
            self._pool.shutdown(cancel_futures=True)  # waits for a running block
            self.f.close()
        finally:
            if self.tmp.exists():
                self.tmp.unlink()


def _lowest_priority() -> None:
    """Run the writer thread at the lowest CPU priority (Linux: niceness is per thread): it then
    fills the cores' idle moments (frame decoding, Python between kernels) instead of preempting
    the model's compute threads, whose parallel regions would all wait for a preempted one."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):  # not Linux, or not permitted: normal priority
        pass


def _missing(value, d: h5py.Dataset) -> np.ndarray:
    """A ground-truth row, or NaN (-1 for ints) where a frame of a labelled video has none."""
    if value is not None:
        return value
    return np.full(d.shape[1:], -1 if d.dtype.kind == "i" else np.nan, d.dtype)


class DumpVideo:
    """Lazy read access to one dumped video. Arrays are read on demand from HDF5."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.f = h5py.File(path, "r")
        except OSError as e:
            raise InputError(path, f"not a readable HDF5 file ({e})") from None
        for key in ("memory", "beliefs", "keypoints", "grid_to_frame", "frames"):
            if key not in self.f:
                raise InputError(path, f"dump video has no {key!r} dataset")
        a = self.f.attrs
        self.video_id = str(a.get("video_id", path.stem))
        self.num_frames = int(self.f["memory"].shape[0])
        self.first_frame = int(a.get("first_frame", 0))
        self.frame_size = (int(a.get("frame_width", 0)), int(a.get("frame_height", 0)))
        self.attrs = json.loads(a.get("source_attrs", "{}"))

    @property
    def memory(self) -> h5py.Dataset:
        return self.f["memory"]

    @property
    def channels(self) -> int:
        return int(self.memory.shape[2])

    def phase_map(self, frame: int, phase: str, channel: int) -> np.ndarray:
        return self.memory[frame, PHASES.index(phase), channel].astype(np.float32)

    def frame_phases(self, frame: int, channel: int) -> np.ndarray:
        """(4, h, w) all phases of one channel of one frame (one chunk)."""
        return self.memory[frame, :, channel].astype(np.float32)

    def frame_image(self, frame: int) -> np.ndarray:
        """The original frame as RGB uint8."""
        img = cv2.imdecode(np.asarray(self.f["frames"][frame]), cv2.IMREAD_COLOR)
        return img[:, :, ::-1].copy()

    def array(self, name: str) -> np.ndarray | None:
        return self.f[name][()] if name in self.f else None

    @cached_property
    def stats(self) -> np.ndarray:
        return self.f["stats"][()]

    @cached_property
    def keypoints(self) -> np.ndarray:
        return self.f["keypoints"][()]

    @cached_property
    def keypoints_gt(self) -> np.ndarray | None:
        return self.array("keypoints_gt")

    @cached_property
    def visible(self) -> np.ndarray | None:
        return self.array("visible")

    @cached_property
    def bbox(self) -> np.ndarray | None:
        return self.array("bbox")

    @cached_property
    def grid_to_frame(self) -> np.ndarray:
        return self.f["grid_to_frame"][()]

    @cached_property
    def flags(self) -> dict[str, np.ndarray]:
        return {k: v[()] for k, v in self.f["flags"].items()} if "flags" in self.f else {}

    def close(self) -> None:
        self.f.close()


class Dump:
    """A dump directory: ``manifest`` plus lazily opened videos."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        mpath = self.path / "manifest.json"
        if not mpath.is_file():
            raise InputError(self.path, "not a dump directory (no manifest.json)")
        try:
            self.manifest = json.loads(mpath.read_text())
        except json.JSONDecodeError as e:
            raise InputError(mpath, f"manifest is not valid JSON ({e})") from None
        if self.manifest.get("format") != FORMAT:
            raise InputError(mpath, "not an lstm-probe dump manifest")
        v = self.manifest.get("format_version")
        if v != FORMAT_VERSION:
            raise InputError(
                mpath, f"dump format version {v} is not supported (need {FORMAT_VERSION})"
            )
        self._open: dict[str, DumpVideo] = {}

    @property
    def video_ids(self) -> list[str]:
        return [v["video_id"] for v in self.manifest["videos"] if v.get("status") == "done"]

    def video(self, video_id: str) -> DumpVideo:
        if video_id not in self._open:
            entry = next((v for v in self.manifest["videos"] if v["video_id"] == video_id), None)
            if entry is None or entry.get("status") != "done":
                raise InputError(self.path, f"no finished video {video_id!r} in this dump")
            path = (self.path / entry["file"]).resolve()
            if self.path.resolve() not in path.parents:  # never read outside the dump
                raise InputError(self.path, f"video file {entry['file']!r} lies outside the dump")
            self._open[video_id] = DumpVideo(path)
        return self._open[video_id]

    @property
    def joint_names(self) -> list[str]:
        return self.manifest.get("joints", list(SKELETON.names))

    def close(self) -> None:
        for v in self._open.values():
            v.close()
        self._open.clear()


def open_dump(path: str | os.PathLike) -> Dump:
    return Dump(path)


def new_manifest(model_info: dict, checkpoint: dict, channels: int, grid: int, points) -> dict:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "lstm_probe_version": __version__,
        "model": model_info,
        "checkpoint": checkpoint,
        "joints": list(SKELETON.names),
        "probe_points": list(points),
        "phases": list(PHASES),
        "channels": channels,
        "grid_size": grid,
        "videos": [],
    }


def save_manifest(path: Path, manifest: dict) -> None:
    write_json_atomic(path / "manifest.json", manifest)
