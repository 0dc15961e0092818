"""One's own footage with keypoints (e.g. teacher labels from ``lstm-probe label``), split in time.

Source string ``own:VIDEO:KEYPOINTS[:train|test|all][:FRACTION]``: a video file or frame folder,
its keypoint JSON (the format of :mod:`lstm_probe.data.video`), and which part of it:

- ``train`` — the first FRACTION of the frames (default 0.7), cut into the runs of consecutive
  labelled frames (a frame with no labelled joint, e.g. no person found, ends a run), so no
  training clip holds a frame without a label;
- ``test`` (default) — the last 1 − FRACTION, as one video (unlabelled frames are streamed, so the
  memory runs on, and not scored);
- ``all`` — the whole video.

The held-out part comes after the training part, so a test frame is never a neighbour of a
training frame except at the one boundary. Every part's ``attrs`` carries the keypoint file's
``teacher`` entry (name and version of the pose estimator that wrote the labels), so ``eval``
can say whom it measured agreement with.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..utils import InputError
from .video import Annotations, Video, VideoFile, VideoList, open_video

DEFAULT_FRACTION = 0.7
MIN_RUN = 10  # frames: a shorter labelled run is no training clip (CPU clips are 3–5 frames)
SPLITS = ("train", "test", "all")


class VideoPart(Video):
    """Frames ``start`` … ``stop``−1 of a video, as a video of its own (annotations sliced).

    A video file is read through one capture kept open, so consecutive frames (a clip) decode
    without a seek each."""

    def __init__(self, video: Video, start: int, stop: int, suffix: str, attrs: dict):
        self.base, self.start, self.stop = video, start, stop
        self.video_id = f"{video.video_id}{suffix}"
        self.num_frames = stop - start
        self.fps = getattr(video, "fps", 25.0)
        a = video.annotations
        cut = slice(start, stop)
        self.annotations = Annotations(
            None if a.keypoints is None else a.keypoints[cut],
            None if a.visibility is None else a.visibility[cut],
            None if a.bbox is None else a.bbox[cut],
            {k: v[cut] for k, v in a.flags.items()},
        )
        self.attrs = {**video.attrs, "frame_offset": start, **attrs}
        self._cap, self._next, self._pid = None, -1, None

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        stop = self.num_frames if stop is None else min(stop, self.num_frames)
        yield from self.base.frames(self.start + start, self.start + stop)

    def encoded_frame(self, t: int) -> bytes | None:
        return self.base.encoded_frame(self.start + t)

    def frame(self, t: int) -> np.ndarray:
        self._check_index(t)
        if not isinstance(self.base, VideoFile):
            return self.base.frame(self.start + t)
        import cv2

        if self._pid != os.getpid():  # a loader worker: its own capture
            self._cap, self._next, self._pid = None, -1, os.getpid()
        if self._cap is None:
            self._cap = cv2.VideoCapture(str(self.base.path))
        if self._next != self.start + t:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, self.start + t)
        ok, img = self._cap.read()
        if not ok:
            self._next = -1
            raise InputError(self.base.path, f"frame {self.start + t} cannot be decoded")
        self._next = self.start + t + 1
        return img

    def __getstate__(self):  # a capture does not pickle (loader workers)
        return {**self.__dict__, "_cap": None, "_next": -1, "_pid": None}


def parse_own(rest: str) -> tuple[Path, Path, str, float]:
    """``VIDEO:KEYPOINTS[:SPLIT][:FRACTION]`` -> (video, keypoints, split, fraction)."""
    usage = "the own-footage source is own:VIDEO:KEYPOINTS[:train|test|all][:FRACTION]"
    parts = rest.split(":")
    fraction, split = DEFAULT_FRACTION, "test"
    try:
        if len(parts) > 2:
            fraction = float(parts[-1])
            parts = parts[:-1]
    except ValueError:
        pass
    if len(parts) > 2 and parts[-1] in SPLITS:
        split, parts = parts[-1], parts[:-1]
    if len(parts) < 2:
        raise InputError(None, usage)
    if not 0 < fraction < 1:
        raise InputError(None, f"own: FRACTION must lie strictly between 0 and 1, got {fraction}")
    # a path may hold ":" itself: take the first cut whose video exists
    for k in range(1, len(parts)):
        video, keypoints = ":".join(parts[:k]), ":".join(parts[k:])
        if Path(video).exists():
            return Path(video), Path(keypoints), split, fraction
    raise InputError(":".join(parts[:1]), f"no such video file or folder ({usage})")


@lru_cache(maxsize=16)
def _teacher(path: str, mtime: float) -> dict | None:
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    teacher = doc.get("teacher") if isinstance(doc, dict) else None
    return teacher if isinstance(teacher, dict) else None


def teacher_of(keypoints: str | os.PathLike) -> dict | None:
    """The ``teacher`` entry of a keypoint file (None when absent or unreadable)."""
    p = Path(keypoints)
    try:
        return _teacher(str(p), p.stat().st_mtime)
    except OSError:
        return None


def labelled_runs(vis: np.ndarray, start: int, stop: int, min_length: int) -> list[tuple[int, int]]:
    """Runs [a, b) of consecutive frames in [start, stop) with at least one labelled joint."""
    runs, a = [], None
    for t in range(start, stop + 1):
        ok = t < stop and bool((vis[t] >= 0).any())
        if ok and a is None:
            a = t
        elif not ok and a is not None:
            if t - a >= min_length:
                runs.append((a, t))
            a = None
    return runs


def open_own(rest: str, accept_short: bool = False, min_length: int = MIN_RUN) -> VideoList:
    """The videos of an ``own:`` source (see module doc); ``min_length`` drops training runs
    shorter than a clip."""
    video_path, keypoints, split, fraction = parse_own(rest)
    video = open_video(video_path, keypoints, accept_short)
    n = video.num_frames
    cut = int(round(fraction * n))
    if not 0 < cut < n:
        raise InputError(video_path, f"{n} frames cannot be split {fraction:g} / {1 - fraction:g}")
    attrs = {"teacher": teacher_of(keypoints), "keypoints": str(keypoints), "split": split}
    out = VideoList()
    if split == "train":
        runs = labelled_runs(video.annotations.visibility, 0, cut, min_length)
        if not runs:
            raise InputError(
                keypoints, f"no run of {min_length} consecutive labelled frames in the first {cut}"
            )
        out.videos = [VideoPart(video, a, b, f"@{a}-{b}", attrs) for a, b in runs]
    elif split == "test":
        out.videos = [VideoPart(video, cut, n, f"@{cut}-{n}", attrs)]
    else:
        out.videos = [VideoPart(video, 0, n, "", attrs)]
    return out
