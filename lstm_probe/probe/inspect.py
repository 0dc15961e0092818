"""``lstm-probe inspect``: what a dump holds, and whether its memory is self-consistent.

Checks on the stored (float16) data, per video: C_t = f⊙C_{t-1} + i⊙g at every frame, and
prev_cell(t) = cell(t−1) between consecutive frames, within float16 rounding. The memory is read
a block of frames at a time, so the check's memory use does not grow with the video's length. A
dump fails the check when a video is unfinished (its status is not "done", or a ``.tmp`` file is
left in ``videos/``) or when a video file fails the reader's checks (see ``store.DumpVideo``).
"""

from __future__ import annotations

import numpy as np

from ..utils import InputError
from .store import PHASES, open_dump

# float16 has an 11-bit mantissa: the sum of two rounded terms is within ~2 ulp of the rounded cell
TOLERANCE = 4 * 2.0**-11
BLOCK_FRAMES = 32  # frames read at once by the identity check
BLOCK_BYTES = 64 << 20  # at most this much float32 memory per block (fewer frames if larger)


def memory_identity_errors(memory, block: int | None = None) -> tuple[float, float]:
    """memory (F, 4, C, h, w), an array, an HDF5 dataset or a video's ``MemoryMaps`` -> (max
    relative error of C = f⊙C + i⊙g, max of prev = cell(t−1)). Reads ``block`` frames at a time
    (default: up to BLOCK_FRAMES within BLOCK_BYTES), carrying the last cell of a block to the
    next; the result does not depend on the block size."""
    F = len(memory)
    if block is None:
        frame_bytes = 4 * int(np.prod(memory.shape[1:], dtype=np.int64))
        block = max(1, min(BLOCK_FRAMES, BLOCK_BYTES // max(frame_bytes, 1)))
    i_prev, i_forget, i_inflow, i_cell = (PHASES.index(p) for p in PHASES)
    top = d_sum = d_chain = np.float32(0)
    last = None  # cell(t−1) of the previous block's last frame
    for s in range(0, F, block):
        m = np.asarray(memory[s : s + block]).astype(np.float32)
        prev, cell = m[:, i_prev], m[:, i_cell]
        # np.maximum keeps a NaN (a failed check), as the whole-array max does
        top = np.maximum(top, np.abs(cell).max())
        d_sum = np.maximum(d_sum, np.abs(cell - (m[:, i_forget] + m[:, i_inflow])).max())
        if len(m) > 1:
            d_chain = np.maximum(d_chain, np.abs(prev[1:] - cell[:-1]).max())
        if last is not None:
            d_chain = np.maximum(d_chain, np.abs(prev[0] - last).max())
        last = cell[-1].copy()
    scale = max(float(top), 1e-6)
    return float(d_sum) / scale, (float(d_chain) / scale if F > 1 else 0.0)


def check_dump(path) -> dict:
    """-> {"ok", "text", "invalid"}: ``invalid`` lists the videos whose files the reader refused
    (an unreadable dump, as a whole, raises the reader's InputError)."""
    dump = open_dump(path)
    try:
        return _check(dump)
    finally:
        dump.close()


def _check(dump) -> dict:
    man = dump.manifest
    lines = [
        f"dump {dump.path}",
        f"  format {man['format_version']}, lstm-probe {man['lstm_probe_version']}",
        f"  model {man['model']['name']} ({man['model'].get('preset')}), "
        f"checkpoint sha256 {man['checkpoint']['sha256'][:12]}…",
        f"  {man['channels']} channels on a {man['grid_size']}×{man['grid_size']} grid, "
        f"points {', '.join(man['probe_points'])}",
    ]
    ok, invalid = True, []
    for entry in man["videos"]:
        if entry["status"] != "done":
            lines.append(f"  {entry['video_id']}: {entry['status']} (not finished) -> FAILED")
            ok = False
            continue
        try:
            v = dump.video(entry["video_id"])
        except InputError as e:
            lines.append(f"  {entry['video_id']}: refused: {e} -> FAILED")
            ok = False
            invalid.append(entry["video_id"])
            continue
        e_sum, e_chain = memory_identity_errors(v.memory)
        good = e_sum <= TOLERANCE and e_chain <= TOLERANCE
        # format 2 stores the cell once: prev_cell(t) is read as cell(t−1), nothing to check
        chain = ("prev=cell(t-1) stored once" if v.memory.derives_prev_cell
                 else f"prev=cell(t-1) err {e_chain:.1e}")  # fmt: skip
        kept = f", {v.frames_from_source} frames as their files" if v.frames_from_source else ""
        first = v.memory[0, :2].astype(np.float32)
        zero0 = v.first_frame != 0 or not np.any(first)
        ok &= good and zero0
        lines.append(
            f"  {v.video_id}: {v.num_frames} frames {v.frame_size[0]}×{v.frame_size[1]}{kept}, "
            f"C=f⊙C+i⊙g err {e_sum:.1e}, {chain}"
            f"{'' if zero0 else ', frame 0 prev/forget not zero'} -> {'ok' if good and zero0 else 'FAILED'}"
        )
    videos = dump.path / "videos"
    for tmp in sorted(videos.glob("*.tmp")) if videos.is_dir() else ():
        lines.append(f"  videos/{tmp.name}: left by an interrupted dump -> FAILED")
        ok = False
    lines.append("all checks passed" if ok else "some checks FAILED")
    return {"ok": ok, "text": "\n".join(lines), "invalid": invalid}
