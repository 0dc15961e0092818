"""``lstm-probe infer``: pose on one's own video -> keypoint JSON + an overlay video.

The overlay is drawn by a function the caller passes (the command line passes
:func:`lstm_probe.viz.draw.draw_pose`), so the engine does not depend on the figure layer.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from ..checkpoint import trained_on
from ..data import open_source
from ..data.video import open_video
from ..domain import guessing_summary, is_synthetic_source, warn_domain
from ..skeleton import SKELETON
from ..utils import InputError, atomic_path, progress_bar, write_json_atomic
from .accel import accel_of
from .infer import load_for_inference
from .stream import TrackCrops, stream_video

# (RGB frame, keypoints (J, 2)) -> RGB frame with the pose drawn
DrawPose = Callable[[np.ndarray, np.ndarray], np.ndarray]


def infer_video(
    checkpoint, video_path, draw: DrawPose, out=None, box=None, device=None, progress=True,
    accel="auto", compile=False, accept_short=False,
) -> list[Path]:  # fmt: skip
    model, payload, policy, codec = load_for_inference(checkpoint, device, accel, compile)
    dev = next(model.parameters()).device
    if is_synthetic_source(str(video_path)) and not Path(video_path).exists():
        video = open_source(str(video_path))[0]  # a video of the built-in synthetic set
        name = video.video_id
    else:
        video = open_video(video_path, accept_short=accept_short)
        name = Path(video_path).stem
    warn_domain(payload, [str(video_path)])  # a synthetic-only model on real footage
    stem = Path(out) if out else Path(video_path).with_name(name)
    if stem.is_dir() or str(out or "").endswith("/"):
        stem = stem / name
    stem.parent.mkdir(parents=True, exist_ok=True)
    fps = getattr(video, "fps", 25.0)
    frames_out = []
    mp4 = stem.with_name(stem.name + "_pose.mp4")
    crops = TrackCrops(policy, box)  # own footage: the crop follows the predictions
    with (
        atomic_path(mp4) as tmp,
        progress_bar(progress, total=video.num_frames, desc="infer", unit="frame") as bar,
    ):
        writer = None
        for r in stream_video(model, video, crops, codec, dev):
            img = draw(r.frame[:, :, ::-1], r.keypoints)[:, :, ::-1]
            if writer is None:
                h, w = img.shape[:2]
                writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
                if not writer.isOpened():
                    raise InputError(mp4, "this OpenCV build cannot write MP4 (mp4v) video")
            writer.write(img)
            kp = [
                [float(x), float(y), 1 if c > 0.2 else -1]
                for (x, y), c in zip(r.keypoints, r.confidence)
            ]
            frames_out.append(
                {"index": r.index, "keypoints": kp, "confidence": r.confidence.round(4).tolist(),
                 "mean_confidence": round(float(r.confidence.mean()), 4)}
            )  # fmt: skip
            bar.update(1)
        if writer is not None:
            writer.release()
    js = stem.with_name(stem.name + "_keypoints.json")
    write_json_atomic(
        js,
        {"format": "lstm-probe-keypoints", "version": 1, "joints": list(SKELETON.names),
         "source": str(video_path), "checkpoint": str(checkpoint),
         "accel": accel_of(model).describe(), "trained_on": trained_on(payload),
         "frames": frames_out},
    )  # fmt: skip
    print(guessing_summary(f["mean_confidence"] for f in frames_out))
    return [js, mp4]
