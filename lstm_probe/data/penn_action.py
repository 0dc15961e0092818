"""Penn Action, read exactly as the dataset ships it.

Layout: ``Penn_Action/frames/NNNN/000001.jpg …`` (1-based, 6 digits) and ``Penn_Action/labels/
NNNN.mat`` with ``x``, ``y`` (T×13), ``visibility`` (T×13), ``bbox`` (T×4, x1 y1 x2 y2),
``dimensions`` ([H W T]), ``nframes``, ``train`` (1 train, −1 test), ``action``, ``pose``.

Conventions, as the authors' code (reference-implementation.md §3, §4.4):

- Penn's 13 joints map to network channels by ``skeleton.PENN_TO_NETWORK`` (Penn "left_shoulder"
  is the network's right shoulder); the neck is synthesised:
  x = 0.5·head + 0.25·(sho_a + sho_b), y = 0.2·head + 0.4·(sho_a + sho_b),
  visibility = floor(mean of the three raw flags), then checked against the image like the
  other joints (the authors' order).
- Coordinates are MATLAB 1-based pixels; they are converted once, here, to 0-based (−1).
- Joints outside the image (x < 0.001, y < 0.001 or beyond the real frame size) get −1; the raw
  flags, as shipped, are kept in ``annotations.flags["raw_visibility"]`` (network order) for the
  authors' evaluation rule (raw visibility == 1 counts).
- Known defects: sequences 1154 and 1865 lack the last frame's bbox row (the previous row is
  repeated); ``dimensions`` can disagree with the images, so the real frame size is used.
- Frames are read lazily; only the small label arrays are held.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..skeleton import PENN_TO_NETWORK, SKELETON
from ..utils import InputError
from .video import Annotations, FrameFilesVideo, VideoList, read_image, read_mat

REQUIRED = ("x", "y", "visibility", "bbox", "train", "nframes")


def _scalar(v, path, key) -> float:
    try:
        return float(np.asarray(v).squeeze())
    except (TypeError, ValueError):
        raise InputError(path, f"field {key!r} is not a number") from None


def _string(v) -> str:
    a = np.asarray(v).squeeze()
    return str(a) if a.size else ""


def read_penn_labels(path: str | os.PathLike) -> dict:
    """Load and validate one ``labels/NNNN.mat`` -> dict of numpy arrays (raw Penn order)."""
    path = Path(path)
    m = read_mat(path, "label file")
    missing = [k for k in REQUIRED if k not in m]
    if missing:
        raise InputError(path, f"missing fields {missing}")
    T = int(_scalar(m["nframes"], path, "nframes"))
    x, y = np.asarray(m["x"], float), np.asarray(m["y"], float)
    vis = np.asarray(m["visibility"]).astype(np.int8)
    for key, arr in (("x", x), ("y", y), ("visibility", vis)):
        if arr.shape != (T, 13):
            raise InputError(path, f"field {key!r} has shape {arr.shape}, expected ({T}, 13)")
    bbox = np.asarray(m["bbox"], float).reshape(-1, 4) if np.size(m["bbox"]) else None
    if bbox is None or not (T - 1 <= len(bbox) <= T):
        n = 0 if bbox is None else len(bbox)
        raise InputError(path, f"field 'bbox' has {n} rows for {T} frames")
    if len(bbox) == T - 1:  # sequences 1154 and 1865: the last row is missing
        bbox = np.concatenate([bbox, bbox[-1:]], 0)
    return {
        "x": x,
        "y": y,
        "visibility": vis,
        "bbox": bbox,
        "nframes": T,
        "train": int(_scalar(m["train"], path, "train")),
        "action": _string(m.get("action", "")),
        "pose": _string(m.get("pose", "")),
        "dimensions": np.asarray(m.get("dimensions", np.zeros(3))).ravel(),
    }


def penn_to_network(
    x, y, vis, width: float, height: float, neck_rule: str = "reference"
) -> tuple[np.ndarray, np.ndarray]:
    """Penn (T, 13) 1-based -> network (T, 14, 2) 0-based keypoints and (T, 14) visibility.

    ``neck_rule="reference"`` (the authors', transformation_PENN.m:54–68): the neck's visibility
    is floor(mean) of the *raw* head and shoulder flags, then the off-image check (x < 0.001,
    y < 0.001, x > W, y > H) runs over all 14 joints, the neck included. ``"checked"``: the
    floor(mean) of the flags after the off-image check, the neck itself never checked (earlier
    releases)."""
    if neck_rule not in ("reference", "checked"):
        raise ValueError(f"neck_rule must be 'reference' or 'checked', got {neck_rule!r}")
    T = len(x)
    kp = np.zeros((T, SKELETON.num_joints, 2), np.float32)
    raw = np.asarray(vis, np.int8)

    def off(px, py):
        return (px < 0.001) | (py < 0.001) | (px > width) | (py > height)

    checked = np.where(off(x, y), -1, raw)
    cols = list(PENN_TO_NETWORK)
    kp[:, cols, 0], kp[:, cols, 1] = x - 1.0, y - 1.0
    # neck from head (Penn 0) and the shoulders (Penn 1, 2), in 1-based coordinates then shifted
    neck_x = 0.5 * x[:, 0] + 0.25 * (x[:, 1] + x[:, 2])
    neck_y = 0.2 * y[:, 0] + 0.4 * (y[:, 1] + y[:, 2])
    kp[:, 1] = np.stack([neck_x - 1.0, neck_y - 1.0], -1)
    v = np.zeros((T, SKELETON.num_joints), np.int8)
    v[:, cols] = checked
    if neck_rule == "reference":
        neck = np.floor(raw[:, :3].astype(float).mean(1)).astype(np.int8)
        v[:, 1] = np.where(off(neck_x, neck_y), -1, neck)
    else:
        v[:, 1] = np.floor(checked[:, :3].astype(float).mean(1)).astype(np.int8)
    return kp, v


def raw_visibility(vis) -> np.ndarray:
    """Penn's ``visibility`` (T, 13) as shipped -> network order (T, 14), no off-image check; the
    neck is floor(mean) of head and shoulders. The authors' benchmark counts joints whose raw flag
    is 1 (run_benchmark_GPU_PENN.m:143)."""
    raw = np.asarray(vis, np.int8)
    out = np.zeros((len(raw), SKELETON.num_joints), np.int8)
    out[:, list(PENN_TO_NETWORK)] = raw
    out[:, 1] = np.floor(raw[:, :3].astype(float).mean(1)).astype(np.int8)
    return out


class PennVideo(FrameFilesVideo):
    def __init__(self, root: Path, seq: str, labels: dict):
        frames_dir = root / "frames" / seq
        paths = [frames_dir / f"{t + 1:06d}.jpg" for t in range(labels["nframes"])]
        super().__init__(seq, paths, attrs={"source": "penn_action", "action": labels["action"]})
        self.labels = labels
        self._size: tuple[int, int] | None = None
        self.attrs.update(pose=labels["pose"], train=labels["train"])

    @property
    def annotations(self) -> Annotations:
        if self._ann is None:
            if self._size is None:  # real size of the frames, not 'dimensions'
                img = read_image(self.paths[0])
                self._size = (img.shape[1], img.shape[0])
            w, h = self._size
            L = self.labels
            kp, vis = penn_to_network(L["x"], L["y"], L["visibility"], w, h)
            self._ann = Annotations(
                kp,
                vis,
                (L["bbox"] - 1.0).astype(np.float32),
                flags={"raw_visibility": raw_visibility(L["visibility"])},
            )
        return self._ann

    @annotations.setter
    def annotations(self, value) -> None:
        self._ann = None if value is None or not value.labelled else value


class PennAction(VideoList):
    """``PennAction(root, split)``: the sequences whose ``train`` field matches the split."""

    def __init__(self, root: str | os.PathLike, split: str = "train", ids: list[str] | None = None):
        root = Path(root)
        if not (root / "labels").is_dir():
            raise InputError(root, "not a Penn Action folder (no labels/ inside)")
        if split not in ("train", "test", "all"):
            raise ValueError(f"split must be train, test or all, got {split!r}")
        self.root, self.split = root, split
        files = sorted((root / "labels").glob("*.mat"))
        if ids is not None:
            files = [root / "labels" / f"{i}.mat" for i in ids]
        self.videos: list[PennVideo] = []
        for f in files:
            labels = read_penn_labels(f)
            if (split == "train" and labels["train"] != 1) or (
                split == "test" and labels["train"] != -1
            ):
                continue
            seq_dir = root / "frames" / f.stem
            if not seq_dir.is_dir():
                raise InputError(seq_dir, f"frames folder missing for {f.name}")
            self.videos.append(PennVideo(root, f.stem, labels))
