"""Small shared helpers: device choice, seeding, atomic file writes, clear user-facing errors."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import xxhash


class LstmProbeError(Exception):
    """An error the command line reports as one clear line, without a traceback."""


class InputError(LstmProbeError):
    """Bad input: names the file and the problem."""

    def __init__(self, path: str | os.PathLike | None, problem: str):
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


def pick_device(requested: str | None = None) -> torch.device:
    """'auto' (default) picks CUDA when present, else the CPU."""
    if requested in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(requested)
    except (RuntimeError, TypeError):
        raise LstmProbeError(
            f"--device {requested!r}: not a device (auto, cpu, cuda, cuda:N)"
        ) from None
    if dev.type not in ("cpu", "cuda"):
        raise LstmProbeError(f"--device {requested!r}: lstm-probe runs on cpu or cuda")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise LstmProbeError("--device cuda was asked for, but CUDA is not available here")
    return dev


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    A reader never sees a half-written file, and a crash leaves the previous file intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # the real extension stays last: writers that pick a format from it (OpenCV) still work
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # as open() would create it, not mkstemp's 0600
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    """The process umask, read without changing it where Linux tells it (threads may be creating
    files meanwhile); elsewhere set and restored at once."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json_atomic(path: str | os.PathLike, obj) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")


def file_blocks(path: str | os.PathLike, chunk: int = 1 << 20) -> Iterator[memoryview]:
    """A file's bytes, ``chunk`` at a time, read into one reused buffer (each view is valid
    until the next is yielded)."""
    buf = bytearray(chunk)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            yield view[:n]


def _hexdigest(path: str | os.PathLike, h) -> str:
    """The hex digest of a file's bytes by ``h`` (a hashlib-style object)."""
    for block in file_blocks(path):
        h.update(block)
    return h.hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    return _hexdigest(path, hashlib.sha256())


def crc32_file(path: str | os.PathLike) -> str:
    """The CRC-32 of a file, as 8 hex digits: a fingerprint that catches a damaged or replaced
    file, cheaper than SHA-256 (not a defence against deliberate forgery)."""
    crc = 0
    for block in file_blocks(path):
        crc = zlib.crc32(block, crc)
    return f"{crc:08x}"


def xxh3_file(path: str | os.PathLike) -> str:
    """The 64-bit XXH3 hash of a file, as 16 hex digits: a fingerprint that catches a damaged
    or replaced file (not a defence against deliberate forgery), faster than zlib's CRC-32
    (the hash itself several times; a whole file, read in 1 MiB blocks, less: reading costs
    the same)."""
    return _hexdigest(path, xxhash.xxh3_64())


def progress_bar(enabled: bool, iterable=None, **kwargs):
    """A tqdm bar that does nothing when ``enabled`` is false (same calls either way)."""
    from tqdm import tqdm

    return tqdm(iterable, disable=not enabled, **kwargs)
