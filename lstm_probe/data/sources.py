"""Data sources by one string, as the command line takes them (``--data SOURCE``):

- ``synthetic[:SPLIT[:N[:FRAMES]]]`` — the built-in synthetic set (default split test, 8 videos)
- ``penn:ROOT[:SPLIT]`` — Penn Action at ROOT (split train, test or all; default test)
- ``jhmdb:ROOT:K[:SUBSET]`` — sub-JHMDB split K = 1, 2, 3 (subset train or test; default test)
- ``own:VIDEO:KEYPOINTS[:train|test|all][:FRACTION]`` — one's own footage with keypoints (e.g.
  teacher labels), train = the first FRACTION (0.7), test = the rest (:mod:`lstm_probe.data.own`)
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

from collections.abc import Sequence
from pathlib import Path

from ..utils import InputError
from . import stills
from .jhmdb import SubJHMDB
from .own import open_own
from .penn_action import PennAction
from .stills import ConcatVideos
from .synthetic import SyntheticVideos
from .video import Video, open_video


def open_source(
    spec: str, keypoints: str | None = None, accept_short: bool = False, **synthetic
) -> Sequence[Video]:
    """Videos named by a source string (see module doc); ``synthetic`` overrides its config."""
    kind, _, rest = spec.partition(":")
    # --- single-image sources, lists of sources and repeats (see data/stills.py) ---
    if kind == "repeat" and not Path(spec).exists():
        count, inner = stills.parse_repeat(spec)
        return stills.repeat_stills(open_source(inner, keypoints, **synthetic), count)
    listed = stills.split_sources(spec)
    if len(listed) > 1 and not Path(spec).exists():
        videos = [open_source(p, keypoints, **synthetic) for p in listed]
        return ConcatVideos(videos, [p.partition(":")[0] for p in listed])
    if kind in ("lsp", "lsp-extended", "mpii") and rest and not Path(spec).exists():
        return stills.open_single_image(kind, rest)
    # --- end of single-image sources ---
    if kind == "synthetic" and not Path(spec).exists():
        parts = rest.split(":") if rest else []
        cfg = dict(synthetic)
        cfg.setdefault("split", parts[0] if parts and parts[0] else "test")
        if len(parts) > 1:
            cfg["num_videos"] = int(parts[1])
        if len(parts) > 2:
            cfg["num_frames"] = int(parts[2])
        cfg.setdefault("num_videos", 8)
        return SyntheticVideos(**cfg)
    if kind == "penn" and rest:
        root, _, split = rest.rpartition(":") if rest.count(":") else (rest, "", "test")
        if split not in ("train", "test", "all"):
            root, split = rest, "test"
        return PennAction(root, split)
    if kind == "jhmdb" and rest:
        parts = rest.split(":")
        if len(parts) < 2 or parts[1] not in ("1", "2", "3"):
            raise InputError(None, "sub-JHMDB source is jhmdb:ROOT:K[:train|test], K in 1, 2, 3")
        return SubJHMDB(parts[0], int(parts[1]), parts[2] if len(parts) > 2 else "test")
    if kind == "own" and rest and not Path(spec).exists():
        return open_own(rest, accept_short)
    path = Path(spec)
    if not path.exists():
        raise InputError(
            spec,
            "no such file or folder (sources: synthetic, penn:ROOT, jhmdb:ROOT:K, lsp:ROOT, "
            "lsp-extended:ROOT, mpii:ROOT, own:VIDEO:KEYPOINTS, A+B, repeat:T:SPEC, a path)",
        )
    return [open_video(path, keypoints, accept_short)]


def select_videos(videos: Sequence[Video], spec: str | None) -> list[Video]:
    """The videos named by ``spec``: comma-separated video ids or indices (None: all)."""
    if not spec:
        return list(videos)
    by_id = {v.video_id: v for v in videos}
    out = []
    for s in (s.strip() for s in spec.split(",")):
        if not s:
            continue
        if s in by_id:
            out.append(by_id[s])
        elif s.isdigit() and int(s) < len(videos):
            out.append(videos[int(s)])
        else:
            raise InputError(None, f"--videos: no video {s!r} in this source")
    return out
