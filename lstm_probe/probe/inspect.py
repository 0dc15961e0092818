"""``lstm-probe inspect``: what a dump holds, and whether its memory is self-consistent.

Checks on the stored (float16) data, per video: C_t = f⊙C_{t-1} + i⊙g at every frame, and
prev_cell(t) = cell(t−1) between consecutive frames, within float16 rounding.
"""

from __future__ import annotations

import numpy as np

from .store import PHASES, open_dump

# float16 has an 11-bit mantissa: the sum of two rounded terms is within ~2 ulp of the rounded cell
TOLERANCE = 4 * 2.0**-11


def memory_identity_errors(memory: np.ndarray) -> tuple[float, float]:
    """memory (F, 4, C, h, w) -> (max relative error of C = f⊙C + i⊙g, max of prev = cell(t−1))."""
    m = memory.astype(np.float32)
    prev, forget, inflow, cell = (m[:, PHASES.index(p)] for p in PHASES)
    scale = max(float(np.abs(cell).max()), 1e-6)
    e_sum = float(np.abs(cell - (forget + inflow)).max()) / scale
    e_chain = float(np.abs(prev[1:] - cell[:-1]).max()) / scale if len(m) > 1 else 0.0
    return e_sum, e_chain


def check_dump(path) -> dict:
    dump = open_dump(path)
    man = dump.manifest
    lines = [
        f"dump {path}",
        f"  format {man['format_version']}, lstm-probe {man['lstm_probe_version']}",
        f"  model {man['model']['name']} ({man['model'].get('preset')}), "
        f"checkpoint sha256 {man['checkpoint']['sha256'][:12]}…",
        f"  {man['channels']} channels on a {man['grid_size']}×{man['grid_size']} grid, "
        f"points {', '.join(man['probe_points'])}",
    ]
    ok = True
    for entry in man["videos"]:
        if entry.get("status") != "done":
            lines.append(f"  {entry['video_id']}: {entry.get('status')} (not finished)")
            continue
        v = dump.video(entry["video_id"])
        e_sum, e_chain = memory_identity_errors(v.memory[()])
        good = e_sum <= TOLERANCE and e_chain <= TOLERANCE
        ok &= good
        first = v.memory[0, :2].astype(np.float32)
        zero0 = v.first_frame != 0 or not np.any(first)
        ok &= zero0
        lines.append(
            f"  {v.video_id}: {v.num_frames} frames {v.frame_size[0]}×{v.frame_size[1]}, "
            f"C=f⊙C+i⊙g err {e_sum:.1e}, prev=cell(t-1) err {e_chain:.1e}"
            f"{'' if zero0 else ', frame 0 prev/forget not zero'} -> {'ok' if good and zero0 else 'FAILED'}"
        )
    lines.append("all checks passed" if ok else "some checks FAILED")
    dump.close()
    return {"ok": ok, "text": "\n".join(lines)}
