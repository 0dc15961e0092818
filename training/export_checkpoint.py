"""Strip a training checkpoint to what inference needs (weights, config, recipe, evaluation).

    python training/export_checkpoint.py runs/synthetic_lstm_pm_small/checkpoint.pt \
        lstm_probe/assets/demo_lstm_pm_small.pt --eval synthetic:test:64:24

The optimizer state and RNG are dropped (a few MB instead of three times that); the resolved
training config stays in ``meta.config`` so ``lstm-probe`` knows the crop policy; with --eval the
PCK summary is stored in ``meta.eval``.
"""

from __future__ import annotations

import argparse

from lstm_probe.checkpoint import save_checkpoint
from lstm_probe.data import open_source
from lstm_probe.engine.evaluate import collect, format_table, score
from lstm_probe.engine.infer import load_for_inference


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--eval", default=None, help="a data source to evaluate on before export")
    args = ap.parse_args()
    model, payload, policy, codec = load_for_inference(args.src, "cpu")
    meta = dict(payload.get("meta", {}))
    if args.eval:
        recs = collect(model, open_source(args.eval), policy, codec, "cpu", progress=True)
        result = score(recs)
        print(format_table(result, f"{model.name} on {args.eval}"))
        meta["eval"] = {"data": args.eval, "pck@0.2": result["pck@0.2"]["groups"],
                        "splits": result.get("splits", {})}  # fmt: skip
    save_checkpoint(args.dst, model, preset=payload["model"].get("preset"), meta=meta)
    print(f"wrote {args.dst}")


if __name__ == "__main__":
    main()
