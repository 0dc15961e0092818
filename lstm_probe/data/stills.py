"""Single images as videos, for the single-image pre-training on LSP + MPII (reference §2.3).

- :class:`StillImage` — one image file with one person's joints: a one-frame :class:`Video`.
  Joints outside the image get visibility −1, as the authors' Caffe data layer marks them
  "cropped" (``data_transformer.cpp``: ``isVisible = 2``, no target Gaussian); the image size is
  read from the file header when the annotations are first asked for.
- :class:`RepeatedStill` — a one-frame video shown T times. The clip pipeline
  (:class:`~lstm_probe.data.clips.ClipDataset`) refuses videos shorter than ``clip_length``, so a
  single-image source is wrapped this way for ``run.pretrain_single_image`` (which feeds frame 0
  at every one of the T steps): source string ``repeat:T:SPEC``.
- :class:`ConcatVideos` — several sources as one list (source string ``SPEC+SPEC+…``); a clip
  draws a video uniformly over the union, as the authors' shuffled ``MPI_LEEDS_alltrain`` LMDB
  draws a sample uniformly over MPII + LSP.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..skeleton import SKELETON
from ..utils import InputError
from .video import Annotations, Video, VideoList, bbox_from_keypoints, read_image

#: pad of the joint-extent box (a fraction of its larger side, on every side), see joint_box
JOINT_BOX_PAD = 0.05


def joint_box(keypoints: np.ndarray, visibility: np.ndarray) -> np.ndarray:
    """(J, 2), (J,) -> (4,) x1 y1 x2 y2: the labelled joints' extent, grown by
    ``JOINT_BOX_PAD`` of its larger side on every side (≈ the person's height for a standing
    person: head top to ankles is a little less than the body's length)."""
    return bbox_from_keypoints(keypoints[None], visibility[None], JOINT_BOX_PAD)[0]


def network_columns(source_names: Sequence[str], rename: dict[str, str]) -> list[int | None]:
    """A dataset's joint names -> network channel of each (None: no channel), by name."""
    out: list[int | None] = []
    for n in source_names:
        target = rename.get(n, n)
        out.append(None if target is None else SKELETON.index(target))
    return out


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the image header (Pillow, a dependency of matplotlib)."""
    try:
        from PIL import Image

        with Image.open(path) as im:
            return im.size
    except ImportError:  # pragma: no cover - Pillow comes with matplotlib
        img = read_image(path)
        return img.shape[1], img.shape[0]
    except FileNotFoundError:
        raise InputError(path, "missing image") from None
    except Exception as e:
        raise InputError(path, f"image cannot be read ({type(e).__name__}: {e})") from None


class StillImage(Video):
    """One person in one image: keypoints (J, 2) 0-based, visibility (J,), box (4,) x1 y1 x2 y2.

    ``box=None`` takes :func:`joint_box` of the joints that lie on the image. ``flags`` are
    per-frame extras with a leading axis of length 1.
    """

    num_frames = 1

    def __init__(
        self,
        video_id: str,
        path: str | os.PathLike,
        keypoints: np.ndarray,
        visibility: np.ndarray,
        box: np.ndarray | None = None,
        flags: dict | None = None,
        attrs: dict | None = None,
    ):
        self.video_id = video_id
        self.path = Path(path)
        self._kp = np.asarray(keypoints, np.float32)
        self._vis = np.asarray(visibility, np.int8)
        self._box = None if box is None else np.asarray(box, np.float32)
        self._flags = dict(flags or {})
        self._ann: Annotations | None = None
        self.attrs = dict(attrs or {})

    @property
    def annotations(self) -> Annotations:
        if self._ann is None:
            w, h = image_size(self.path)
            kp, vis = self._kp, self._vis.copy()
            off = (kp[:, 0] < 0) | (kp[:, 1] < 0) | (kp[:, 0] > w - 1) | (kp[:, 1] > h - 1)
            vis[off] = -1
            box = self._box if self._box is not None else joint_box(kp, vis)
            self._ann = Annotations(kp[None].copy(), vis[None], box[None].copy(), self._flags)
        return self._ann

    @annotations.setter
    def annotations(self, value: Annotations) -> None:
        self._ann = value

    def frame(self, t: int) -> np.ndarray:
        self._check_index(t)
        return read_image(self.path)


class RepeatedStill(Video):
    """A one-frame video presented as ``num_frames`` identical frames (decoded once)."""

    def __init__(self, video: Video, num_frames: int):
        if video.num_frames != 1:
            raise ValueError(f"{video.video_id}: only one-frame videos can be repeated")
        self.video, self.num_frames = video, int(num_frames)
        self.video_id = video.video_id
        self.attrs = dict(video.attrs, repeated=self.num_frames)
        self._img: np.ndarray | None = None

    @property
    def annotations(self) -> Annotations:
        a, T = self.video.annotations, self.num_frames

        def tile(x):
            return None if x is None else np.repeat(x[:1], T, axis=0)

        flags = {k: tile(v) for k, v in a.flags.items()}
        return Annotations(tile(a.keypoints), tile(a.visibility), tile(a.bbox), flags)

    def frame(self, t: int) -> np.ndarray:
        self._check_index(t)
        if self._img is None:
            self._img = self.video.frame(0)
        return self._img.copy()


class ConcatVideos(VideoList):
    """Several video lists as one; ``parts`` keeps (name, count) of each in order."""

    def __init__(self, sources: Sequence[Sequence[Video]], names: Sequence[str] | None = None):
        self.videos = [v for s in sources for v in s]
        names = list(names) if names is not None else [str(i) for i in range(len(sources))]
        self.parts = [(n, len(s)) for n, s in zip(names, sources)]


def repeat_stills(videos: Sequence[Video], num_frames: int) -> ConcatVideos:
    """Every one-frame video of ``videos`` shown ``num_frames`` times (see RepeatedStill)."""
    longer = next((v for v in videos if v.num_frames != 1), None)
    if longer is not None:
        raise InputError(
            None, f"repeat: {longer.video_id} has {longer.num_frames} frames; only stills repeat"
        )
    out = ConcatVideos([[RepeatedStill(v, num_frames) for v in videos]], ["repeat"])
    out.parts = list(getattr(videos, "parts", out.parts))
    return out


# ------------------------------------------------------------------ source strings
#: source kinds that may follow a "+" in a list of sources
SOURCE_KINDS = ("lsp-extended", "lsp", "mpii", "penn", "jhmdb", "synthetic", "repeat")
_LIST_SPLIT = re.compile(r"\+(?=(?:" + "|".join(re.escape(k) for k in SOURCE_KINDS) + r"):)")


def split_sources(spec: str) -> list[str]:
    """``"lsp:A:train+mpii:B"`` -> ``["lsp:A:train", "mpii:B"]``. A "+" splits only where a known
    source kind and ":" follow it, so paths with "+" in them stay whole."""
    return _LIST_SPLIT.split(spec)


def parse_repeat(spec: str) -> tuple[int, str]:
    """``"repeat:T:SPEC"`` -> (T, SPEC)."""
    _, _, rest = spec.partition(":")
    count, _, inner = rest.partition(":")
    if not count.isdigit() or int(count) < 1 or not inner:
        raise InputError(None, f"{spec!r}: the repeat source is repeat:T:SPEC with T >= 1")
    return int(count), inner


def open_single_image(kind: str, rest: str) -> VideoList:
    """``lsp:ROOT[:train|test|all]``, ``lsp-extended:ROOT``, ``mpii:ROOT[:train]``."""
    from .lsp import LSP
    from .mpii import MPII

    if kind == "lsp-extended":
        return LSP(rest, "train", extended=True)
    root, split = rest, "test" if kind == "lsp" else "train"  # test by default, as penn:ROOT
    head, sep, tail = rest.rpartition(":")
    if sep and tail in ("train", "test", "all"):
        root, split = head, tail
    if kind == "lsp":
        return LSP(root, split)
    if split != "train":
        raise InputError(None, f"MPII has joints for its training images only: mpii:{root}:train")
    return MPII(root, split)
