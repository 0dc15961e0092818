"""Videos as every loader returns them: lazy frames plus small per-frame annotations.

A :class:`Video` reads one frame at a time (``frame(t)`` or streaming ``frames()``); nothing
holds a whole video, let alone a dataset, in memory. Frames are uint8 BGR (OpenCV's order, which
is also the reference network's input order).

Annotations are in the network's joint order (:mod:`lstm_probe.skeleton`) and 0-based frame
pixels:

- ``keypoints`` (T, J, 2) float32
- ``visibility`` (T, J) int8: 1 visible, 0 labelled but occluded (still supervised, as the
  reference does), −1 no usable label (zero target, not evaluated)
- ``bbox`` (T, 4) x1, y1, x2, y2 — the person box PCK normalises by
- ``flags`` per-frame extras, e.g. the synthetic set's ``occluded`` (T, J) and ``cue_visible`` (T,)

Own footage (:func:`open_video`) is a video file or a folder of frames, with optional keypoints in
this JSON format (``joints`` names any subset of the network's joints, in any order; ``v`` is 1
visible, 0 occluded, −1 unknown; frames without an entry are unlabelled)::

    {"format": "lstm-probe-keypoints", "version": 1,
     "joints": ["head", "neck", "right_shoulder", ...],
     "frames": [{"index": 0, "keypoints": [[x, y, v], ...]}, ...]}
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..skeleton import SKELETON
from ..utils import InputError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
MAX_COORDINATE = 1e6  # pixels: a keypoint farther out than this is not a position
MAX_JSON_BYTES = 256 << 20
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")


@dataclass
class Annotations:
    keypoints: np.ndarray | None = None
    visibility: np.ndarray | None = None
    bbox: np.ndarray | None = None
    flags: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def labelled(self) -> bool:
        return self.keypoints is not None


class Video:
    """Base class: ``video_id``, ``num_frames``, ``annotations``, ``attrs`` and frame access."""

    video_id: str
    num_frames: int
    annotations: Annotations
    attrs: dict

    def frame(self, t: int) -> np.ndarray:
        raise NotImplementedError

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        stop = self.num_frames if stop is None else min(stop, self.num_frames)
        for t in range(start, stop):
            yield self.frame(t)

    def encoded_frame(self, t: int) -> bytes | None:
        """The encoded bytes frame ``t`` was decoded from, where the video keeps them (the frame
        file :meth:`frames` yielded last); None where it has none (decoded video, generated
        frames, a frame read on its own)."""
        return None

    def _check_index(self, t: int) -> None:
        if not 0 <= t < self.num_frames:
            raise IndexError(f"{self.video_id}: frame {t} out of range 0..{self.num_frames - 1}")


class ArrayVideo(Video):
    """Frames held in an array (F, H, W, 3) uint8 BGR — generated input (benchmarks, tests)."""

    def __init__(self, video_id: str, frames: np.ndarray, annotations=None, attrs=None):
        self.video_id = video_id
        self.array = frames
        self.num_frames = len(frames)
        self.annotations = annotations or Annotations()
        self.attrs = dict(attrs or {})

    def frame(self, t: int) -> np.ndarray:
        self._check_index(t)
        return self.array[t]


class VideoList:
    """A dataset as a sequence of videos (Penn Action, sub-JHMDB): ``len``, index, iterate."""

    videos: list[Video]

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, i: int) -> Video:
        return self.videos[i]

    def __iter__(self):
        return iter(self.videos)


def read_image(path: str | os.PathLike) -> np.ndarray:
    return read_image_file(path)[0]


def read_image_file(path: str | os.PathLike) -> tuple[np.ndarray, bytes]:
    """An image file, decoded as ``cv2.imread`` decodes it (BGR, its EXIF orientation applied),
    and the bytes it was decoded from."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "missing frame")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(path, f"unreadable ({e.strerror or e})") from None
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    if img is None:
        raise InputError(path, "image cannot be decoded (truncated or not an image)")
    return img, data


def read_mat(path: str | os.PathLike, what: str = "file", **loadmat) -> dict:
    """A MATLAB file as ``scipy.io.loadmat`` reads it (``loadmat`` options passed on); a missing or
    unreadable file is an :class:`InputError` naming it (``what``: how the message calls it)."""
    import scipy.io

    path = Path(path)
    try:
        return scipy.io.loadmat(str(path), **loadmat)
    except FileNotFoundError:
        raise InputError(path, f"{what} not found") from None
    except Exception as e:  # scipy raises several types for truncated or foreign files
        raise InputError(path, f"unreadable .mat file ({type(e).__name__}: {e})") from None


class FrameFilesVideo(Video):
    """A video stored as one image file per frame (Penn Action, JHMDB, a user's frame folder)."""

    def __init__(self, video_id: str, paths: list[Path], annotations=None, attrs=None):
        self.video_id = video_id
        self.paths = [Path(p) for p in paths]
        self.num_frames = len(self.paths)
        self.annotations = annotations or Annotations()
        self.attrs = dict(attrs or {})
        self._shape: tuple[int, ...] | None = None
        self._last: tuple[int, bytes] | None = None  # streaming: the frame last yielded, its bytes

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """Frames in order, each file's bytes kept until the next is read (:meth:`encoded_frame`)
        and dropped when the iteration ends: random access (training clips) keeps none."""
        stop = self.num_frames if stop is None else min(stop, self.num_frames)
        try:
            for t in range(start, stop):
                self._last = None
                img, data = self._read(t)
                self._last = (t, data)
                yield img
        finally:
            self._last = None

    def frame(self, t: int) -> np.ndarray:
        return self._read(t)[0]

    def _read(self, t: int) -> tuple[np.ndarray, bytes]:
        self._check_index(t)
        img, data = read_image_file(self.paths[t])
        if self._shape is None:
            self._shape = img.shape
        elif img.shape != self._shape:
            h, w = self._shape[:2]
            raise InputError(
                self.paths[t],
                f"frame is {img.shape[1]}×{img.shape[0]}, the video's frames are {w}×{h} "
                "(a video's frames must share one size)",
            )
        return img, data

    def encoded_frame(self, t: int) -> bytes | None:
        """The bytes of frame ``t``'s file while it is the frame :meth:`frames` yielded last:
        the very bytes that frame was decoded from, whatever the file holds now."""
        last = self._last
        return last[1] if last is not None and last[0] == t else None


class VideoFile(Video):
    """A video file decoded with OpenCV, streamed sequentially (seeks only when asked to).

    A file whose frames stop decoding before the count its header announces is an error when
    streamed (it names how many frames were read of how many announced), unless
    ``accept_short``: then the stream ends at the last decodable frame."""

    def __init__(
        self, path: str | os.PathLike, annotations=None, attrs=None, accept_short: bool = False
    ):
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(self.path, "video file not found")
        cap = cv2.VideoCapture(str(self.path))
        ok = cap.isOpened()
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if ok else 0
        ok_frame, first = cap.read() if ok else (False, None)
        self.fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0) or 25.0
        cap.release()
        if not ok or not ok_frame or first is None:
            raise InputError(self.path, "video cannot be decoded (no readable frame)")
        self.video_id = self.path.stem
        self.announced = n  # the header's frame count (0 when the container does not say)
        self.accept_short = accept_short
        self.num_frames = max(n, 1)
        self.frame_size = (first.shape[1], first.shape[0])
        self.annotations = annotations or Annotations()
        self.attrs = {"source": str(self.path), "fps": self.fps, **(attrs or {})}

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        cap = cv2.VideoCapture(str(self.path))
        try:
            if start:
                cap.set(cv2.CAP_PROP_POS_FRAMES, start)
            t = start
            while stop is None or t < stop:
                ok, img = cap.read()
                if not ok:
                    break
                yield img
                t += 1
        finally:
            cap.release()
        wanted = self.announced if stop is None else min(stop, self.announced)
        if t < wanted and not self.accept_short:
            raise InputError(
                self.path,
                f"only {t} of the {self.announced} frames its header announces could be decoded "
                "(--accept-short takes the frames that decode)",
            )

    def frame(self, t: int) -> np.ndarray:
        self._check_index(t)
        for img in self.frames(t, t + 1):
            return img
        raise InputError(self.path, f"frame {t} cannot be decoded")


def read_keypoints_json(path: str | os.PathLike, num_frames: int) -> Annotations:
    """Read the documented keypoint JSON -> Annotations in network order (see module doc)."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            raise InputError(path, f"keypoint file larger than {MAX_JSON_BYTES >> 20} MiB")
        doc = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise InputError(path, "keypoint file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(path, f"not valid JSON ({e})") from None
    except RecursionError:
        raise InputError(path, "JSON nested too deeply") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("frames"), list):
        raise InputError(path, "expected an object with a 'frames' list")
    names = doc.get("joints", list(SKELETON.names))
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise InputError(path, "'joints' must be a list of joint names")
    try:
        cols = [SKELETON.index(n) for n in names]
    except KeyError as e:
        raise InputError(path, str(e.args[0])) from None
    J = SKELETON.num_joints
    kp = np.zeros((num_frames, J, 2), np.float32)
    vis = np.full((num_frames, J), -1, np.int8)
    for k, entry in enumerate(doc["frames"]):
        where = f"frames[{k}]"
        if not isinstance(entry, dict) or "index" not in entry or "keypoints" not in entry:
            raise InputError(path, f"{where} needs 'index' and 'keypoints'")
        t = entry["index"]
        if isinstance(t, bool) or not isinstance(t, int) or not 0 <= t < num_frames:
            raise InputError(path, f"{where}: index {t!r} outside the video's {num_frames} frames")
        try:
            arr = np.asarray(entry["keypoints"], dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError(path, f"{where}: keypoints must be numbers") from None
        if arr.shape != (len(names), 3) or not np.all(np.isfinite(arr)):
            raise InputError(
                path, f"{where}: keypoints must be {len(names)} finite [x, y, v] triples"
            )
        if np.abs(arr[:, :2]).max(initial=0) > MAX_COORDINATE:
            raise InputError(path, f"{where}: a keypoint lies beyond ±{MAX_COORDINATE:g} px")
        kp[t, cols] = arr[:, :2]
        vis[t, cols] = np.clip(np.round(arr[:, 2]), -1, 1).astype(np.int8)
    return Annotations(keypoints=kp, visibility=vis, bbox=bbox_from_keypoints(kp, vis))


def bbox_from_keypoints(kp: np.ndarray, vis: np.ndarray, pad: float = 0.1) -> np.ndarray:
    """Tight box of the labelled joints per frame, padded by ``pad`` of its larger side."""
    out = np.zeros((len(kp), 4), np.float32)
    for t in range(len(kp)):
        pts = kp[t][vis[t] >= 0]
        if len(pts) == 0:
            out[t] = out[t - 1] if t else 0
            continue
        lo, hi = pts.min(0), pts.max(0)
        m = pad * max(hi - lo)
        out[t] = [lo[0] - m, lo[1] - m, hi[0] + m, hi[1] + m]
    return out


def open_video(
    path: str | os.PathLike,
    keypoints: str | os.PathLike | None = None,
    accept_short: bool = False,
) -> Video:
    """A user's footage: a video file or a folder of frames (sorted by name); ``accept_short``
    see :class:`VideoFile`."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise InputError(path, f"no frames ({', '.join(IMAGE_SUFFIXES)}) in this folder")
        video: Video = FrameFilesVideo(path.name, files, attrs={"source": str(path)})
    elif path.suffix.lower() in IMAGE_SUFFIXES:
        raise InputError(path, "a single image is not a video; give a folder of frames")
    else:
        video = VideoFile(path, accept_short=accept_short)
    if keypoints is not None:
        video.annotations = read_keypoints_json(keypoints, video.num_frames)
    return video
