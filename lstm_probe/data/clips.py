"""Training/evaluation samples: T consecutive frames of a video, cropped by one clip transform.

Targets follow the policy's training-target rules (``outside_crop``, ``out_of_box``; see
:mod:`lstm_probe.transforms.augment`).

``ClipDataset[i]`` is a pure function of (seed, i): which video, which start frame and which
transform are drawn from ``np.random.default_rng([seed, i])``, so a resumed or distributed run
sees exactly the same clips, whatever the number of loader workers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ..transforms.augment import ClipTransform, CropPolicy, crop_boxes, crop_clip, out_of_box
from ..transforms.geometric import to_network_input
from ..transforms.heatmaps import HeatmapCodec
from .video import Video


def make_sample(
    video: Video,
    start: int,
    length: int,
    policy: CropPolicy,
    transform: ClipTransform,
    codec: HeatmapCodec,
) -> dict:
    ann = video.annotations
    stop = start + length
    frames = [video.frame(t) for t in range(start, stop)]
    if ann.bbox is not None:
        boxes = ann.bbox[start:stop]
    else:  # no person box: the whole frame
        h, w = frames[0].shape[:2]
        boxes = np.tile([0.0, 0.0, w - 1.0, h - 1.0], (length, 1))
    affines = policy.frame_to_crop(boxes, transform)
    kp = None if ann.keypoints is None else ann.keypoints[start:stop]
    vis = None if ann.visibility is None else ann.visibility[start:stop]
    keep = policy.outside_crop == "keep"
    c = crop_clip(frames, kp, vis, affines, transform.flip, policy.input_size, codec.stride,
                  mark_outside=not keep)  # fmt: skip
    if kp is not None and policy.out_of_box != "off":
        c["visibility"] = out_of_box(
            c["keypoints"], c["visibility"],
            crop_boxes(boxes, affines), policy.out_of_box,
        )  # fmt: skip
    sample = {
        "image": to_network_input(c["crops"]),  # (T, 3, S, S)
        "grid_to_frame": torch.from_numpy(c["grid_to_frame"]),
        "frame_index": torch.arange(start, stop),
    }
    if kp is not None:
        labelled = c["visibility"] >= 0
        sample["target"] = torch.from_numpy(codec.encode_clip(c["keypoints"], labelled))
        sample["keypoints_crop"] = torch.from_numpy(c["keypoints"])
        sample["visibility"] = torch.from_numpy(c["visibility"])
    return sample


class ClipDataset(Dataset):
    def __init__(
        self,
        videos: Sequence[Video],
        clip_length: int,
        policy: CropPolicy,
        codec: HeatmapCodec,
        num_samples: int | None = None,
        seed: int = 0,
        augment: bool = True,
    ):
        self.videos, self.clip_length = videos, clip_length
        self.policy, self.codec = policy, codec
        self.num_samples = num_samples if num_samples is not None else len(videos)
        self.seed, self.augment = seed, augment

    def __len__(self) -> int:
        return self.num_samples

    def __getitem__(self, i: int) -> dict:
        rng = np.random.default_rng([self.seed, i])
        video = self.videos[int(rng.integers(len(self.videos)))]
        n = video.num_frames
        if n < self.clip_length:
            raise ValueError(
                f"{video.video_id}: {n} frames, shorter than clips of {self.clip_length}"
            )
        start = int(rng.integers(0, n - self.clip_length + 1))
        t = self.policy.sample(rng) if self.augment else self.policy.test_transform()
        return make_sample(video, start, self.clip_length, self.policy, t, self.codec)
