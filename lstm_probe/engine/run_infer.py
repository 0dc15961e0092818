"""``lstm-probe infer``: pose on one's own video -> keypoint JSON + an overlay video."""

from __future__ import annotations

from pathlib import Path

import cv2

from ..data.video import open_video
from ..skeleton import SKELETON
from ..utils import InputError, atomic_path, write_json_atomic
from .accel import accel_of
from .infer import load_for_inference, stream_video


def infer_video(
    checkpoint, video_path, out=None, box=None, device=None, progress=True, accel="auto",
    compile=False,
) -> list[Path]:  # fmt: skip
    model, _, policy, codec = load_for_inference(checkpoint, device, accel, compile)
    dev = next(model.parameters()).device
    video = open_video(video_path)
    video.annotations.bbox = None  # own footage: the crop follows the predictions
    stem = Path(out) if out else Path(video_path).with_suffix("")
    if stem.is_dir() or str(out or "").endswith("/"):
        stem = stem / Path(video_path).stem
    stem.parent.mkdir(parents=True, exist_ok=True)
    fps = getattr(video, "fps", 25.0)
    frames_out = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=video.num_frames, desc="infer", unit="frame")
    from ..viz.figures import draw_pose

    mp4 = stem.with_name(stem.name + "_pose.mp4")
    with atomic_path(mp4) as tmp:
        writer = None
        for r in stream_video(model, video, policy, codec, dev, "track", first_box=box):
            img = draw_pose(r.frame[:, :, ::-1], r.keypoints)[:, :, ::-1]
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
                {"index": r.index, "keypoints": kp, "confidence": r.confidence.round(4).tolist()}
            )
            if bar is not None:
                bar.update(1)
        if writer is not None:
            writer.release()
    if bar is not None:
        bar.close()
    js = stem.with_name(stem.name + "_keypoints.json")
    write_json_atomic(
        js,
        {"format": "lstm-probe-keypoints", "version": 1, "joints": list(SKELETON.names),
         "source": str(video_path), "checkpoint": str(checkpoint),
         "accel": accel_of(model).describe(), "frames": frames_out},
    )  # fmt: skip
    return [js, mp4]
