"""Data sources by one string, as the command line takes them (``--data SOURCE``):

- ``synthetic[:SPLIT[:N[:FRAMES]]]`` — the built-in synthetic set (default split test, 8 videos)
- ``penn:ROOT[:SPLIT]`` — Penn Action at ROOT (split train, test or all; default test)
- ``jhmdb:ROOT:K[:SUBSET]`` — sub-JHMDB split K = 1, 2, 3 (subset train or test; default test)
- a video file or a folder of frames — one's own footage

Single images, for the single-image pre-training (one one-frame video per person;
:mod:`lstm_probe.data.stills`):

- ``lsp:ROOT[:SPLIT]`` — LSP, 2,000 images (split train = images 1–1000, test = 1001–2000, or
  all; default test)
- ``lsp-extended:ROOT`` — LSP-extended, 10,000 training images
- ``mpii:ROOT[:train]`` — MPII Human Pose, every annotated person of its training images
- ``SPEC+SPEC+…`` — several sources as one list (a "+" splits only before a source kind)
- ``repeat:T:SPEC`` — every one-frame video of SPEC shown T times, so clips of T frames can be
  cut from it (``run.pretrain_single_image``)
"""

from __future__ import annotations

from .build import build_codec_policy, build_dataset, build_videos
from .clips import ClipDataset, make_sample
from .jhmdb import SubJHMDB
from .lsp import LSP
from .mpii import MPII
from .penn_action import PennAction
from .sources import open_source, select_videos
from .stills import ConcatVideos, StillImage
from .synthetic import SyntheticConfig, SyntheticVideos
from .video import Annotations, Video, open_video

__all__ = [
    "LSP",
    "MPII",
    "Annotations",
    "ClipDataset",
    "ConcatVideos",
    "PennAction",
    "StillImage",
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
