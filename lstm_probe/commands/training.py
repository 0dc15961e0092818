"""``train``: a config, dotted overrides, a run folder."""

from __future__ import annotations

from ..config import load_config


def add_train(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a model from a config (a YAML file or a packaged config's name)",
        description="Train CPM, RPM or LSTM PM. Extra --section.key=value arguments override the "
        "config, e.g. --optim.steps=200. Run under torchrun for several processes (DDP).",
    )
    p.add_argument("config", nargs="?", help="YAML config (default: the built-in defaults)")
    p.add_argument("--out", default=None, help="run directory (default runs/<config name>)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--overwrite", action="store_true", help="start anew in a used run folder")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--max-steps", type=int, default=None, help="stop after N steps of this call")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_train, accepts_overrides=True)


def cmd_train(args) -> int:
    from pathlib import Path

    from ..engine.train import train

    cfg = load_config(args.config, args.overrides)
    out = args.out or str(Path("runs") / (Path(args.config).stem if args.config else "default"))
    s = train(cfg, out, args.resume, args.device, not args.no_progress, args.max_steps,
              args.overwrite)  # fmt: skip
    print(f"done: {s['steps']} steps, last loss {s['loss']:.4f}, {s['checkpoint']}")
    return 0
