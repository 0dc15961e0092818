"""`lstm-probe bench probe` as a script: what the probe and the dump cost, and the dump's peak memory.

    python benchmarks/bench_probe.py [options of lstm-probe bench, e.g. --out RESULT.json]

The measuring code lives in :mod:`lstm_probe.bench`; docs/performance.md has one run's numbers.
"""

import sys

from lstm_probe.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "probe", *sys.argv[1:]]))
