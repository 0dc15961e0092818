"""`lstm-probe bench dashboard` as a script: dashboard server latency of frame and channel changes.

    python benchmarks/bench_dashboard.py [options of lstm-probe bench, e.g. --out RESULT.json]

The measuring code lives in :mod:`lstm_probe.bench`; docs/performance.md has one run's numbers.
"""

import sys

from lstm_probe.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "dashboard", *sys.argv[1:]]))
