"""`lstm-probe bench fast` as a script: the fast inference modes against plain fp32: speed and accuracy.

    python benchmarks/bench_fast_path.py [options of lstm-probe bench, e.g. --out RESULT.json]

The measuring code lives in :mod:`lstm_probe.bench`; docs/performance.md has one run's numbers.
"""

import sys

from lstm_probe.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "fast", *sys.argv[1:]]))
