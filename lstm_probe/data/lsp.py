"""Leeds Sports Pose (LSP, 2,000 images) and LSP-extended (LSPET, 10,000), as they ship.

Layout under the root (the folder of the unzipped archive)::

    joints.mat            variable ``joints``
    images/im0001.jpg …   LSP: 4 digits, 1-based;  LSPET: images/im00001.jpg …, 5 digits

``joints.mat`` — what is assumed (LSP and LSPET READMEs; CPM's ``training/genJSON.m``, which
built the MPII + LSP LMDB the authors' single-image model trained on, reference §2.3):

- **LSP**: ``joints`` is **3 × 14 × 2000** (x; y; a flag) — ``loadmat`` gives (3, 14, N).
  The README calls the flag "visibility", but it is **1 for an occluded joint, 0 for a visible
  one**: CPM converts it with ``joints(3,:,:) = 1 - joints(3,:,:)``, and other public loaders
  (``np.logical_not``) do the same. **Unsure**: read from code, not checked on the real file.
- **LSPET**: ``joints`` is **14 × 3 × 10000** (joint, [x y flag], image) with the flag
  **1 = visible, 0 = occluded**; CPM uses it unchanged.
- Coordinates are MATLAB 1-based pixels; converted here once to 0-based (−1), as CPM's data
  layer does (``joints -= Point2f(1,1)``).
- Joint order (both, 1-based): 1 right ankle, 2 right knee, 3 right hip, 4 left hip, 5 left knee,
  6 left ankle, 7 right wrist, 8 right elbow, 9 right shoulder, 10 left shoulder, 11 left elbow,
  12 left wrist, 13 neck, 14 head top. "Right"/"left" are the person's own (the README:
  person-centric labels). Mapped to the network's joints **by name** (neck -> neck, head top ->
  head); this equals CPM's LSP -> MPII-16 -> network orderings (tested).
- Visibility here: 1 visible, 0 occluded (still supervised, as CPM and our Penn loader), −1 for a
  joint outside the image (CPM's "cropped", no target).
- Person box: the labelled joints' extent grown by 5 % of its larger side on every side
  (:func:`lstm_probe.data.stills.joint_box`). CPM instead centres on the image (LSP, whose images
  are cropped around the person) or on the visible joints' extent (LSPET) and derives a scale
  from limb lengths; with ``crop.scale_mode: fit`` the box only sets the crop's centre and scale.
- Splits: LSP — the first half of the images train, the second half test (1,000 / 1,000, the
  common protocol; CPM trains on images 1–1000); LSPET — all images train.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..utils import InputError
from .stills import StillImage, network_columns
from .video import VideoList, read_mat

LSP_JOINTS = (
    "right_ankle",
    "right_knee",
    "right_hip",
    "left_hip",
    "left_knee",
    "left_ankle",
    "right_wrist",
    "right_elbow",
    "right_shoulder",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "neck",
    "head_top",
)
#: LSP name -> network name where they differ
LSP_RENAME = {"head_top": "head"}
LSP_TO_NETWORK = network_columns(LSP_JOINTS, LSP_RENAME)


def read_lsp_joints(path: str | os.PathLike, extended: bool) -> np.ndarray:
    """``joints.mat`` -> (N, 14, 3) float64 in LSP order: x, y 1-based and 1 visible / 0 occluded."""
    path = Path(path)
    m = read_mat(path, "joints.mat")
    if "joints" not in m:
        raise InputError(path, "missing variable 'joints'")
    j = np.asarray(m["joints"])
    if not np.issubdtype(j.dtype, np.number):
        raise InputError(path, f"'joints' holds {j.dtype}, expected numbers")
    j = j.astype(np.float64)
    # (expected shape, the other variant's, its name and dataset spec, axes to (N, 14, 3))
    want, other, name, spec, axes = (
        ((14, 3), (3, 14), "the original LSP", "lsp:ROOT", (2, 0, 1)) if extended
        else ((3, 14), (14, 3), "LSP-extended", "lsp-extended:ROOT", (2, 1, 0))
    )  # fmt: skip
    if j.ndim != 3 or j.shape[:2] != want:
        hint = f" (this looks like {name}: use {spec})" if j.shape[:2] == other else ""
        raise InputError(
            path, f"'joints' has shape {j.shape}, expected ({want[0]}, {want[1]}, N){hint}"
        )
    out = j.transpose(axes).copy()
    if not extended:
        out[:, :, 2] = 1.0 - out[:, :, 2]  # LSP's flag is 1 for occluded
    return out


def lsp_to_network(joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(14, 3) LSP order, 1-based -> network (14, 2) 0-based keypoints and (14,) visibility."""
    kp = np.zeros((len(LSP_TO_NETWORK), 2), np.float32)
    vis = np.full(len(LSP_TO_NETWORK), -1, np.int8)
    for src, dst in enumerate(LSP_TO_NETWORK):
        kp[dst] = joints[src, :2] - 1.0
        vis[dst] = 1 if joints[src, 2] > 0.5 else 0
    return kp, vis


class LSP(VideoList):
    """``LSP(root, split)`` (train | test | all) or ``LSP(root, extended=True)``: one-frame
    videos ``lsp/im0001`` / ``lspet/im00001``, one per image."""

    def __init__(self, root: str | os.PathLike, split: str = "train", extended: bool = False):
        root = Path(root)
        if split not in ("train", "test", "all"):
            raise ValueError(f"split must be train, test or all, got {split!r}")
        if extended and split != "train":
            raise InputError(root, "LSP-extended is training data only (split train)")
        name = "lspet" if extended else "lsp"
        if not root.is_dir():
            raise InputError(root, f"not a folder ({name} root: joints.mat and images/)")
        joints = read_lsp_joints(root / "joints.mat", extended)
        n = len(joints)
        images = root / "images"
        if not images.is_dir():
            raise InputError(images, f"missing images folder of {name}")
        digits = 5 if extended else 4
        ext = ".jpg"
        if (
            not (images / f"im{1:0{digits}d}.jpg").exists()
            and (images / f"im{1:0{digits}d}.png").exists()
        ):
            ext = ".png"  # some re-releases ship PNGs
        paths = [images / f"im{i + 1:0{digits}d}{ext}" for i in range(n)]
        missing = [p for p in paths if not p.is_file()]
        if missing:
            raise InputError(
                missing[0], f"missing image ({len(missing)} of the {n} in joints.mat are missing)"
            )
        half = n // 2
        index = {"train": range(n) if extended else range(half), "test": range(half, n)}
        index["all"] = range(n)
        self.root, self.split, self.extended = root, split, extended
        self.videos: list[StillImage] = []
        for i in index[split]:
            kp, vis = lsp_to_network(joints[i])
            self.videos.append(
                StillImage(
                    f"{name}/{paths[i].stem}",
                    paths[i],
                    kp,
                    vis,
                    attrs={"source": "lsp_extended" if extended else "lsp", "image_index": i + 1},
                )
            )
