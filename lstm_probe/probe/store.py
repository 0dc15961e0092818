"""The dump store: a directory the dashboard and notebooks read, written frame by frame.

    DUMP/manifest.json          format version, lstm-probe version, model, checkpoint sha256,
                                joints, probe points, channels, grid size, videos + status
                                and the inference mode (accel) each was dumped in
    DUMP/videos/<video_id>.h5   one HDF5 file per video (written as .h5.tmp, renamed when done)

Per video (F frames, C channels, h×w grid, J joints):

    memory        float16 [F, 3, C, h, w]  phases forget_term, input_term, cell (STORED_PHASES);
                                           chunks: one frame, all phases, a group of channels
                                           (``map_chunks``: all 48 on a 16² grid, 10 on a 46²).
                                           prev_cell is not stored: it is the cell of the frame
                                           before (zeros at the first), read as such by
                                           :class:`MemoryMaps`. Format 1 stored all four phases
                                           [F, 4, C, h, w]; both read alike.
    stats         float32 [F, 4, C, 7]     per phase of PHASES (prev_cell's: the cell's of the
                                           frame before): mean, mean |x|, min, max, energy (Σx²),
                                           argmax y, x (of the float32 maps, before rounding)
    beliefs       float16 [F, J+1, h, w]
    keypoints     float32 [F, J, 2]        predicted, frame pixels;  confidence [F, J]
    keypoints_gt  float32 [F, J, 2], visible int8 [F, J], bbox float32 [F, 4]  when annotated
    flags/<name>  per-frame flags of the source (the synthetic set: occluded [F, J], cue_visible [F])
    grid_to_frame float32 [F, 2, 3]
    frames        vlen uint8 [F]            JPEG bytes of the original frames: a source frame's
                                           own file where it is a JPEG with no metadata
                                           (:func:`source_jpeg_size`; exact, not re-encoded),
                                           else the decoded frame encoded at quality 90
    gates, hidden optional float16 [F, 4, C, h, w] (i, f, o, g) and [F, C, h, w]
    attrs         video_id, frame_width, frame_height, num_frames, frames_from_source (how
                  many frames are their source file's bytes), source attributes (JSON),
                  frame0_has_no_memory = True: at frame 0, prev_cell and forget_term are zeros

Nothing is pickled. Frame 0's prev_cell and forget_term are zeros (C_0 = 0), so the identities
C_t = f⊙C_{t-1} + i⊙g and prev_cell(t) = cell(t−1) hold at every stored frame. The second holds
bit for bit in what the model records (the cell it returns is the state it reads at the next
frame), which is why format 2 stores the cell once: a quarter less memory to round, summarise,
write and fingerprint per frame.

The reader trusts nothing in a dump. Opening the manifest checks the type of every key a reader
uses; a video's file must lie in ``DUMP/videos/`` (no ``..``, absolute path or link out of it).
Opening a video checks, once and before any data is read: every dataset is reached by a hard
link (no external or soft link is followed) and stored in the file itself (no external raw
storage, no virtual dataset, no filter beyond shuffle/fletcher32/gzip/lzf, no declared but
unstored data); dtypes and shapes are as above, with one frame count, channel count, grid and
joint count across datasets, bounded by the ``MAX_*`` limits below and equal to the manifest's;
the attributes num_frames, frame_width, frame_height and frames_from_source are bounded integers
that agree with the data. A frame's bytes are decoded only if they are a JPEG of the size the
file states. Every refusal is an InputError naming the file and the dataset, attribute or key.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import re

try:
    import resource
except ImportError:  # not POSIX
    resource = None
import shutil
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import nullcontext
from functools import cached_property
from itertools import pairwise
from pathlib import Path

import cv2
import h5py
import numpy as np
import torch

from .. import __version__
from ..compute_threads import can_release_workers, lent_cores
from ..models.conv_lstm import GATE_POINTS as GATES
from ..models.conv_lstm import MEMORY_PHASES as PHASES
from ..skeleton import SKELETON
from ..utils import InputError, write_json_atomic

FORMAT = "lstm-probe-dump"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)  # 1: memory with all four phases
STORED_PHASES = PHASES[1:]  # the memory phases a video file stores; prev_cell(t) = cell(t−1)
STATS = ("mean", "abs_mean", "min", "max", "energy", "argmax_y", "argmax_x")
_SAFE_ID = re.compile(r"[^A-Za-z0-9_.-]+")


def safe_video_id(video_id: str) -> str:
    """A file name for a video id (no path separators, no leading dot)."""
    s = _SAFE_ID.sub("_", video_id).strip("._")
    return s or "video"


def map_stats(maps):
    """maps (..., h, w) -> (..., 7) float32 summary statistics (see STATS). A torch tensor (as the
    dump computes them, on the model's fp32 records) gives a tensor, a NumPy array an array.

    Each statistic is one reduction written into its column; the arg-max of |x| is NumPy's (a
    vectorised row reduction, several times faster than torch's on rows of a few hundred cells)
    and, as torch's, the first of equal maxima."""
    is_numpy = isinstance(maps, np.ndarray)
    m = torch.as_tensor(maps).float()
    w = m.shape[-1]
    flat = m.flatten(-2)
    mag = flat.abs()
    if mag.device.type == "cpu":
        am = torch.as_tensor(np.asarray(mag.numpy().argmax(-1)))
    else:
        am = mag.argmax(-1)
    out = flat.new_empty(*flat.shape[:-1], len(STATS))
    torch.mean(flat, -1, out=out[..., 0])
    torch.mean(mag, -1, out=out[..., 1])
    torch.amin(flat, -1, out=out[..., 2])
    torch.amax(flat, -1, out=out[..., 3])
    torch.linalg.vector_norm(flat, dim=-1, out=out[..., 4]).square_()  # Σx², in one pass
    out[..., 5] = torch.div(am, w, rounding_mode="floor")
    out[..., 6] = am % w
    return out.numpy() if is_numpy else out


class VideoDumpWriter:
    """Append frames to ``videos/<id>.h5.tmp``; ``close()`` renames it into place, ``abort()``
    removes it. Frames are buffered in blocks; each block is written at once: the statistics and
    float16 rounding of the memory (from the float32 maps a caller hands over: the three
    :data:`STORED_PHASES`; prev_cell's statistics are the cell's of the frame before), JPEG
    encoding and one HDF5 call per dataset and block. A block holds ``block`` frames, fewer
    where their float32 arrays would exceed ``block_bytes`` (64 by default: a block's dozen
    HDF5 calls cost about the same whatever its length, so longer blocks spread them thinner).

    ``background``: where a block is written. True: by a thread, beside the next frames'
    inference (at most two blocks in memory; an error surfaces at the next block) — for a model
    on a GPU, or a CPU with cores the model's threads leave free. False: in the caller's thread
    when the block fills, between two model steps — for a model whose threads occupy every core.
    There a writer thread can only take a core from them, and costs more than its own time: a
    parallel region waits for its slowest thread, an idle compute thread spins for milliseconds
    before it sleeps (so a low-priority writer gets almost no CPU), and the writer's Python and
    HDF5 calls take the GIL the model's kernel launches need. Measured on 2 cores (``lstm-probe
    bench probe``): a writer thread, even one that only works while the next frame is read or
    pinned to a core of its own, was slower than writing in the caller's thread. None (the
    default): :func:`writer_in_background`.

    Written in the caller's thread, each frame's memory is copied into the block's float32
    buffer as it is appended, so the model's tensors are let go at once and its next frames
    reuse their memory, warm in cache (held for a whole block, they made the model take fresh
    memory at every step); a background writer copies them when it writes the block (on a GPU,
    the device-to-host copy in flight is waited for only then).

    ``lanes`` (written in the caller's thread): how many threads prepare a block, each lane a
    share of its frames — their memory summarised and rounded to float16, their JPEGs
    encoded — before the caller's thread writes it to HDF5 (in row order: a file's bytes do not
    depend on the lanes). The model is between steps then, so with torch's idle workers released
    (:func:`~lstm_probe.compute_threads.lent_cores`) every core is the writer's; that work runs
    outside the GIL (in torch, NumPy and OpenCV). None (the default): one lane per core where
    the workers can be released, else one.

    :attr:`seconds` adds up the time of each stage (:data:`WRITER_STAGES`) over all frames and
    blocks (the copy, in the caller's thread, as each frame is appended); the lanes' wall time is
    shared among their stages in proportion to the time each took."""

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
        block: int = 64,
        block_bytes: int = 32 << 20,
        background: bool | None = None,
        lanes: int | None = None,
    ):
        self.path = Path(path)
        self.tmp = self.path.with_name(self.path.name + ".tmp")
        self.f = h5py.File(self.tmp, "w")
        C, h, J = channels, grid, num_joints
        self.jpeg_quality, self.n = jpeg_quality, 0
        self.from_source = 0  # frames stored as their source file's JPEG bytes
        P = len(STORED_PHASES)
        frame_bytes = 4 * C * h * h * (P + (4 if gates else 0) + (1 if hidden else 0))
        self.block, self.written = max(1, min(block, block_bytes // frame_bytes)), 0
        self._block: list[dict] = []
        self._inflight = None
        self.background = writer_in_background() if background is None else bool(background)
        if lanes is None:
            lanes = _lanes_beside_the_model()
        self.lanes = 1 if self.background else max(1, min(int(lanes), self.block))
        self._copy_on_append = not self.background  # the block's buffer is free meanwhile
        # the float32 memory of the block being filled or written (one block at a time: the
        # next waits for it), its float16 rounding, its statistics and the other maps' float16
        # rounding: allocated once, so no block pays for fresh pages
        shape = (self.block, P, C, h, h)
        self._maps = np.empty(shape, np.float32)
        self._maps16 = np.empty(shape, np.float16)
        self._stats = np.empty((self.block, len(PHASES), C, len(STATS)), np.float32)
        self._rounded = {"beliefs": np.empty((self.block, J + 1, h, h), np.float16)}
        if gates:
            self._rounded["gates"] = np.empty((self.block, 4, C, h, h), np.float16)
        if hidden:
            self._rounded["hidden"] = np.empty((self.block, C, h, h), np.float16)
        self._jpegs = np.empty(self.block, h5py.vlen_dtype(np.uint8))  # vlen: equal lengths
        # must not stack into 2-D
        self._cell_stats = np.zeros((C, len(STATS)), np.float32)  # of the last frame written:
        # the next frame's prev_cell (zeros before the first frame: C_0 = 0, as map_stats gives)
        self.seconds = dict.fromkeys(WRITER_STAGES, 0.0)  # time spent per stage, all blocks
        self._pool = (
            ThreadPoolExecutor(1, thread_name_prefix="dump-writer", initializer=_writer_thread)
            if self.background
            else None
        )
        self._lane_pool = (
            ThreadPoolExecutor(self.lanes - 1, thread_name_prefix="dump-lane")
            if self.lanes > 1
            else None
        )

        def ds(name, shape, dtype, chunks=None):
            if chunks is None:  # a block's rows per chunk: one HDF5 chunk write per block
                row = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
                chunks = (max(1, min(self.block, ROW_CHUNK_BYTES // max(row, 1))), *shape)
            return self.f.create_dataset(
                name, shape=(0, *shape), maxshape=(None, *shape), dtype=dtype, chunks=chunks
            )

        self.memory = ds("memory", (P, C, h, h), "f2", map_chunks(C, h, h, P))
        self.memory.attrs["phases"] = list(STORED_PHASES)
        self.memory.attrs["dims"] = ["frame", "phase", "channel", "y", "x"]
        self.stats = ds("stats", (4, C, len(STATS)), "f4")
        self.stats.attrs["names"] = list(STATS)
        self.beliefs = ds("beliefs", (J + 1, h, h), "f2")
        self.keypoints = ds("keypoints", (J, 2), "f4")
        self.confidence = ds("confidence", (J,), "f4")
        self.g2f = ds("grid_to_frame", (2, 3), "f4")
        self.frames = self.f.create_dataset(
            "frames",
            shape=(0,),
            maxshape=(None,),
            dtype=h5py.vlen_dtype(np.uint8),
            chunks=(self.block,),
        )
        self.gates = ds("gates", (4, C, h, h), "f2", map_chunks(C, h, h, 4)) if gates else None
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
        memory,  # (3, C, h, w): STORED_PHASES, or a list of the three (C, h, w)
        belief: np.ndarray,
        keypoints: np.ndarray,
        confidence: np.ndarray,
        grid_to_frame: np.ndarray,
        gt: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
        gates: np.ndarray | None = None,
        hidden: np.ndarray | None = None,
        stats: np.ndarray | None = None,
        source_jpeg: bytes | None = None,
    ) -> None:
        """Queue frame ``t``. ``memory``: the (3, C, h, w) maps of :data:`STORED_PHASES` — an
        array, a tensor, anything NumPy reads (a device-to-host copy in flight) — or a list of
        the three (C, h, w); it is copied into the block's float32 buffer now where the caller's
        thread writes the blocks, else when the block is written (and kept until then). prev_cell
        is not passed: it is the cell of the frame appended before (zeros before the first).
        Every other array is kept (not copied) until the block is written: pass arrays the
        caller does not modify. ``memory``, ``gates`` and ``hidden`` are stored as float16; pass
        them in float32 (the model's precision) and the statistics are computed here, from the
        float32 maps before rounding. ``stats`` (3, C, 7): :func:`map_stats` of the memory when
        the caller has them already. ``source_jpeg``: the bytes of the JPEG file the frame was
        decoded from; stored as they are (exact, and no encoding) when
        :func:`source_jpeg_size` admits them and gives the frame's size, else the frame is
        encoded."""
        if self.n == 0:
            self.f.attrs["first_frame"] = int(t)
        row = {
            "t": t, "frames": frame_bgr, "memory": memory, "beliefs": belief,
            "keypoints": keypoints, "confidence": confidence, "grid_to_frame": grid_to_frame,
            "stats": stats, "source_jpeg": source_jpeg,
        }  # fmt: skip
        if self.gates is not None:
            row["gates"] = gates
        if self.hidden is not None:
            row["hidden"] = hidden
        if self.labelled:
            row.update(zip(self.gt, gt if gt is not None else (None,) * 3))
        if self._copy_on_append:
            t0 = time.perf_counter()
            k = len(self._block)
            _copy_rows_into(self._maps[k : k + 1], [memory])
            self.seconds["copy"] += time.perf_counter() - t0
            row["memory"] = None  # in the block's buffer
        self._block.append(row)
        self.n += 1
        if len(self._block) >= self.block:
            self._submit()

    def _submit(self) -> None:
        """Write the filled block: in the background after the previous block has landed (so at
        most two blocks are in memory and errors surface at the next block), or here (see
        :meth:`_write_block`)."""
        self._landed()
        if not self._block:
            return
        block, self._block = self._block, []
        if self._pool is not None:
            self._inflight = self._pool.submit(self._write_block, block)
            return
        failure = None
        try:
            self._write_block(block)
        except BaseException as e:  # raised below, outside the handler, as a thread's failure
            failure = e
        self._raise(failure)

    def _landed(self) -> None:
        """Wait for the block in flight; raise what failed in it."""
        if self._inflight is None:
            return
        failure = self._inflight.exception()
        self._inflight = None
        self._raise(failure)

    def _raise(self, failure: BaseException | None) -> None:
        """Raise a block's failure: a refused write as :meth:`_write_failed` words it."""
        if isinstance(failure, OSError):
            raise self._write_failed(failure)
        if failure is not None:
            raise failure

    def _write_block(self, rows: list[dict]) -> None:
        """Write ``rows`` after the frames written so far: prepared by :attr:`lanes` threads,
        then stored by this one; the time of each stage adds to :attr:`seconds`."""
        t = time.perf_counter()
        self._room_for(rows)
        self.seconds["hdf5"] += time.perf_counter() - t  # the room check
        kept = self._prepare(rows)
        t = time.perf_counter()
        self._store(rows, kept)
        self.seconds["hdf5"] += time.perf_counter() - t

    def _prepare(self, rows: list[dict]) -> int:
        """Prepare the block's rows for storing, on :attr:`lanes` threads (this one and the lane
        pool's), each a contiguous share of the rows (:meth:`_prepare_rows`) -> frames stored
        as their source file's bytes. Every lane has finished when this returns or raises."""
        n, t0 = len(rows), time.perf_counter()
        cuts = [round(k * n / self.lanes) for k in range(self.lanes + 1)]
        spans = [(a, b) for a, b in pairwise(cuts) if b > a]
        given = all(r["stats"] is not None for r in rows)  # else computed, for every row
        with lent_cores() if len(spans) > 1 else nullcontext(False) as lent:
            if not lent:  # one lane, or torch's workers still on the cores: this thread alone
                spans = [(0, n)]
            others = [self._lane_pool.submit(self._prepare_rows, rows, a, b, given)
                      for a, b in spans[1:]]  # fmt: skip
            try:
                done = [self._prepare_rows(rows, *spans[0], given)]
            finally:
                wait(others)  # no lane still writes the buffers when this returns or raises
            done += [lane.result() for lane in others]
        self._account([stages for _, stages in done], time.perf_counter() - t0)
        stats, cell = self._stats[:n], PHASES.index("cell")
        stats[0, 0], stats[1:, 0] = self._cell_stats, stats[:-1, cell]  # prev_cell(t) = cell(t−1)
        self._cell_stats = stats[-1, cell].copy()
        return sum(kept for kept, _ in done)

    def _account(self, lanes: list[dict[str, float]], wall: float) -> None:
        """Add the lanes' seconds per stage to :attr:`seconds`, their ``wall`` time side by side
        shared among the stages in proportion to the time each took."""
        busy = sum(sum(stages.values()) for stages in lanes)
        for stages in lanes:
            for stage, seconds in stages.items():
                self.seconds[stage] += seconds * wall / busy if busy > 0 else 0.0

    def _store(self, rows: list[dict], kept: int) -> None:
        """Write the prepared block to HDF5 after the frames written so far."""
        i, n = self.written, len(rows)

        def put(d: h5py.Dataset, values) -> None:
            _append_rows(d, i, np.asarray(values, d.dtype))

        put(self.stats, self._stats[:n])
        put(self.memory, self._maps16[:n])
        for name, rounded in self._rounded.items():
            put(getattr(self, name), rounded[:n])
        for name in ("keypoints", "confidence", "grid_to_frame"):
            put(self.f[name], np.stack([r[name] for r in rows]))
        self.frames.resize(i + n, axis=0)
        # one low-level write: h5py's d[i:i+n] = jpegs would stack JPEGs of equal lengths
        space = self.frames.id.get_space()
        space.select_hyperslab((i,), (n,))
        self.frames.id.write(h5py.h5s.create_simple((n,)), space, self._jpegs[:n])
        for name, d in self.gt.items():
            put(d, np.stack([_missing(r[name], d) for r in rows]))
        ts = [r["t"] for r in rows]
        for k, d in self.flag_ds.items():
            put(d, self.flags[k][ts])
        self.from_source += kept
        self.written = i + n

    @torch.no_grad()  # a lane's thread has autograd on by default
    def _prepare_rows(self, rows: list[dict], a: int, b: int, given: bool):
        """Rows ``a:b`` of the block into its buffers: the memory copied into the float32 block
        (unless :meth:`append` did), its statistics (``given``: every row's own), its float16
        rounding and that of the other maps, the frames' JPEGs -> (frames stored as their source
        file's bytes, seconds per stage)."""
        clock = time.perf_counter
        t0 = clock()
        part, maps = rows[a:b], self._maps[a:b]
        memory = torch.from_numpy(maps)
        if not self._copy_on_append:  # else in the buffer since append
            _copy_rows_into(maps, [r["memory"] for r in part])
        t1 = clock()
        if given:
            self._stats[a:b, 1:] = np.stack([r["stats"] for r in part])
        else:
            self._stats[a:b, 1:] = map_stats(memory).numpy()
        t2 = clock()
        torch.from_numpy(self._maps16[a:b]).copy_(memory)  # float16 as torch rounds it
        for name, rounded in self._rounded.items():
            _round_into(rounded[a:b], [r[name] for r in part], name)
        t3 = clock()
        kept = 0
        for k, r in enumerate(part):
            self._jpegs[a + k], source = self._jpeg(r)
            kept += source
        t4 = clock()
        return kept, {"copy": t1 - t0, "statistics": t2 - t1, "float16": t3 - t2, "jpeg": t4 - t3}

    def _jpeg(self, row: dict) -> tuple[np.ndarray, bool]:
        """The frame's JPEG -> (bytes, are they its source file's?): its source file's bytes
        where they may be stored as they are, else the frame encoded at :attr:`jpeg_quality`."""
        source, frame = row["source_jpeg"], row["frames"]
        if source is not None and source_jpeg_size(source) == frame.shape[1::-1]:
            return np.frombuffer(source, np.uint8), True
        try:
            ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        except cv2.error:
            ok = False
        if not ok:
            shape = getattr(row["frames"], "shape", None)
            raise InputError(self.path, f"frame {row['t']} could not be encoded (shape {shape})")
        return buf.ravel(), False

    def close(self) -> None:
        self._submit()
        self._landed()
        self._shutdown()
        failure = None
        t = time.perf_counter()
        try:
            self.f.attrs["num_frames"] = self.n
            self.f.attrs["frames_from_source"] = self.from_source
            self.f.close()
        except OSError as e:
            failure = e
        self.seconds["hdf5"] += time.perf_counter() - t
        if failure is not None:  # raised outside the handler: no traceback keeps HDF5 objects
            raise self._write_failed(failure)
        os.replace(self.tmp, self.path)

    def _room_for(self, rows: list[dict]) -> None:
        """Refuse a block the file system has no room for — before HDF5 tries to write it (HDF5
        cannot recover from a refused write). Room: free disk space and the process's file-size
        limit, against the block's raw size plus a margin for HDF5's own metadata."""
        need = sum(v.nbytes for r in rows for v in r.values() if isinstance(v, np.ndarray))
        need += len(rows) * (self._maps16[0].nbytes + self._stats[0].nbytes)
        need = int(need * 1.1) + ROOM_MARGIN
        if shutil.disk_usage(self.tmp.parent).free < need:
            raise NoRoom(errno.ENOSPC, os.strerror(errno.ENOSPC))
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0] if resource else -1
        if limit not in (-1, getattr(resource, "RLIM_INFINITY", -1)):
            if self.tmp.stat().st_size + need > limit:
                raise NoRoom(errno.EFBIG, os.strerror(errno.EFBIG))

    def _write_failed(self, error: OSError) -> Exception:
        """A write the file system refused (a full disk, a file-size limit). Refused by
        :meth:`_room_for`, the file is intact and :meth:`abort` closes it. Refused inside HDF5
        (another process filled the disk meanwhile), the file cannot be closed — closing or even
        freeing its objects crashes the library — so the writer is kept alive for the life of
        the process with its file descriptor on the null device. Either way the partial file is
        removed, and the error names the file and says how to go on."""
        self._broken = not isinstance(error, NoRoom)
        traceback.clear_frames(error.__traceback__)
        error.__traceback__ = None
        if errno_of(error) in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
            return InputError(
                self.path,
                f"writing failed: {os.strerror(errno_of(error))}. Finished videos are kept; free "
                "space and run the same command again to resume",
            )
        return error

    def abort(self) -> None:
        """Discard the partial file."""
        try:
            self._shutdown(cancel_futures=True)  # waits for a running block
        finally:
            try:
                if getattr(self, "_broken", False):
                    null = os.open(os.devnull, os.O_RDWR)
                    os.dup2(null, self.f.id.get_vfd_handle())
                    os.close(null)
                    _KEPT_ALIVE.append(self)
                    ctypes.pythonapi.Py_IncRef(ctypes.py_object(self))  # never freed, even at exit
                elif self.f.id.valid:
                    self.f.close()
            finally:
                if self.tmp.exists():
                    self.tmp.unlink()

    def _shutdown(self, cancel_futures: bool = False) -> None:
        for pool in (self._pool, self._lane_pool):
            if pool is not None:
                pool.shutdown(cancel_futures=cancel_futures)


def writer_in_background(device: torch.device | str | None = None) -> bool:
    """Should a dump's blocks be written by a thread of their own? For a model on a GPU (it
    leaves the cores free, whatever torch's thread count), else only where a core is free of
    torch's compute threads (the CPUs this process may use outnumber them)."""
    if device is not None and torch.device(device).type == "cuda":
        return True
    return _cores() > torch.get_num_threads()


def writer_lanes(device: torch.device | str | None = None) -> int:
    """How many lanes prepare a dump's blocks by default (``VideoDumpWriter``'s ``lanes``): one
    where a background thread writes them, else one per core where torch's idle workers can be
    released."""
    return 1 if writer_in_background(device) else _lanes_beside_the_model()


def _lanes_beside_the_model() -> int:
    return _cores() if can_release_workers() else 1


def _cores() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class NoRoom(OSError):
    """The file system has no room for the next block (see :meth:`VideoDumpWriter._room_for`)."""


def unclosable_files() -> list[Path]:
    """Files of writers whose writes HDF5 itself saw refused (kept open for the process)."""
    return [w.tmp for w in _KEPT_ALIVE]


ROOM_MARGIN = 4 << 20  # bytes kept free beyond a block's raw size, for HDF5's metadata
_KEPT_ALIVE: list = []  # writers whose file HDF5 could not write (see VideoDumpWriter._write_failed)


def errno_of(error: OSError) -> int | None:
    """The errno of an OSError; HDF5 reports the file system's own one in its message
    (``errno = 28``)."""
    found = re.search(r"errno = (\d+)", str(error))
    return int(found.group(1)) if found else error.errno


# What a writer's time goes to (VideoDumpWriter.seconds): stacking the memory into its float32
# block, its statistics, rounding to float16, JPEG encoding, HDF5 (room check, writes, closing).
WRITER_STAGES = ("copy", "statistics", "float16", "jpeg", "hdf5")

# HDF5 chunks of ``memory`` and ``gates``: one frame, all maps, at least CHUNK_CHANNELS channels
# and as many as fit in MAP_CHUNK_BYTES (see :func:`map_chunks`).
CHUNK_CHANNELS = 8
MAP_CHUNK_BYTES = 128 << 10


def map_chunks(channels: int, h: int, w: int, maps: int) -> tuple[int, int, int, int, int]:
    """The chunk shape of a (frames, maps, C, h, w) float16 dataset (the memory's three stored
    phases, the four gates): one frame, all its maps, and a group of channels — every channel
    on the small preset's 16² grid (the memory: 72 KiB, one HDF5 chunk write per frame), ten
    on the paper's 46² (124 KiB: Figure 5 reads one channel of one frame, and reads its whole
    chunk)."""
    per_channel = maps * h * w * 2
    group = max(CHUNK_CHANNELS, MAP_CHUNK_BYTES // per_channel)
    return (1, maps, max(1, min(channels, group)), h, w)


# The other per-frame datasets are chunked by frames: up to a block's frames per chunk, within
# this many bytes (a reader that wants one frame reads at most this much).
ROW_CHUNK_BYTES = 256 << 10


def _append_rows(d: h5py.Dataset, start: int, rows: np.ndarray) -> None:
    """Write ``rows`` into ``d`` from row ``start`` on, extending it, with h5py's low-level calls
    (``d.resize``/``d[a:b] =`` add Python selection machinery to each of a block's dozen
    writes)."""
    d.id.set_extent((start + len(rows), *d.shape[1:]))
    space = d.id.get_space()
    space.select_hyperslab((start,) + (0,) * (rows.ndim - 1), rows.shape)
    d.id.write(h5py.h5s.create_simple(rows.shape), space, np.ascontiguousarray(rows))


def _cpu_float32(t) -> bool:
    return isinstance(t, torch.Tensor) and t.device.type == "cpu" and t.dtype == torch.float32


@torch.no_grad()  # an out= copy refuses tensors that track gradients
def _copy_rows_into(maps: np.ndarray, rows: list) -> None:
    """Copy a block's memory rows (see :func:`_copy_into`) into the float32 ``maps``; rows all
    given as lists of CPU float32 tensors of a phase's shape in one call."""
    if all(isinstance(m, (list, tuple)) and len(m) == maps.shape[1] for m in rows) and all(
        _cpu_float32(p) and p.shape == maps.shape[2:] for m in rows for p in m
    ):
        torch.stack([p for m in rows for p in m], out=torch.from_numpy(maps).flatten(0, 1))
    else:
        for k, m in enumerate(rows):
            _copy_into(maps[k], m)  # a device-to-host copy in flight: read now


def _copy_into(out: np.ndarray, value) -> None:
    """Copy an array, a tensor (any device or float dtype) or anything NumPy reads into the
    float32 array ``out``; a list or tuple of them (the phases) along its first axis."""
    if isinstance(value, (list, tuple)):
        if len(value) != len(out):
            raise ValueError(
                f"{len(value)} maps for {len(out)} phases ({', '.join(STORED_PHASES)})"
            )
        for o, v in zip(out, value):
            _copy_into(o, v)
    elif isinstance(value, torch.Tensor):
        _check_memory_shape(tuple(value.shape), out.shape)  # copy_ would broadcast
        torch.from_numpy(out).copy_(value.detach())  # converts on the way
    else:
        a = np.asarray(value)
        _check_memory_shape(a.shape, out.shape)
        np.copyto(out, a, casting="same_kind")


def _check_memory_shape(shape: tuple, expected: tuple) -> None:
    if shape != expected:
        phases = ", ".join(STORED_PHASES)
        raise ValueError(f"memory of shape {shape}: expected {expected}, the phases {phases} "
                         "(prev_cell is the cell before)")  # fmt: skip


def _round_into(out: np.ndarray, values: list, name: str) -> None:
    """Round a block's rows of one map (arrays, tensors or anything NumPy reads, of any float
    dtype) into the float16 array ``out``, as torch rounds (``Tensor.half``)."""
    rows = torch.as_tensor(np.stack([np.asarray(v) for v in values]))
    if tuple(rows.shape) != out.shape:
        raise ValueError(f"{name} of shape {tuple(rows.shape[1:])}: expected {out.shape[1:]}")
    torch.from_numpy(out).copy_(rows)


def _writer_thread() -> None:
    """The writer thread: the lowest CPU priority (Linux: niceness is per thread), so it fills
    the cores' idle moments (frame decoding, Python between kernels) instead of preempting the
    model's compute threads, whose parallel regions would all wait for a preempted one; and one
    torch thread (thread-local), so its statistics open no second team of compute threads."""
    torch.set_num_threads(1)
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):  # not Linux, or not permitted: normal priority
        pass


def _missing(value, d: h5py.Dataset) -> np.ndarray:
    """A ground-truth row, or NaN (-1 for ints) where a frame of a labelled video has none."""
    if value is not None:
        return value
    return np.full(d.shape[1:], -1 if d.dtype.kind == "i" else np.nan, d.dtype)


# ------------------------------------------------------------------ reading: trust nothing
# A dump may come from someone else. Every size a file or manifest declares is checked against
# these limits before anything is allocated for it, and every dataset the reader uses must be a
# plain dataset stored inside its own file.
MAX_FRAMES = 100_000  # frames per video (about an hour at 30 fps)
MAX_CHANNELS = 1024  # memory channels per frame
MAX_GRID = 256  # side of the memory / belief grid
MAX_JOINTS = 64
MAX_FRAME_SIDE = 16_384  # frame width or height, pixels
MAX_FRAME_PIXELS = 1 << 26  # width × height of one frame (64 Mpx: a decoded frame ≤ 192 MiB)
MAX_FLAGS = 64  # datasets under flags/
MAX_FLAG_VALUES = 4096  # values per frame of one flag
MAX_CHUNK_BYTES = 64 << 20  # one HDF5 chunk (HDF5 reads a whole chunk to read one value of it)
MAX_VIDEOS = 100_000  # videos in one manifest
MAX_MANIFEST_BYTES = 64 << 20
MAX_ATTRS_CHARS = 1 << 20  # the source_attrs JSON of one video

# Filters a dataset may use: shuffle, fletcher32, gzip, lzf. Any other would make HDF5 look for a
# plugin library to load.
_FILTERS = {h5py.h5z.FILTER_SHUFFLE, h5py.h5z.FILTER_FLETCHER32, h5py.h5z.FILTER_DEFLATE, 32000}
_COMPRESSION = {h5py.h5z.FILTER_DEFLATE, 32000}
_LIMITS = {"F": MAX_FRAMES, "C": MAX_CHANNELS, "h": MAX_GRID, "w": MAX_GRID, "J": MAX_JOINTS}
_DIM_NAMES = {"F": "frames", "C": "channels", "h": "grid rows", "w": "grid columns", "J": "joints"}
# name: (dtype, dims); a letter is a size shared by all datasets (F frames, C channels, h×w grid,
# J joints; "J+1" the belief maps with background; "P" the memory's stored phases: 3, or 4 in
# format 1)
DATASETS = {
    "memory": ("f2", ("F", "P", "C", "h", "w")),
    "stats": ("f4", ("F", 4, "C", len(STATS))),
    "keypoints": ("f4", ("F", "J", 2)),
    "confidence": ("f4", ("F", "J")),
    "beliefs": ("f2", ("F", "J+1", "h", "w")),
    "grid_to_frame": ("f4", ("F", 2, 3)),
    "frames": ("jpeg", ("F",)),
    "keypoints_gt": ("f4", ("F", "J", 2)),
    "visible": ("i1", ("F", "J")),
    "bbox": ("f4", ("F", 4)),
    "gates": ("f2", ("F", 4, "C", "h", "w")),
    "hidden": ("f2", ("F", "C", "h", "w")),
}
REQUIRED = ("memory", "stats", "beliefs", "keypoints", "confidence", "grid_to_frame", "frames")
LABELS = ("keypoints_gt", "visible", "bbox")  # written together, for annotated videos


def _hard_link(path: Path, group: h5py.Group, name: str) -> bool:
    """True if ``group`` has a hard link ``name``; an external or soft link is refused. Asked of
    the link itself (h5py's low-level API): nothing is followed, no other file is opened."""
    key = name.encode()
    if not group.id.links.exists(key):
        return False
    kind = group.id.links.get_info(key).type
    if kind == h5py.h5l.TYPE_HARD:
        return True
    where = f"{group.name.rstrip('/')}/{name}"
    if kind == h5py.h5l.TYPE_EXTERNAL:
        target, _ = group.id.links.get_val(key)
        raise InputError(
            path, f"{where!r} is an external link to {target.decode(errors='replace')!r}; a dump "
            "video must hold its own data"
        )  # fmt: skip
    if kind == h5py.h5l.TYPE_SOFT:
        raise InputError(path, f"{where!r} is a soft link; a dump video holds plain datasets only")
    raise InputError(path, f"{where!r} is a link of an unknown kind")


def _check_storage(path: Path, d: h5py.Dataset) -> None:
    """The data of ``d`` lies in this file, needs no plugin, and is really stored."""
    name = d.name
    if d.is_virtual:
        raise InputError(path, f"dataset {name!r} is a virtual dataset (data from other files)")
    plist = d.id.get_create_plist()
    if plist.get_external_count():
        raise InputError(path, f"dataset {name!r} keeps its data in external files")
    filters = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
    if any(c not in _FILTERS for c in filters):
        raise InputError(path, f"dataset {name!r} uses HDF5 filter {filters}, which is not allowed")
    size = d.id.get_type().get_size()
    if d.chunks is not None and int(np.prod(d.chunks, dtype=np.int64)) * size > MAX_CHUNK_BYTES:
        raise InputError(path, f"dataset {name!r} has chunks {d.chunks}, over the size limit")
    nominal = int(np.prod(d.shape, dtype=np.int64)) * size
    compressed = any(c in _COMPRESSION for c in filters)  # then only the MAX_* limits bound it
    if not compressed and d.id.get_storage_size() < nominal:  # the rest: invented fill values
        raise InputError(path, f"dataset {name!r} declares {nominal} bytes but stores fewer")


def _dataset(path: Path, group: h5py.Group, name: str) -> h5py.Dataset | None:
    if not _hard_link(path, group, name):
        return None
    d = group[name]
    if not isinstance(d, h5py.Dataset):
        raise InputError(path, f"{d.name!r} is not a dataset")
    return d


def _check_dtype(path: Path, d: h5py.Dataset, want: str) -> None:
    if want == "jpeg":
        ok = h5py.check_vlen_dtype(d.dtype) == np.dtype(np.uint8)
        want = "variable-length uint8 (JPEG bytes)"
    else:
        ok = d.dtype == np.dtype(want)
        want = str(np.dtype(want))
    if not ok:
        raise InputError(path, f"dataset {d.name!r} has dtype {d.dtype}, expected {want}")


def _int_attr(path: Path, attrs, key: str, lo: int, hi: int, default=None) -> int:
    if key not in attrs:
        if default is None:
            raise InputError(path, f"attribute {key!r} is missing")
        return default
    v = attrs[key]
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise InputError(path, f"attribute {key!r} is {v!r}, not an integer")
    if not lo <= int(v) <= hi:
        raise InputError(path, f"attribute {key!r} is {int(v)}, outside {lo}..{hi}")
    return int(v)


def _str_attr(path: Path, attrs, key: str, default: str) -> str:
    v = attrs.get(key, default)
    if isinstance(v, bytes):
        v = v.decode("utf-8", errors="replace")
    if not isinstance(v, str):
        raise InputError(path, f"attribute {key!r} is not a string")
    return v


def _segments(b: bytes, i: int):
    """(marker, offset, length) of the JPEG segments from offset ``i`` on: a run of them up to a
    scan's header (SOS, 0xDA, included) or the end of image (EOI, length 0); it stops early at
    the first byte that does not parse. Markers without a length (restarts, SOI, TEM) come with
    length 0."""
    n = len(b)
    while i + 2 <= n and b[i] == 0xFF:
        m = b[i + 1]
        if m == 0xFF:  # fill byte
            i += 1
            continue
        if m == 0x01 or 0xD0 <= m <= 0xD9:
            yield m, i, 0
            if m == 0xD9:
                return
            i += 2
            continue
        if i + 4 > n:
            return
        length = int.from_bytes(b[i + 2 : i + 4], "big")
        yield m, i, length
        if m == 0xDA:
            return
        i += 2 + length


def _jpeg_size(buf: np.ndarray) -> tuple[int, int] | None:
    """(width, height) from a JPEG's frame header, or None if ``buf`` is not a JPEG."""
    b = buf.tobytes()
    if b[:3] != b"\xff\xd8\xff":
        return None
    for m, i, _ in _segments(b, 2):
        if 0xC0 <= m <= 0xCF and m not in (0xC4, 0xC8, 0xCC):  # start of frame
            if i + 9 > len(b):
                return None
            return int.from_bytes(b[i + 7 : i + 9], "big"), int.from_bytes(b[i + 5 : i + 7], "big")
    return None


# A source frame's JPEG is stored as it is only if it holds the image and nothing else: JFIF's
# header without a thumbnail (APP0), Adobe's colour transform (APP14), tables, restart intervals,
# one 8-bit baseline, extended or progressive frame of 1 or 3 components, its scans and the end
# of image as its last bytes. Any other application segment (EXIF, XMP, ICC profiles, a camera's
# own), a comment, a thumbnail or data after the image may carry the footage's location or
# owner (and EXIF's orientation turns the decoded frame): such a frame is encoded anew.
_TABLES = frozenset({0xC4, 0xCC, 0xDB, 0xDD})  # Huffman, arithmetic, quantisation, restart
_PLAIN_SOF = frozenset({0xC0, 0xC1, 0xC2})


def source_jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a source frame's JPEG bytes a dump may store as they are (see above),
    else None (the frame is encoded anew). Reads the whole file: the segments of its header and
    between its scans, and the markers in its entropy-coded data."""
    b = bytes(data)
    n = len(b)
    if n < 4 or b[:2] != b"\xff\xd8" or b[-2:] != b"\xff\xd9":
        return None
    # where a 0xFF in the data is a marker: not a stuffed 0xFF00, a restart or a fill byte
    a = np.frombuffer(b, np.uint8)
    ff = np.flatnonzero(a[:-1] == 0xFF)
    after = a[ff + 1]
    markers = ff[(after != 0) & (after != 0xFF) & ((after < 0xD0) | (after > 0xD7))]
    size, i = None, 2
    while True:  # a run of segments, then a scan
        m = None
        for m, at, length in _segments(b, i):
            if m == 0xD9:  # end of image: the last two bytes, after a scan
                return size if at == n - 2 and size is not None else None
            seg = b[at + 4 : at + 2 + length]
            if length < 2 or at + 2 + length > n:
                return None
            if m in _PLAIN_SOF:  # precision, height, width, components, 3 bytes per component
                if size is not None or len(seg) < 6 or seg[0] != 8 or seg[5] not in (1, 3):
                    return None
                if length != 8 + 3 * seg[5]:
                    return None
                size = int.from_bytes(seg[3:5], "big"), int.from_bytes(seg[1:3], "big")
            elif m == 0xE0:
                if not (seg[:5] == b"JFIF\x00" and length == 16 and seg[12:14] == b"\x00\x00"):
                    return None
            elif m == 0xEE:
                if not (seg[:5] == b"Adobe" and length == 14):
                    return None
            elif m != 0xDA and m not in _TABLES:
                return None
            i = at + 2 + length
        if m != 0xDA or size is None:  # the run stopped before a scan
            return None
        k = int(np.searchsorted(markers, i))  # the scan's data runs to the next marker
        if k == len(markers):
            return None
        i = int(markers[k])


class DumpVideo:
    """Read access to one dumped video. Opening checks the whole file's structure once (links,
    storage, dtypes, shapes, attributes: see ``DATASETS`` and the ``MAX_*`` limits); arrays are
    then read on demand from HDF5. ``expect`` (from the manifest: channels, grid, joints) must
    agree with the file."""

    def __init__(self, path: str | os.PathLike, expect: dict[str, int] | None = None):
        self.path = path = Path(path)
        if path.exists() and not path.is_file():  # a directory, a pipe that would block, a device
            raise InputError(path, "dump video is not a regular file")
        try:
            self.f = h5py.File(path, "r")
        except OSError as e:
            raise InputError(path, f"not a readable HDF5 file ({e})") from None
        try:
            self._datasets = self._validate(expect or {})
            self.video_id, self.attrs = self._identity()
        except InputError:
            self.f.close()
            raise
        except (OSError, RuntimeError, KeyError, TypeError, ValueError) as e:  # h5py on odd data
            self.f.close()
            raise InputError(path, f"damaged dump video ({type(e).__name__}: {e})") from None

    def _identity(self) -> tuple[str, dict]:
        path, a = self.path, self.f.attrs
        video_id = _str_attr(path, a, "video_id", path.stem)
        text = _str_attr(path, a, "source_attrs", "{}")
        if len(text) > MAX_ATTRS_CHARS:
            raise InputError(path, f"attribute 'source_attrs' is over {MAX_ATTRS_CHARS} characters")
        try:
            attrs = json.loads(text)
        except (ValueError, RecursionError):
            raise InputError(path, "attribute 'source_attrs' is not valid JSON") from None
        if not isinstance(attrs, dict):
            raise InputError(path, "attribute 'source_attrs' is not a JSON object")
        return video_id, attrs

    def _validate(self, expect: dict[str, int]) -> dict[str, h5py.Dataset]:
        path, f = self.path, self.f
        found = {name: _dataset(path, f, name) for name in DATASETS}
        found = {k: d for k, d in found.items() if d is not None}
        for key in REQUIRED:
            if key not in found:
                raise InputError(path, f"dump video has no {key!r} dataset")
        labels = [k for k in LABELS if k in found]
        if labels and len(labels) != len(LABELS):
            raise InputError(path, f"has {', '.join(labels)} but not all of {', '.join(LABELS)}")
        sizes: dict[str, tuple[int, str]] = {}  # letter -> (size, the dataset that set it)

        def bind(d: h5py.Dataset, letter: str, n: int) -> None:
            if letter not in sizes:
                if not 1 <= n <= _LIMITS[letter]:
                    raise InputError(
                        path, f"dataset {d.name!r} has {n} {_DIM_NAMES[letter]}, "
                        f"outside 1..{_LIMITS[letter]}"
                    )  # fmt: skip
                sizes[letter] = (n, d.name)
            elif sizes[letter][0] != n:
                m, other = sizes[letter]
                raise InputError(
                    path, f"dataset {d.name!r} has {n} {_DIM_NAMES[letter]}, {other!r} has {m}"
                )

        for name, d in found.items():
            dtype, dims = DATASETS[name]
            _check_dtype(path, d, dtype)
            if d.ndim != len(dims):
                raise InputError(path, f"dataset {d.name!r} has shape {d.shape}, expected {dims}")
            for dim, n in zip(dims, d.shape):
                if dim == "J+1":
                    bind(d, "J", n - 1)
                elif dim == "P":
                    _check_phases(path, d)
                elif isinstance(dim, str):
                    bind(d, dim, n)
                elif n != dim:
                    raise InputError(
                        path, f"dataset {d.name!r} has shape {d.shape}, expected {dims}"
                    )
            _check_storage(path, d)
        self._flags = self._validate_flags(sizes["F"][0])
        F, C, h, w, J = (sizes[k][0] for k in "FChwJ")
        for key, n in (("channels", C), ("grid", h), ("grid", w), ("joints", J)):
            if key in expect and expect[key] != n:
                raise InputError(path, f"holds {n} {key}, the dump's manifest says {expect[key]}")
        a = f.attrs
        n = _int_attr(path, a, "num_frames", 1, MAX_FRAMES)
        if n != F:
            raise InputError(path, f"attribute 'num_frames' is {n}, the datasets hold {F} frames")
        self.num_frames = F
        W = _int_attr(path, a, "frame_width", 1, MAX_FRAME_SIDE)
        H = _int_attr(path, a, "frame_height", 1, MAX_FRAME_SIDE)
        if W * H > MAX_FRAME_PIXELS:
            raise InputError(path, f"frames of {W}×{H} pixels are over the limit")
        self.frame_size = (W, H)
        self.first_frame = _int_attr(path, a, "first_frame", 0, 2**31 - 1, default=0)
        # frames stored as their source file's JPEG (not re-encoded); none in older dumps
        self.frames_from_source = _int_attr(path, a, "frames_from_source", 0, F, default=0)
        return found

    def _validate_flags(self, F: int) -> dict[str, h5py.Dataset]:
        path = self.path
        if not _hard_link(path, self.f, "flags"):
            return {}
        g = self.f["flags"]
        if not isinstance(g, h5py.Group):
            raise InputError(path, "'flags' is not a group")
        if len(g) > MAX_FLAGS:  # counted before the names are listed
            raise InputError(path, f"'flags' holds {len(g)} links, over {MAX_FLAGS}")
        names = list(g)
        out = {}
        for k in names:
            d = _dataset(path, g, k)
            if d is None:  # not reachable: a listed name exists
                continue
            if d.dtype.kind not in "biuf" or d.ndim < 1 or d.shape[0] != F:
                raise InputError(
                    path, f"dataset {d.name!r} ({d.dtype}, shape {d.shape}) is not a numeric "
                    f"per-frame flag of {F} frames"
                )  # fmt: skip
            if int(np.prod(d.shape[1:], dtype=np.int64)) > MAX_FLAG_VALUES:
                raise InputError(path, f"dataset {d.name!r} has shape {d.shape}, over the limit")
            _check_storage(path, d)
            out[k] = d
        return out

    @cached_property
    def memory(self) -> MemoryMaps:
        """The memory, (F, 4, C, h, w) float16 in the order of PHASES, read on demand."""
        return MemoryMaps(self._datasets["memory"])

    @property
    def channels(self) -> int:
        return int(self.memory.shape[2])

    def frame_phases(self, frame: int, channel: int) -> np.ndarray:
        """(4, h, w) all phases of one channel of one frame (its chunk and, for prev_cell, the
        frame before's)."""
        return self.memory[frame, :, channel].astype(np.float32)

    def frame_image(self, frame: int) -> np.ndarray:
        """The original frame as RGB uint8."""
        buf = np.asarray(self._datasets["frames"][frame])
        size = _jpeg_size(buf)
        if size is None:
            raise InputError(self.path, f"frame {frame} of 'frames' is not a JPEG image")
        if size != self.frame_size:
            raise InputError(
                self.path, f"frame {frame} is a {size[0]}×{size[1]} JPEG, the file says "
                f"{self.frame_size[0]}×{self.frame_size[1]}"
            )  # fmt: skip
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        if img is None or img.shape[:2] != (size[1], size[0]):
            raise InputError(self.path, f"frame {frame} of 'frames' is a damaged JPEG image")
        return img[:, :, ::-1].copy()

    def array(self, name: str) -> np.ndarray | None:
        """A whole dataset of ``DATASETS`` (None if this video has none)."""
        if name not in DATASETS:
            raise ValueError(f"{name!r} is not a dump dataset (one of {', '.join(DATASETS)})")
        d = self._datasets.get(name)
        return None if d is None else d[()]

    @cached_property
    def stats(self) -> np.ndarray:
        return self.array("stats")

    @cached_property
    def keypoints(self) -> np.ndarray:
        return self.array("keypoints")

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
        return self.array("grid_to_frame")

    @cached_property
    def flags(self) -> dict[str, np.ndarray]:
        return {k: d[()] for k, d in self._flags.items()}

    def close(self) -> None:
        self.f.close()


def _check_phases(path: Path, d: h5py.Dataset) -> None:
    """The memory stores the three STORED_PHASES (format 2) or all four PHASES (format 1),
    named so in its ``phases`` attribute (format 1 files may lack it)."""
    n, names = d.shape[1], d.attrs.get("phases")
    want = {3: STORED_PHASES, 4: PHASES}.get(n)
    if want is None:
        three, four = ", ".join(STORED_PHASES), ", ".join(PHASES)
        raise InputError(path, f"dataset {d.name!r} has {n} phases, expected 3 ({three}) "
                               f"or 4 ({four})")  # fmt: skip
    if names is None and n == 4:
        return
    try:
        names = [str(x.decode() if isinstance(x, bytes) else x) for x in np.asarray(names).ravel()]
    except (TypeError, ValueError, UnicodeDecodeError):
        names = None
    if names != list(want):
        raise InputError(path, f"dataset {d.name!r} holds {n} phases, its 'phases' attribute "
                               f"does not name {', '.join(want)}")  # fmt: skip


class MemoryMaps:
    """A dumped video's memory as (F, 4, C, h, w) float16, the phases in the order of PHASES,
    read from the file on demand and indexed as an HDF5 dataset is (``m[t]``, ``m[a:b, p, c]``,
    ``m[()]``; integers, slices, index lists; the result a NumPy array).

    A format-2 file stores three phases (``stored``: forget_term, input_term, cell); prev_cell
    at frame t is the cell at t − 1, and zeros at the first frame (C_0 = 0) — what the model
    recorded, bit for bit (:attr:`derives_prev_cell`). A read of prev_cell reads the frames
    before those asked for; a read of the other phases reads only those. A format-1 file (all
    four phases stored) is read through the same indexing, so any key gives the same array from
    either format (h5py's own rules apply to the channel and grid axes)."""

    def __init__(self, stored: h5py.Dataset):
        self.stored = stored
        F, P, C, h, w = stored.shape
        self.shape, self.dtype, self.ndim = (F, len(PHASES), C, h, w), stored.dtype, 5
        self.derives_prev_cell = P == len(STORED_PHASES)

    def __len__(self) -> int:
        return self.shape[0]

    def __array__(self, dtype=None, copy=None):
        a = self[()]
        return a if dtype is None else a.astype(dtype)

    def __getitem__(self, key):
        frames, phases, rest = _split_key(key, len(self.shape))
        fi, pi = _indices(self.shape[0], frames), _indices(len(PHASES), phases)
        one_frame, one_phase = np.ndim(fi) == 0, np.ndim(pi) == 0
        fi, pi = np.atleast_1d(fi), np.atleast_1d(pi)
        # where each asked phase is stored: (stored phase, frames back); format 2's prev_cell
        # is its stored cell one frame back
        cell, shift = STORED_PHASES.index("cell"), int(self.derives_prev_cell)
        source = [(cell, 1) if shift and p == 0 else (int(p) - shift, 0) for p in pi]
        kept = sorted({s for s, _ in source})
        back = sorted({d for _, d in source})
        rows = np.unique(np.concatenate([fi[fi >= d] - d for d in back] or [fi[:0]]))
        span = slice(kept[0], kept[-1] + 1) if kept else slice(0, 1)
        if len(rows):
            block = self._read(rows, span, rest)  # (rows, stored phases of the span, ...)
        else:  # nothing stored is needed (no frames; prev_cell of the first frame): the shape
            block = self.stored[(slice(0, 0), span, *rest)]
        out = np.zeros((len(fi), len(pi), *block.shape[2:]), self.dtype)
        for j, (s, d) in enumerate(source):
            has = fi >= d  # C_0 = 0: no frame before the first
            out[has, j] = block[np.searchsorted(rows, fi[has] - d), s - span.start]
        out = out[:, 0] if one_phase else out
        return out[0] if one_frame else out

    def _read(self, rows: np.ndarray, phases: slice, rest: tuple) -> np.ndarray:
        """stored[rows, phases, *rest] for sorted unique ``rows``: one read of their span when
        it is dense, else one read per row."""
        lo, hi = int(rows[0]), int(rows[-1]) + 1
        if hi - lo == len(rows):
            return self.stored[(slice(lo, hi), phases, *rest)]
        if hi - lo <= 2 * len(rows):
            return self.stored[(slice(lo, hi), phases, *rest)][rows - lo]
        return np.stack([self.stored[(int(r), phases, *rest)] for r in rows])


def _indices(n: int, key):
    """The positions ``key`` selects on an axis of ``n``: an int for an integer, else an array
    (an integer or a slice without building all ``n`` positions; IndexError when out of
    range, as NumPy)."""
    if isinstance(key, (int, np.integer, slice)) and not isinstance(key, (bool, np.bool_)):
        picked = range(n)[key]
        return picked if isinstance(picked, int) else np.asarray(picked, dtype=np.intp)
    return np.arange(n)[key]


def _split_key(key, ndim: int) -> tuple:
    """An HDF5-style index -> (its first item, its second, the rest), an Ellipsis expanded and
    missing axes filled with full slices."""
    key = key if isinstance(key, tuple) else (key,)
    if any(k is None for k in key):
        raise TypeError("the memory maps take no new axes")
    dots = [i for i, k in enumerate(key) if k is Ellipsis]
    if len(dots) > 1:
        raise IndexError("an index can only have a single ellipsis")
    if dots:
        i = dots[0]
        key = key[:i] + (slice(None),) * (ndim - len(key) + 1) + key[i + 1 :]
    if len(key) > ndim:
        raise IndexError(f"too many indices for the memory maps ({len(key)} for {ndim} axes)")
    key = key + (slice(None),) * (ndim - len(key))
    return key[0], key[1], key[2:]


def _manifest_problem(mpath: Path, key: str, problem: str) -> InputError:
    return InputError(mpath, f"key {key!r} {problem}")


def _check_value(mpath: Path, obj: dict, key: str, kind, where="", optional=False, null=False):
    """obj[key] of JSON type ``kind`` (int never accepts a bool), or an InputError naming it.
    ``optional``: the key may be missing (-> None); ``null``: its value may be null."""
    name = f"{where}{key}"
    if key not in obj:
        if optional:
            return None
        raise _manifest_problem(mpath, name, "is missing")
    v = obj[key]
    if null and v is None:
        return None
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if (isinstance(v, bool) and bool not in kinds) or not isinstance(v, kinds):
        words = {dict: "an object", list: "a list", str: "a string", int: "an integer"}
        raise _manifest_problem(
            mpath, name, f"is {type(v).__name__}, expected {' or '.join(words[k] for k in kinds)}"
        )
    return v


def check_manifest(mpath: Path, man) -> None:
    """Types and bounds of every manifest key a reader uses (an InputError names the key)."""
    if not isinstance(man, dict):
        raise InputError(mpath, f"manifest is a JSON {type(man).__name__}, expected an object")
    if man.get("format") != FORMAT:
        raise InputError(mpath, "not an lstm-probe dump manifest")
    v = man.get("format_version")
    if v not in READABLE_VERSIONS or isinstance(v, bool):
        raise InputError(mpath, f"dump format version {v} is not supported (this lstm-probe "
                                f"reads {', '.join(map(str, READABLE_VERSIONS))})")  # fmt: skip
    _check_value(mpath, man, "lstm_probe_version", str)
    model = _check_value(mpath, man, "model", dict)
    _check_value(mpath, model, "name", str, "model.")
    _check_value(mpath, model, "preset", str, "model.", optional=True, null=True)
    ck = _check_value(mpath, man, "checkpoint", dict)
    _check_value(mpath, ck, "sha256", str, "checkpoint.")
    _check_value(mpath, ck, "path", str, "checkpoint.", optional=True)
    for key, hi in (("channels", MAX_CHANNELS), ("grid_size", MAX_GRID)):
        n = _check_value(mpath, man, key, int)
        if not 1 <= n <= hi:
            raise _manifest_problem(mpath, key, f"is {n}, outside 1..{hi}")
    for key, limit, optional in (
        ("probe_points", 64, False), ("phases", 64, True), ("joints", MAX_JOINTS, True),
    ):  # fmt: skip
        names = _check_value(mpath, man, key, list, optional=optional)
        if names is not None and (len(names) > limit or not all(isinstance(s, str) for s in names)):
            raise _manifest_problem(mpath, key, f"is not a list of at most {limit} strings")
    idx = _check_value(mpath, man, "channel_indices", list, optional=True)
    if idx is not None and (
        len(idx) > MAX_CHANNELS or not all(type(i) is int and i >= 0 for i in idx)
    ):
        raise _manifest_problem(mpath, "channel_indices", "is not a list of channel numbers")
    videos = _check_value(mpath, man, "videos", list)
    if len(videos) > MAX_VIDEOS:
        raise _manifest_problem(mpath, "videos", f"lists {len(videos)} videos, over {MAX_VIDEOS}")
    seen = set()
    for i, e in enumerate(videos):
        where = f"videos[{i}]"
        if not isinstance(e, dict):
            raise _manifest_problem(mpath, where, f"is {type(e).__name__}, expected an object")
        vid = _check_value(mpath, e, "video_id", str, where + ".")
        _check_value(mpath, e, "status", str, where + ".")
        _check_value(mpath, e, "file", str, where + ".")
        _check_value(mpath, e, "num_frames", int, where + ".", optional=True)
        if vid in seen:
            raise _manifest_problem(mpath, where + ".video_id", f"repeats {vid!r}")
        seen.add(vid)


class Dump:
    """A dump directory: ``manifest`` (checked when opened, see :func:`check_manifest`) plus
    lazily opened videos (each checked once, when first opened)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        mpath = self.path / "manifest.json"
        if not mpath.is_file():
            raise InputError(self.path, "not a dump directory (no manifest.json)")
        if mpath.resolve().parent != self.path.resolve():
            raise InputError(mpath, "is a link to a file outside the dump")
        if mpath.stat().st_size > MAX_MANIFEST_BYTES:
            raise InputError(mpath, f"manifest is over {MAX_MANIFEST_BYTES >> 20} MiB")
        try:
            self.manifest = json.loads(mpath.read_bytes())
        except (ValueError, RecursionError) as e:  # bad JSON or UTF-8, or nested too deep
            raise InputError(mpath, f"manifest is not valid JSON ({e})") from None
        check_manifest(mpath, self.manifest)
        self._open: dict[str, DumpVideo] = {}

    @property
    def video_ids(self) -> list[str]:
        return [v["video_id"] for v in self.manifest["videos"] if v["status"] == "done"]

    def video_path(self, entry: dict) -> Path:
        """The file of a manifest entry; it must lie in ``DUMP/videos/`` (also after symlinks)."""
        name = entry["file"]
        rel = Path(name)
        videos = (self.path / "videos").resolve()
        outside = InputError(self.path, f"video file {name!r} lies outside the dump's videos/")
        if rel.is_absolute() or ".." in rel.parts or rel.parts[:1] != ("videos",):
            raise outside
        if videos != self.path.resolve() / "videos":  # videos/ itself links elsewhere
            raise outside
        path = (self.path / rel).resolve()
        if videos not in path.parents:
            raise outside
        if not path.is_file():
            raise InputError(path, "dump video is missing or not a regular file")
        return path

    def video(self, video_id: str) -> DumpVideo:
        if video_id not in self._open:
            entry = next((v for v in self.manifest["videos"] if v["video_id"] == video_id), None)
            if entry is None or entry["status"] != "done":
                raise InputError(self.path, f"no finished video {video_id!r} in this dump")
            man = self.manifest
            expect = {"channels": man["channels"], "grid": man["grid_size"]}
            if "joints" in man:
                expect["joints"] = len(man["joints"])
            self._open[video_id] = DumpVideo(self.video_path(entry), expect)
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
