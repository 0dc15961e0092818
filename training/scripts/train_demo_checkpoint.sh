#!/usr/bin/env bash
# Reproduces lstm_probe/assets/demo_lstm_pm_small.pt: LSTM PM (small) on the synthetic set,
# about 15 minutes on 2 CPU cores, then evaluated and stripped to its weights.
set -euo pipefail
cd "$(dirname "$0")/../.."
lstm-probe train synthetic_lstm_pm_small --out runs/synthetic_lstm_pm_small --resume
python training/export_checkpoint.py runs/synthetic_lstm_pm_small/checkpoint.pt \
  lstm_probe/assets/demo_lstm_pm_small.pt --eval synthetic:test:64:24
