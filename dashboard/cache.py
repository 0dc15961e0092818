"""A thread-safe least-recently-used cache with a byte budget, shared by every client.

The dashboard keeps decoded frames, memory maps and re-runs here: what 50 clients scrubbing
frames ask for again is served from memory, and the memory held stays under ``max_bytes`` (the
least recently used entries go first; an entry larger than the budget is returned, not kept).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

import numpy as np

DEFAULT_BUDGET = 256 * 2**20  # bytes: LSTM_PROBE_CACHE_MB overrides it (dashboard.catalog)


def nbytes(value) -> int:
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, (tuple, list)):
        return sum(nbytes(v) for v in value)
    return 64


class ByteLRU:
    def __init__(self, max_bytes: int = DEFAULT_BUDGET):
        self.max_bytes = int(max_bytes)
        self._items: OrderedDict[Hashable, tuple[object, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.bytes = 0
        self.hits = self.misses = 0

    def get(self, key: Hashable, make: Callable[[], object], size: Callable | None = None):
        """The cached value of ``key``, or ``make()`` (computed outside the lock) stored."""
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return item[0]
            self.misses += 1
        value = make()
        n = (size or nbytes)(value)
        with self._lock:
            if n > self.max_bytes or key in self._items:
                return value
            self._items[key] = (value, n)
            self.bytes += n
            while self.bytes > self.max_bytes:
                _, (_, old) = self._items.popitem(last=False)
                self.bytes -= old
        return value

    def __len__(self) -> int:
        return len(self._items)
