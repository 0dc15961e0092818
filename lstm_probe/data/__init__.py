"""Videos and datasets: every loader gives :class:`Video` objects (lazy frames + annotations);
``open_source(spec)`` names them by one string (the forms are listed in
:mod:`lstm_probe.data.sources`); ``build_dataset`` makes a training config's clips."""

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
