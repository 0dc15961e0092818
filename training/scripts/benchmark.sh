#!/usr/bin/env bash
# The synthetic benchmark of docs/results/: CPM, RPM, LSTM PM and the T-sweep (about 1.5 h on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/../.."
python training/benchmark.py "$@"
