"""``lstm-probe demo``: the embedded default, end to end, offline, on a CPU.

1. the small LSTM PM checkpoint shipped with the package (trained on the synthetic set by
   ``training/scripts/train_demo_checkpoint.sh``; ``--train`` retrains it here),
2. a handful of synthetic test videos, every one with an occluder and the left/right cue,
3. their memory dumped into ``OUT/dump`` (re-running resumes),
4. the dashboard on 127.0.0.1, unless ``--no-serve``.
"""

from __future__ import annotations

from pathlib import Path

from .checkpoint import packaged_checkpoint

__all__ = ["packaged_checkpoint", "run_demo"]


def run_demo(args) -> int:
    from .data import SyntheticVideos
    from .engine.dump import DumpOptions, dump_videos
    from .probe.inspect import check_dump

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.train:
        from .config import load_config
        from .engine.train import train

        cfg = load_config("synthetic_lstm_pm_small")  # shipped in the package
        print(f"[1/3] training LSTM PM (small) on the synthetic set into {out / 'train'} …")
        ckpt = Path(train(cfg, out / "train", resume=True, device=args.device)["checkpoint"])
    else:
        ckpt = packaged_checkpoint()
        print(f"[1/3] model: {ckpt} (retrain with --train)")
    videos = SyntheticVideos(
        split="test", num_videos=args.videos, num_frames=args.frames, occluder_prob=1.0
    )
    print(f"[2/3] dumping the memory of {len(videos)} synthetic videos × {args.frames} frames …")
    options = DumpOptions(accel=getattr(args, "accel", "auto"))
    dump = dump_videos(ckpt, list(videos), out / "dump", options, args.device)
    report = check_dump(dump)
    print(report["text"])
    if args.no_serve:
        print(f"[3/3] dashboard skipped (--no-serve); start it with: lstm-probe dashboard {dump}")
        return 0 if report["ok"] else 1
    from dashboard import create_app

    app = create_app([dump], bind_host=args.host)
    print(
        f"[3/3] dashboard ready: open http://{args.host}:{args.port}/ in a browser (Ctrl-C stops)"
    )
    app.run(host=args.host, port=args.port, debug=False)
    return 0
