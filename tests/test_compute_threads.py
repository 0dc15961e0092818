"""Torch's compute threads lent to a dump's lanes: one torch thread inside, the idle OpenMP workers
released, the thread count restored after."""

import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from lstm_probe import compute_threads


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


def _parallel_op() -> None:
    x = torch.randn(512, 512)
    for _ in range(4):
        x = (x @ x).tanh_()


def test_lent_cores_runs_torch_on_one_thread_and_restores_it():
    before = torch.get_num_threads()
    with ThreadPoolExecutor(1) as lane:
        with compute_threads.lent_cores() as lent:
            assert lent == compute_threads.can_release_workers()
            assert torch.get_num_threads() == (1 if lent else before)
            if lent:
                assert lane.submit(torch.get_num_threads).result() == 1  # its first torch call
        assert torch.get_num_threads() == before
        if lent:
            assert lane.submit(torch.get_num_threads).result() == 1  # a lane stays on one
    with pytest.raises(RuntimeError, match="a failed block"):
        with compute_threads.lent_cores():
            raise RuntimeError("a failed block")
    assert torch.get_num_threads() == before


def test_where_workers_cannot_be_released_torch_keeps_its_threads(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.setattr(compute_threads, "release_idle_workers", lambda: False)
    with compute_threads.lent_cores() as lent:
        assert not lent and torch.get_num_threads() == before
    assert torch.get_num_threads() == before


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc/self/maps (Linux)")
def test_the_openmp_library_found_is_the_one_torch_loaded():
    path = compute_threads.openmp_library()
    if "OpenMP" not in torch.__config__.parallel_info():
        assert path is None
        return
    assert path is not None and path.is_file() and "omp" in path.name
    with open("/proc/self/maps") as f:
        assert str(path) in f.read()


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads in /proc (Linux)")
@pytest.mark.skipif(torch.get_num_threads() < 2, reason="torch runs on one thread here")
@pytest.mark.skipif(not compute_threads.can_release_workers(), reason="no OpenMP pause here")
def test_released_workers_exit_and_come_back_on_the_next_parallel_region():
    _parallel_op()  # torch's OpenMP pool: its workers now spin, then sleep, waiting for work
    busy = _threads()
    assert compute_threads.release_idle_workers()
    deadline = time.monotonic() + 5
    while _threads() >= busy and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _threads() <= busy - (torch.get_num_threads() - 1)  # every worker has exited
    _parallel_op()
    assert _threads() == busy  # a fresh pool for the next parallel region
