"""Data sources by one string, as the command line takes them (``--data SOURCE``):

- ``synthetic[:SPLIT[:N[:FRAMES]]]`` — the built-in synthetic set (default split test, 8 videos)
- ``penn:ROOT[:SPLIT]`` — Penn Action at ROOT (split train, test or all; default test)
- ``jhmdb:ROOT:K[:SUBSET]`` — sub-JHMDB split K = 1, 2, 3 (subset train or test; default test)
- a video file or a folder of frames — one's own footage
"""

from __future__ import annotations

from .build import build_codec_policy, build_dataset, build_videos
from .clips import ClipDataset, make_sample
from .jhmdb import SubJHMDB
from .penn_action import PennAction
from .sources import open_source, select_videos
from .synthetic import SyntheticConfig, SyntheticVideos
from .video import Annotations, Video, open_video

__all__ = [
    "Annotations",
    "ClipDataset",
    "PennAction",
    "SubJHMDB",
    "SyntheticConfig",
    "SyntheticVideos",
    "Video",
    "build_codec_policy",
    "build_dataset",
    "build_videos",
    "make_sample",
    "open_source",
    "open_video",
    "select_videos",
]
