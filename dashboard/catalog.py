"""The dumps the dashboard serves: opened once from the command line, named by their index."""

from __future__ import annotations

import json
import threading
from functools import lru_cache
from pathlib import Path

from lstm_probe.probe.analysis import ChannelReport, analyse_channels
from lstm_probe.probe.store import Dump, DumpVideo, open_dump
from lstm_probe.utils import LstmProbeError


class DumpCatalog:
    """The dumps given on the command line; the ones that fail to open are kept as errors."""

    def __init__(self, paths: list[str | Path]):
        self.dumps: list[Dump] = []
        self.names: list[str] = []
        self.errors: list[str] = []
        for p in paths:
            try:
                self.dumps.append(open_dump(p))
                self.names.append(str(p))
            except LstmProbeError as e:
                self.errors.append(str(e))
        self._analysis = lru_cache(maxsize=64)(self._analyse)
        self._models: dict[int, object] = {}
        self._model_lock = threading.Lock()

    def importance(self, d: int) -> dict | None:
        """``DUMP/importance.json`` written by ``lstm-probe ablate --sweep``, if present."""
        path = self.dumps[d].path / "importance.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def model(self, d: int, device: str = "cpu"):
        """The model of dump ``d`` (loaded once), for re-runs; raises if its checkpoint changed."""
        with self._model_lock:
            if d not in self._models:
                from lstm_probe.engine.rerun import load_dump_model

                self._models[d] = load_dump_model(self.dumps[d], device)
            return self._models[d]

    def video(self, d: int, vid: str) -> DumpVideo:
        return self.dumps[d].video(vid)

    def _analyse(self, d: int, vid: str) -> ChannelReport:
        return analyse_channels([self.video(d, vid)])

    def analysis(self, d: int, vid: str) -> ChannelReport:
        return self._analysis(d, vid)
