"""Data from a training config's ``data`` section: the videos, the crop policy, the target codec
and the training clips. Training and its benchmark build their data here."""

from __future__ import annotations

from collections.abc import Sequence

from ..transforms.augment import CropPolicy
from ..transforms.heatmaps import HeatmapCodec
from .clips import ClipDataset
from .sources import open_source
from .synthetic import SyntheticVideos
from .video import Video


def build_codec_policy(cfg: dict, input_size: int) -> tuple[HeatmapCodec, CropPolicy]:
    """The heatmap codec (target sigma) and crop policy of ``cfg['data']`` for a model input."""
    d = cfg["data"]
    codec = HeatmapCodec(input_size, sigma=float(d["sigma"]))
    return codec, CropPolicy.from_config(d["crop"], input_size)


def build_videos(cfg: dict, **synthetic) -> Sequence[Video]:
    """The videos of ``cfg['data']['source']``; ``synthetic`` overrides the synthetic config."""
    d = cfg["data"]
    source = d["source"]
    if source.startswith("synthetic"):
        split = source.partition(":")[2] or "train"
        return SyntheticVideos(**{**d.get("synthetic", {}), "split": split, **synthetic})
    return open_source(source)


def build_dataset(cfg: dict, input_size: int, num_samples: int, seed: int) -> ClipDataset:
    """The training clips of ``cfg`` for a model input size: its videos, crops and targets."""
    codec, policy = build_codec_policy(cfg, input_size)
    clip_length = int(cfg["data"]["clip_length"])
    return ClipDataset(build_videos(cfg), clip_length, policy, codec, num_samples, seed=seed)
