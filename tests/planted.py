"""A dump with planted memory, written by the real writer: channels with known meanings.

Channel → what its |C_t| is (plus a little noise on every channel):

    0  Gaussian at the right wrist          -> joint:right_wrist
    1  Gaussian at the head                 -> joint:head
    2  Gaussian at the left knee            -> joint:left_knee
    3  Gaussians at right elbow and wrist   -> limb:right_elbow+right_wrist
    4  |N(0, 1)| noise everywhere           -> global (or inactive)
    5  zeros (plus the faint noise)         -> inactive
    6  high off the person, low on it       -> background
    7  Gaussians at the left hip and knee   -> limb:left_hip+left_knee

Joints wander around a standing pose on a 24 × 24 grid; frames are 192 × 192 (8 px a cell).
With ``gates`` the dump also stores gates whose forget gate is a known constant per channel.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lstm_probe.probe.store import VideoDumpWriter, new_manifest, save_manifest
from lstm_probe.skeleton import SKELETON

GRID, CELL = 24, 8
CHANNELS = 8
PLANTED = {
    0: "joint:right_wrist",
    1: "joint:head",
    2: "joint:left_knee",
    3: "limb:right_elbow+right_wrist",
    6: "background",
    7: "limb:left_hip+left_knee",
}
NOISE, DEAD = 4, 5
POSE = {  # grid (x, y)
    "head": (12, 3.5), "neck": (12, 6), "right_shoulder": (9.5, 7), "right_elbow": (8, 10),
    "right_wrist": (6.5, 13), "left_shoulder": (14.5, 7), "left_elbow": (16, 10),
    "left_wrist": (17.5, 13), "right_hip": (10.5, 13), "right_knee": (10, 17),
    "right_ankle": (9.5, 21), "left_hip": (13.5, 13), "left_knee": (14, 17),
    "left_ankle": (14.5, 21),
}  # fmt: skip
FORGET = np.linspace(0.5, 0.95, CHANNELS)  # the planted forget gate of each channel


def _gauss(pos, x, y, sigma=1.0):
    return np.exp(-((x - pos[0]) ** 2 + (y - pos[1]) ** 2) / (2 * sigma**2))


def planted_memory(joints: np.ndarray, rng) -> np.ndarray:
    """(J, 2) grid positions -> (C, h, w) float32 cell memory."""
    yy, xx = np.mgrid[0:GRID, 0:GRID].astype(np.float32)
    j = SKELETON.index
    m = 0.02 * np.abs(rng.standard_normal((CHANNELS, GRID, GRID)))
    m[0] += _gauss(joints[j("right_wrist")], xx, yy)
    m[1] += _gauss(joints[j("head")], xx, yy)
    m[2] += _gauss(joints[j("left_knee")], xx, yy)
    m[3] += _gauss(joints[j("right_elbow")], xx, yy) + _gauss(joints[j("right_wrist")], xx, yy)
    m[NOISE] = np.abs(rng.standard_normal((GRID, GRID)))
    lo, hi = joints.min(0) - 3, joints.max(0) + 3
    inside = (xx >= lo[0]) & (xx <= hi[0]) & (yy >= lo[1]) & (yy <= hi[1])
    m[6] += np.where(inside, 0.1, 1.0)
    m[DEAD] *= 0.05
    m[7] += _gauss(joints[j("left_hip")], xx, yy) + _gauss(joints[j("left_knee")], xx, yy)
    return m.astype(np.float32)


def write_planted_dump(
    out: Path, videos: int = 6, frames: int = 16, order=None, gates: bool = False, seed: int = 0
) -> Path:
    """Write the planted dump into ``out``; ``order``: the manifest's video order (indices)."""
    out = Path(out)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    J = SKELETON.num_joints
    pose = np.array([POSE[n] for n in SKELETON.names], np.float32)
    manifest = new_manifest({"name": "planted"}, {"sha256": "0" * 64}, CHANNELS, GRID, ["cell"])
    g2f = np.array([[CELL, 0, CELL / 2], [0, CELL, CELL / 2]], np.float32)
    order = list(range(videos)) if order is None else list(order)
    for v in order:
        rng = np.random.default_rng([seed, v])
        vid = f"planted_{v:03d}"
        fname = f"videos/{vid}.h5"
        w = VideoDumpWriter(
            out / fname, vid, CHANNELS, GRID, J, (GRID * CELL, GRID * CELL), {}, labelled=True,
            gates=gates, block=8,
        )  # fmt: skip
        shift = rng.uniform(-1.5, 1.5, 2)
        prev = np.zeros((CHANNELS, GRID, GRID), np.float32)
        for t in range(frames):
            joints = pose + shift + rng.uniform(-0.6, 0.6, pose.shape)
            cell = planted_memory(joints, rng)
            f = FORGET[:, None, None] * np.ones_like(cell)
            forget_term = f * prev
            memory = np.stack([forget_term, cell - forget_term, cell])  # prev_cell: prev
            kp = (joints * CELL + CELL / 2).astype(np.float32)
            gate = None
            if gates:
                ones = np.ones_like(cell)
                gate = np.stack([ones, f, ones, cell - forget_term]).astype(np.float16)
            w.append(
                t, np.full((GRID * CELL, GRID * CELL, 3), 90, np.uint8), memory,
                np.zeros((J + 1, GRID, GRID), np.float32), kp, np.ones(J, np.float32), g2f,
                gt=(kp, np.ones(J, np.int8), np.array([0, 0, 192, 192], np.float32)), gates=gate,
            )  # fmt: skip
            prev = cell
        w.close()
        manifest["videos"].append(
            {"video_id": vid, "file": fname, "status": "done", "num_frames": frames}
        )
    save_manifest(out, manifest)
    return out
