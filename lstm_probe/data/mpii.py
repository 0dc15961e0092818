"""MPII Human Pose, read from the official ``mpii_human_pose_v1_u12_1.mat``.

Layout under the root: ``images/<name>.jpg`` and the .mat at ``mpii_human_pose_v1_u12_1.mat``,
``mpii_human_pose_v1_u12_1/…`` or ``mpii_human_pose_v1_u12_2/…`` (the folder the annotation
tarball unpacks to). The .mat is read with ``scipy.io.loadmat(struct_as_record=False,
squeeze_me=True)``: a struct ``RELEASE`` with

- ``annolist(i).image.name``; ``annolist(i).annorect(r)`` per person: ``annopoints.point(k)``
  with ``id`` (0–15), ``x``, ``y``, ``is_visible``; ``objpos.x/.y``; ``scale``; ``x1 y1 x2 y2``
  (head box);
- ``img_train(i)`` (1 train, 0 test; only training images carry joints);
- ``single_person{i}`` (optional here) — the indices r of the well-separated people.

MPII's irregularities, handled as CPM's ``training/genJSON.m`` (which built the MPII + LSP LMDB
that the authors' single-image model trained on) does where it says:

- ``annorect`` may be empty, a single struct (squeezed) or an array; ``annopoints`` may be absent
  from the struct, or ``[]``: that person is skipped (CPM: "sometimes no annotation at all").
- ``point`` may be a single struct instead of an array; joints without a point get
  visibility −1 (CPM pads them with zeros, which its data layer then treats as "cropped").
- ``is_visible``: 0 or ``'0'`` -> 0 (occluded, still supervised); 1, ``'1'``, a missing field or
  an empty array -> 1, exactly CPM's ``if is_visible == 0 || is_visible == '0'`` in a ``try``.
  **Unsure**: whether empty really means "visible" — it is what CPM's code does.
- Joints outside the image get −1 (CPM's data layer: "cropped").

Conventions:

- Coordinates are MATLAB 1-based; converted here once to 0-based (−1), as CPM's data layer does
  for joints and ``objpos``.
- Joints map to the network's 14 **by name**: head <- head top (9), **neck <- upper neck (8)**,
  the reference's choice (``MPI_to_ours = {9, 8, 12, 11, 10, 13, 14, 15, 2, 1, 0, 3, 4, 5}`` in
  the authors' ``data_transformer.cpp``; tested). Pelvis (6) and thorax (7) have no channel; all
  16 are kept in ``flags["mpii_keypoints"]`` / ``flags["mpii_visibility"]``.
- Person box: a square of side 200·scale centred on ``objpos`` (MPII's scale is the person's
  height / 200 px). CPM crops around ``objpos`` and resizes by ``target_dist / scale`` (1.171),
  i.e. the 200·scale box to 234 px of the 368 crop: ``crop.scale_mode: fit`` with
  ``fit_fraction: 0.6365`` reproduces that. A person without ``objpos`` or ``scale`` takes the
  joints' extent box (as LSP). The head box (0-based) is kept in ``flags["head_box"]`` for PCKh.
- Split ``train``: every annotated person of every ``img_train == 1`` image, one one-frame video
  per (image, person) — CPM's ``MPI_alltrain`` set. Tompson's validation split is not in the
  official file (CPM reads it from a separate ``detections.mat``), so no ``val`` split here.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..skeleton import SKELETON
from ..utils import InputError
from .stills import StillImage, network_columns
from .video import VideoList, read_mat

MAT_NAME = "mpii_human_pose_v1_u12_1.mat"
MAT_PLACES = ("", "mpii_human_pose_v1_u12_1", "mpii_human_pose_v1_u12_2", "annot")

MPII_JOINTS = (
    "right_ankle",
    "right_knee",
    "right_hip",
    "left_hip",
    "left_knee",
    "left_ankle",
    "pelvis",
    "thorax",
    "upper_neck",
    "head_top",
    "right_wrist",
    "right_elbow",
    "right_shoulder",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
)
#: MPII name -> network name where they differ (None: no network channel)
MPII_RENAME = {"head_top": "head", "upper_neck": "neck", "pelvis": None, "thorax": None}
MPII_TO_NETWORK = network_columns(MPII_JOINTS, MPII_RENAME)


def _items(v) -> list:
    """A squeezed MATLAB struct array -> list: [] for empty, [s] for one struct, else the items."""
    if v is None:
        return []
    if isinstance(v, np.ndarray):
        return list(v.ravel()) if v.dtype == object else []
    return [v]


def _number(v) -> float | None:
    """A MATLAB scalar however squeezed (float, int, 0-d or 1-element array, numeric string)."""
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return None
    try:
        a = np.asarray(v, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        return None
    return float(a[0]) if a.size == 1 and np.isfinite(a[0]) else None


def _visible(point) -> int:
    """CPM's rule: 0 or '0' -> 0; anything else, including missing or empty, -> 1."""
    v = getattr(point, "is_visible", None)
    if isinstance(v, str):
        return 0 if v.strip() == "0" else 1
    n = _number(v)
    return 0 if n == 0 else 1


def find_mat(root: Path) -> Path:
    if root.is_file():
        return root
    for place in MAT_PLACES:
        p = root / place / MAT_NAME
        if p.is_file():
            return p
    raise InputError(root, f"no {MAT_NAME} (looked in {', '.join(p or '.' for p in MAT_PLACES)})")


def read_release(path: str | os.PathLike):
    """Load the .mat -> (annolist list, img_train (N,) int, single_person list or None)."""
    path = Path(path)
    m = read_mat(path, "file", struct_as_record=False, squeeze_me=True)
    rel = m.get("RELEASE")
    if rel is None or not hasattr(rel, "_fieldnames"):
        raise InputError(path, "no MATLAB struct 'RELEASE' (not the official MPII annotation file)")
    missing = [f for f in ("annolist", "img_train") if f not in rel._fieldnames]
    if missing:
        raise InputError(path, f"RELEASE lacks fields {missing}")
    annolist = _items(rel.annolist)
    img_train = np.atleast_1d(np.asarray(rel.img_train)).ravel()
    if not annolist or any(not hasattr(a, "_fieldnames") for a in annolist):
        raise InputError(path, "RELEASE.annolist is not an array of structs")
    if len(img_train) != len(annolist) or not np.issubdtype(img_train.dtype, np.number):
        raise InputError(
            path, f"RELEASE.img_train has {len(img_train)} entries for {len(annolist)} images"
        )
    single = None
    if "single_person" in rel._fieldnames:
        sp = rel.single_person
        single = list(np.asarray(sp, dtype=object).ravel()) if np.size(sp) else None
        if single is not None and len(single) != len(annolist):
            single = None
    return annolist, img_train.astype(int), single


def read_person(rect) -> tuple[np.ndarray, np.ndarray] | None:
    """One annorect -> (16, 2) 1-based x, y and (16,) visibility (−1 unlabelled), or None."""
    ap = getattr(rect, "annopoints", None)
    if ap is None or isinstance(ap, np.ndarray) or not hasattr(ap, "point"):
        return None  # absent or []
    xy = np.zeros((16, 2))
    vis = np.full(16, -1, np.int8)
    for p in _items(ap.point):
        pid = _number(getattr(p, "id", None))
        x, y = _number(getattr(p, "x", None)), _number(getattr(p, "y", None))
        if pid is None or x is None or y is None or not 0 <= pid <= 15:
            continue
        xy[int(pid)] = x, y
        vis[int(pid)] = _visible(p)
    return (xy, vis) if (vis >= 0).any() else None


def _objpos(rect) -> tuple[float, float] | None:
    o = getattr(rect, "objpos", None)
    if o is None or isinstance(o, np.ndarray):
        return None
    x, y = _number(getattr(o, "x", None)), _number(getattr(o, "y", None))
    return None if x is None or y is None else (x, y)


def _head_box(rect) -> np.ndarray:
    vals = [_number(getattr(rect, k, None)) for k in ("x1", "y1", "x2", "y2")]
    if any(v is None for v in vals):
        return np.full(4, np.nan, np.float32)
    return np.asarray(vals, np.float32) - 1.0


def _in(r: int, single) -> bool:
    """Is annorect r (1-based) among ``single_person{i}`` (an int, an array or [])?"""
    return r in {int(v) for v in np.atleast_1d(np.asarray(single, dtype=float)).ravel()}


class MPII(VideoList):
    """``MPII(root)``: one one-frame video ``mpii/<image>/<r>`` per annotated training person
    (r is MATLAB's 1-based annorect index)."""

    def __init__(self, root: str | os.PathLike, split: str = "train"):
        root = Path(root)
        if split != "train":
            raise ValueError(f"MPII has joints for its training images only, got split {split!r}")
        mat = find_mat(root)
        base = mat.parent if root.is_file() else root
        images = base / "images"
        if not images.is_dir():
            raise InputError(images, "missing MPII images folder")
        annolist, img_train, single = read_release(mat)
        self.root, self.split, self.mat = base, split, mat
        self.videos: list[StillImage] = []
        self.skipped = 0  # training people without joints
        for i, entry in enumerate(annolist):
            if img_train[i] != 1:
                continue
            img = getattr(entry, "image", None)
            name = getattr(img, "name", None)
            if not isinstance(name, str) or not name:
                raise InputError(mat, f"annolist({i + 1}).image.name is not a file name")
            path = images / name
            for r, rect in enumerate(_items(getattr(entry, "annorect", None)), 1):
                person = read_person(rect)
                if person is None:
                    self.skipped += 1
                    continue
                xy, vis16 = person
                kp = np.zeros((SKELETON.num_joints, 2), np.float32)
                vis = np.full(SKELETON.num_joints, -1, np.int8)
                for src, dst in enumerate(MPII_TO_NETWORK):
                    if dst is not None:
                        kp[dst], vis[dst] = xy[src] - 1.0, vis16[src]
                centre, scale = _objpos(rect), _number(getattr(rect, "scale", None))
                box = None
                if centre is not None and scale is not None and scale > 0:
                    cx, cy, half = centre[0] - 1.0, centre[1] - 1.0, 100.0 * scale
                    box = np.array([cx - half, cy - half, cx + half, cy + half], np.float32)
                flags = {
                    "head_box": _head_box(rect)[None],
                    "mpii_keypoints": (xy - 1.0).astype(np.float32)[None],
                    "mpii_visibility": vis16[None],
                }
                attrs = {
                    "source": "mpii",
                    "image": name,
                    "annolist_index": i + 1,
                    "person_index": r,
                    "scale": scale,
                    "single_person": _in(r, single[i]) if single is not None else None,
                }
                self.videos.append(
                    StillImage(f"mpii/{Path(name).stem}/{r}", path, kp, vis, box, flags, attrs)
                )
        if not self.videos:
            raise InputError(mat, "no annotated person in any training image")
        missing = sorted({str(v.path) for v in self.videos if not v.path.is_file()})
        if missing:
            raise InputError(missing[0], f"missing image ({len(missing)} images are missing)")
