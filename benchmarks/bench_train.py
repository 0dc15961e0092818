"""`lstm-probe bench train` as a script: training clips/s of the CPU configs and the data loader's share.

    python benchmarks/bench_train.py [options of lstm-probe bench, e.g. --out RESULT.json]

The measuring code lives in :mod:`lstm_probe.bench`; docs/performance.md has one run's numbers.
"""

import sys

from lstm_probe.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "train", *sys.argv[1:]]))
