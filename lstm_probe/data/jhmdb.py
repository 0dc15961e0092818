"""sub-JHMDB, read exactly as the dataset ships it.

Layout under the root::

    Rename_Images/<class>/<video>/00001.png …
    joint_positions/<class>/<video>/joint_positions.mat   pos_img (2, 15, T), 1-based pixels
    puppet_mask/<class>/<video>/puppet_mask.mat           part_mask (H, W, T)
    sub_splits/<class>_test_split_<k>.txt                 "<video>.avi <1 train | 2 test>"

Conventions, as the authors' code (reference-implementation.md §3–4):

- Coordinates are converted once, here, from MATLAB 1-based to 0-based pixels (−1).
- The belly (JHMDB joint 2) has no network channel: it is dropped from ``keypoints``; evaluation
  interpolates it from shoulders and hips (:func:`lstm_probe.metrics.pck.jhmdb_belly`). The full
  15-joint ground truth is kept in ``annotations.flags["jhmdb_keypoints"]``.
- Every joint counts (JHMDB has no visibility); the person box of a frame is the tight box of its
  puppet mask. A mask with fewer frames than the poses repeats its last box.
- Split files tolerate CRLF line ends, blank lines and trailing spaces.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..skeleton import JHMDB_TO_NETWORK, SKELETON
from ..utils import InputError
from .video import Annotations, FrameFilesVideo, VideoList, read_mat


def _loadmat(path: Path, key: str) -> np.ndarray:
    m = read_mat(path, "file")
    if key not in m:
        raise InputError(path, f"missing variable {key!r}")
    return np.asarray(m[key])


def read_split(path: str | os.PathLike) -> dict[str, int]:
    """``<video>.avi <flag>`` lines -> {video: 1 (train) or 2 (test)}."""
    path = Path(path)
    out = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.strip().split()
        if not parts:
            continue
        if len(parts) != 2 or parts[1] not in ("1", "2"):
            raise InputError(path, f"line {n}: expected '<video>.avi <1|2>', got {line.strip()!r}")
        out[parts[0].rsplit(".", 1)[0] if "." in parts[0] else parts[0]] = int(parts[1])
    return out


def mask_boxes(mask: np.ndarray) -> np.ndarray:
    """part_mask (H, W, T) -> per-frame tight box (T, 4) x1 y1 x2 y2, 0-based; NaN if empty."""
    T = mask.shape[2]
    out = np.full((T, 4), np.nan, np.float32)
    for t in range(T):
        ys, xs = np.nonzero(mask[:, :, t])
        if len(xs):
            out[t] = [xs.min(), ys.min(), xs.max(), ys.max()]
    return out


class JHMDBVideo(FrameFilesVideo):
    def __init__(self, root: Path, cls: str, name: str, split_file: Path):
        self.cls, self.name = cls, name
        img_dir = root / "Rename_Images" / cls / name
        if not img_dir.is_dir():
            raise InputError(split_file, f"names video {name!r} but {img_dir} does not exist")
        pos = _loadmat(root / "joint_positions" / cls / name / "joint_positions.mat", "pos_img")
        if pos.ndim != 3 or pos.shape[:2] != (2, 15):
            raise InputError(
                root / "joint_positions" / cls / name / "joint_positions.mat",
                f"pos_img has shape {pos.shape}, expected (2, 15, T)",
            )
        T = pos.shape[2]
        frames = sorted(img_dir.glob("*.png"))
        if len(frames) < T:
            raise InputError(img_dir, f"{len(frames)} frames for {T} annotated poses")
        mask_path = root / "puppet_mask" / cls / name / "puppet_mask.mat"
        mask = _loadmat(mask_path, "part_mask")
        if mask.ndim != 3:
            raise InputError(mask_path, f"part_mask has shape {mask.shape}, expected (H, W, T)")
        boxes = mask_boxes(mask)[:T]
        if len(boxes) < T:
            boxes = np.concatenate([boxes, np.repeat(boxes[-1:], T - len(boxes), 0)])
        for t in range(T):  # an empty mask frame takes its neighbour's box
            if np.isnan(boxes[t, 0]):
                boxes[t] = boxes[t - 1] if t else boxes[~np.isnan(boxes[:, 0])][0]
        xy = pos.transpose(2, 1, 0).astype(np.float32) - 1.0  # (T, 15, 2), 0-based
        kp = np.zeros((T, SKELETON.num_joints, 2), np.float32)
        for src, dst in enumerate(JHMDB_TO_NETWORK):
            if dst is not None:
                kp[:, dst] = xy[:, src]
        ann = Annotations(
            keypoints=kp,
            visibility=np.ones((T, SKELETON.num_joints), np.int8),
            bbox=boxes,
            flags={"jhmdb_keypoints": xy},
        )
        super().__init__(f"{cls}/{name}", frames[:T], ann, {"source": "sub_jhmdb", "action": cls})


class SubJHMDB(VideoList):
    """``SubJHMDB(root, split=1, subset="train")``: the videos of split k's train or test part."""

    def __init__(self, root: str | os.PathLike, split: int = 1, subset: str = "train"):
        root = Path(root)
        if split not in (1, 2, 3):
            raise ValueError(f"sub-JHMDB split must be 1, 2 or 3, got {split!r}")
        if subset not in ("train", "test"):
            raise ValueError(f"subset must be train or test, got {subset!r}")
        split_files = sorted((root / "sub_splits").glob(f"*_test_split_{split}.txt"))
        if not split_files:
            raise InputError(root / "sub_splits", f"no *_test_split_{split}.txt files")
        want = 1 if subset == "train" else 2
        self.videos: list[JHMDBVideo] = []
        for sf in split_files:
            cls = sf.name[: sf.name.index("_test_split_")]
            for name, flag in read_split(sf).items():
                if flag == want:
                    self.videos.append(JHMDBVideo(root, cls, name, sf))
