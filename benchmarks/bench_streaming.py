"""`lstm-probe bench streaming` as a script: LSTM PM against CPM per frame, GFLOP/s, fraction of a conv peak.

    python benchmarks/bench_streaming.py [options of lstm-probe bench, e.g. --out RESULT.json]

The measuring code lives in :mod:`lstm_probe.bench`; docs/performance.md has one run's numbers.
"""

import sys

from lstm_probe.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "streaming", *sys.argv[1:]]))
