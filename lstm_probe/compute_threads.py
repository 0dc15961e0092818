"""Torch's CPU compute threads, lent to other work for a moment.

Between two model steps on a CPU whose cores torch's compute threads fill, a dump writes its block
of frames. To spread that work over every core it must first have the cores: torch's idle OpenMP
workers spin for milliseconds after each parallel region before they sleep (libgomp's default spin
count), and a thread of one's own on their core gets half of it.
:func:`lent_cores` runs a block of work with torch on one thread in the calling thread and its
idle workers released (OpenMP 5's ``omp_pause_resource_all``: the pool's threads exit at once),
and restores torch's thread count after; the next parallel region starts a fresh pool, which
costs a thread start, tens of microseconds.

Where the OpenMP runtime torch uses offers no pause (one older than OpenMP 5, or none found),
:func:`can_release_workers` is False and the caller should keep its work on one thread.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import torch

OMP_PAUSE_SOFT = 1  # omp_pause_resource_t: omp_pause_soft


@cache
def _pause():
    """``omp_pause_resource_all`` of the OpenMP runtime loaded with torch, or None. torch loads
    its libraries into the global symbol scope, so the process's own lookup finds torch's
    runtime (libgomp in Linux wheels, libomp on macOS)."""
    try:
        fn = ctypes.CDLL(None).omp_pause_resource_all
    except (AttributeError, OSError, TypeError):
        return None
    fn.argtypes, fn.restype = [ctypes.c_int], ctypes.c_int
    return fn


def can_release_workers() -> bool:
    """Can :func:`lent_cores` release torch's idle OpenMP workers in this process?"""
    return _pause() is not None


def release_idle_workers() -> bool:
    """Let the calling thread's idle OpenMP workers exit now instead of spinning -> done? (Not
    inside a parallel region, where the runtime refuses.)"""
    fn = _pause()
    return fn is not None and fn(OMP_PAUSE_SOFT) == 0


@contextmanager
def lent_cores() -> Iterator[None]:
    """Inside: torch on one thread in this thread (and in any thread whose first torch operation
    runs inside), its idle workers released, so threads of one's own have every core; after:
    torch's thread count as it was."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        release_idle_workers()
        yield
    finally:
        torch.set_num_threads(before)
