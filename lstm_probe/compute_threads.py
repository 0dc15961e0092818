"""Torch's CPU compute threads, lent to other work for a moment.

Between two model steps on a CPU whose cores torch's compute threads fill, a dump writes its block
of frames. To spread that work over every core it must first have the cores: torch's idle OpenMP
workers spin for milliseconds after each parallel region before they sleep (libgomp's default spin
count), and a thread of one's own on their core gets half of it. :func:`lent_cores` runs a block
of work with torch on one thread and its idle workers released (OpenMP 5's
``omp_pause_resource_all``: libgomp's pool threads exit at once; LLVM's and Intel's runtimes put
theirs to sleep), and restores torch's thread count after; the next parallel region starts a
fresh pool, which costs a thread start, tens of microseconds.

The pause is called in the OpenMP runtime torch itself loaded (its own copy in torch's folder, or
the only one in the process); with none, an ambiguous one, or a runtime older than OpenMP 5,
:func:`can_release_workers` is False and callers keep their work on one thread.
"""

from __future__ import annotations

import ctypes
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import torch

OMP_PAUSE_SOFT = 1  # omp_pause_resource_t: omp_pause_soft
_OPENMP_LIBRARY = re.compile(r"lib(gomp|iomp5|omp)\b[^/]*\.(so[.\d]*|dylib)$")
_LENDING = threading.Lock()  # one lender at a time: torch's thread count is process-wide


def openmp_library() -> Path | None:
    """The OpenMP runtime library torch runs on, as loaded in this process: the one in torch's
    folder, else the only one loaded (Linux: read from /proc/self/maps; elsewhere: torch's
    folder only); None without OpenMP, or with several and none of them torch's."""
    if "OpenMP" not in torch.__config__.parallel_info():
        return None
    own = Path(torch.__file__).resolve().parent
    try:
        with open("/proc/self/maps") as f:
            fields = [line.split(None, 5) for line in f]
        loaded = {Path(f[5].strip()) for f in fields if len(f) == 6}  # a mapping's file
    except OSError:  # not Linux: torch's own copy, if it ships one
        loaded = set((own / "lib").glob("lib*omp*"))
    found = {p for p in loaded if _OPENMP_LIBRARY.search(p.name)}
    mine = [p for p in found if own in p.resolve().parents]
    if mine:
        return mine[0]
    return next(iter(found)) if len(found) == 1 else None


@cache
def _pause():
    """``omp_pause_resource_all`` of :func:`openmp_library`, or None."""
    path = openmp_library()
    if path is None:
        return None
    try:
        fn = ctypes.CDLL(str(path), mode=getattr(os, "RTLD_NOLOAD", 0)).omp_pause_resource_all
    except (AttributeError, OSError):
        return None
    fn.argtypes, fn.restype = [ctypes.c_int], ctypes.c_int
    return fn


def can_release_workers() -> bool:
    """Can :func:`lent_cores` release torch's idle OpenMP workers in this process?"""
    return _pause() is not None


def release_idle_workers() -> bool:
    """Let the calling thread's idle OpenMP workers go now instead of spinning -> done? (Not
    inside a parallel region, where the runtime refuses.)"""
    fn = _pause()
    return fn is not None and fn(OMP_PAUSE_SOFT) == 0


@contextmanager
def lent_cores() -> Iterator[bool]:
    """Inside: torch on one thread, its idle workers released, so threads of one's own have
    every core -> True; or, where they could not be released, torch as it was -> False. After:
    torch's thread count as it was. ``torch.set_num_threads`` is process-wide: a thread whose
    first torch call falls inside stays on one thread (as lanes should), and MKL runs on one
    thread meanwhile; one lender at a time."""
    with _LENDING:
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            released = release_idle_workers()
            if not released:
                torch.set_num_threads(before)
            yield released
        finally:
            torch.set_num_threads(before)
