"""The dumps the dashboard serves: opened once from the command line, named by their index.

Decoded frames, memory maps and the unchanged re-run of each video (for ablations) are kept in
one :class:`~dashboard.cache.ByteLRU` with a byte budget (``LSTM_PROBE_CACHE_MB``, default 256),
shared by every client.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import threading
import weakref
from functools import lru_cache
from pathlib import Path

import numpy as np

from lstm_probe.probe.analysis import ChannelReport, analyse_channels
from lstm_probe.probe.store import Dump, DumpVideo, open_dump
from lstm_probe.utils import InputError, LstmProbeError

from .cache import DEFAULT_BUDGET, ByteLRU

RERUN_THREADS = 1  # torch threads of a re-run: the server answers other requests meanwhile


def cache_budget() -> int:
    raw = os.environ.get("LSTM_PROBE_CACHE_MB")
    if raw is None:
        return DEFAULT_BUDGET
    if not raw.isdigit() or int(raw) < 1:
        raise InputError("LSTM_PROBE_CACHE_MB", f"must be a whole number of MiB ≥ 1, got {raw!r}")
    return int(raw) * 2**20


class CachedVideo:
    """A :class:`DumpVideo` whose frames and per-frame reads go through the shared cache."""

    def __init__(self, video: DumpVideo, cache: ByteLRU, key):
        self._v, self._cache, self._key = video, cache, key

    def __getattr__(self, name):
        return getattr(self._v, name)

    def frame_image(self, t: int) -> np.ndarray:
        return self._cache.get((self._key, "frame", int(t)), lambda: self._v.frame_image(t))

    def frame_phases(self, t: int, c: int) -> np.ndarray:
        return self._cache.get((self._key, "phases", int(t), int(c)),
                               lambda: self._v.frame_phases(t, c))  # fmt: skip


class DumpCatalog:
    """The dumps given on the command line; the ones that fail to open are kept as errors."""

    def __init__(self, paths: list[str | Path], cache_bytes: int | None = None):
        self.dumps: list[Dump] = []
        self.names: list[str] = []
        self.errors: list[str] = []
        for p in paths:
            try:
                self.dumps.append(open_dump(p))
                self.names.append(str(p))
            except LstmProbeError as e:
                self.errors.append(str(e))
        self.cache = ByteLRU(cache_budget() if cache_bytes is None else cache_bytes)
        self._analysis = lru_cache(maxsize=64)(self._analyse)
        self._labels: dict[int, object] = {}  # dump -> its dataset-level labels (or None)
        self._labels_lock = threading.Lock()  # computed once, however many requests ask at once
        # dump -> its atlas folder and the removal of it (run by close, when freed, or at exit)
        self._atlas: dict[int, tuple[Path, weakref.finalize]] = {}
        self._atlas_lock = threading.Lock()
        self._models: dict[int, object] = {}
        self._model_lock = threading.Lock()
        self._videos: dict[tuple[int, str], CachedVideo] = {}

    def importance(self, d: int) -> dict | None:
        """``DUMP/importance.json`` written by ``lstm-probe ablate --sweep``, if present."""
        path = self.dumps[d].path / "importance.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def model(self, d: int, device: str = "cpu"):
        """The model of dump ``d`` (loaded once, on the fast fp32 path), for re-runs; raises if
        its checkpoint changed."""
        with self._model_lock:
            if d not in self._models:
                from lstm_probe.engine.accel import resolve_accel
                from lstm_probe.engine.rerun import load_dump_model

                model = load_dump_model(self.dumps[d], device)
                resolve_accel("fp32", device).prepare(model)
                self._models[d] = model
            return self._models[d]

    def baseline(self, d: int, vid: str) -> dict:
        """The unchanged re-run of a video with its states (cached: ablations start from it)."""
        from lstm_probe.engine.rerun import run_nbytes, run_with_states

        model = self.model(d)
        return self.cache.get((d, vid, "baseline"),
                              lambda: run_with_states(model, self.video(d, vid)._v, threads=RERUN_THREADS),
                              run_nbytes)  # fmt: skip

    def video(self, d: int, vid: str) -> CachedVideo:
        key = (d, vid)
        if key not in self._videos:
            self._videos[key] = CachedVideo(self.dumps[d].video(vid), self.cache, key)
        return self._videos[key]

    def _analyse(self, d: int, vid: str) -> ChannelReport:
        """The channel labels the dashboard shows: the dataset-level ones of the whole dump
        (:func:`lstm_probe.probe.semantics.channel_semantics`, computed once per dump, the same
        for every video), else — a dump it cannot label — this video's own analysis."""
        sem = self.semantics(d)
        if sem is not None:
            return sem.as_report()
        return analyse_channels([self.dumps[d].video(vid)])

    def atlas_dir(self, d: int) -> Path:
        """The channel atlas of dump d (the pages of ``lstm-probe atlas``), built once into a
        private temporary folder the first time a page is asked for. The folders are removed by
        :meth:`close`, or when the catalog is freed or the process exits."""
        with self._atlas_lock:
            if d not in self._atlas:
                from lstm_probe.viz.atlas import build_atlas

                out = Path(tempfile.mkdtemp(prefix="lstm-probe-atlas-"))
                remove = weakref.finalize(self, shutil.rmtree, out, ignore_errors=True)
                try:
                    build_atlas(self.dumps[d], out, workers=1)
                except BaseException:
                    remove()
                    raise
                self._atlas[d] = out, remove
            return self._atlas[d][0]

    def close(self) -> None:
        """Remove the atlas folders built so far."""
        with self._atlas_lock:
            for _, remove in self._atlas.values():
                remove()
            self._atlas.clear()

    def semantics(self, d: int):
        """The dump's dataset-level channel labels (None when they cannot be computed)."""
        with self._labels_lock:
            if d not in self._labels:
                self._labels[d] = self._dump_semantics(d)
            return self._labels[d]

    def _dump_semantics(self, d: int):
        from lstm_probe.probe.semantics import channel_semantics

        try:  # in this process: the server's threads must not fork
            return channel_semantics(self.dumps[d], workers=1)
        except (LstmProbeError, ValueError) as e:
            print(f"lstm-probe dashboard: no dataset-level labels for {self.names[d]}: {e}",
                  file=sys.stderr)  # fmt: skip
            return None

    def analysis(self, d: int, vid: str) -> ChannelReport:
        return self._analysis(d, vid)
