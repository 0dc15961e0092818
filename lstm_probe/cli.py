"""The ``lstm-probe`` command line. Each subcommand parses its arguments and calls the package;
heavy modules (training, the dashboard) are imported only by the commands that need them.

Errors the user can fix (a missing file, a bad checkpoint) are printed as one line naming the
file and the problem, with exit status 2; no traceback.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from . import __version__
from .engine.accel import ACCEL_MODES
from .skeleton import SKELETON
from .utils import LstmProbeError


def _add_info(sub) -> None:
    p = sub.add_parser("info", help="parameters and per-frame FLOPs of a model")
    p.add_argument("--model", default="lstm_pm", choices=["lstm_pm", "rpm", "cpm"])
    p.add_argument("--preset", default="paper", help="paper, small or tiny")
    p.add_argument("--all", action="store_true", help="every model of the preset")
    p.set_defaults(func=cmd_info)


def cmd_info(args) -> int:
    from .models import MODELS, build_model, count_parameters, frame_flops

    names = list(MODELS) if args.all else [args.model]
    print(f"preset {args.preset}")
    print(f"{'model':<8} {'params':>12} {'GFLOPs frame 1':>15} {'GFLOPs frame t>1':>17}  grid")
    for name in names:
        model = build_model(name, args.preset)
        first, later = frame_flops(model, 2)
        print(
            f"{name:<8} {count_parameters(model):>12,} {first / 1e9:>15.2f} {later / 1e9:>17.2f}"
            f"  {model.grid_size}×{model.grid_size} from {model.config.input_size}"
        )
    return 0


def _add_train(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a model from a config (training/configs/*.yaml)",
        description="Train CPM, RPM or LSTM PM. Extra --section.key=value arguments override the "
        "config, e.g. --optim.steps=200. Run under torchrun for several processes (DDP).",
    )
    p.add_argument("config", nargs="?", help="YAML config (default: the built-in defaults)")
    p.add_argument("--out", default=None, help="run directory (default runs/<config name>)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--max-steps", type=int, default=None, help="stop after N steps of this call")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_train, accepts_overrides=True)


def cmd_train(args) -> int:
    from pathlib import Path

    from .config import load_config
    from .engine.train import train

    cfg = load_config(args.config, args.overrides)
    out = args.out or str(Path("runs") / (Path(args.config).stem if args.config else "default"))
    summary = train(
        cfg,
        out,
        resume=args.resume,
        device=args.device,
        progress=not args.no_progress,
        max_steps=args.max_steps,
    )
    print(
        f"done: {summary['steps']} steps, last loss {summary['loss']:.4f}, {summary['checkpoint']}"
    )
    return 0


def _add_dump(sub) -> None:
    p = sub.add_parser("dump", help="record the LSTM memory of videos into a dump directory")
    p.add_argument("checkpoint")
    p.add_argument(
        "--data",
        default="synthetic",
        help="synthetic[:split[:N[:frames]]], "
        "penn:ROOT[:split], jhmdb:ROOT:K[:subset], a video file or a frame folder",
    )
    p.add_argument("--out", required=True, help="dump directory (re-running resumes it)")
    p.add_argument("--videos", default=None, help="comma-separated video ids or indices")
    p.add_argument("--frames", default=None, help="START:STOP frame range")
    p.add_argument("--channels", default=None, help="comma-separated memory channels")
    p.add_argument("--keypoints", default=None, help="keypoint JSON for a video/frame folder")
    p.add_argument("--gates", action="store_true", help="also store the four gates")
    p.add_argument("--hidden", action="store_true", help="also store the hidden state")
    p.add_argument("--crop", default="auto", choices=["auto", "gt", "track"])
    _add_inference_options(p)
    p.set_defaults(func=cmd_dump)


def _add_inference_options(
    p, default: str = "auto", compile: bool = False, progress: bool = True
) -> None:
    """--device, --accel (--compile) and --no-progress: how a command runs a model."""
    p.add_argument("--device", default="auto")
    p.add_argument(
        "--accel",
        default=default,
        choices=ACCEL_MODES,
        help="inference mode: plain fp32 NCHW; fp32 fastest layout; bf16 autocast; auto = bf16 "
        f"where the device has native bf16, else fp32 (default {default})",
    )
    if compile:
        p.add_argument(
            "--compile", action="store_true", help="torch.compile the model (long videos)"
        )
    if progress:
        p.add_argument("--no-progress", action="store_true")


def _select(videos, spec):
    if not spec:
        return list(videos)
    ids = [s.strip() for s in spec.split(",") if s.strip()]
    by_id = {v.video_id: v for v in videos}
    out = []
    for s in ids:
        if s in by_id:
            out.append(by_id[s])
        elif s.isdigit() and int(s) < len(videos):
            out.append(videos[int(s)])
        else:
            raise LstmProbeError(f"--videos: no video {s!r} in this source")
    return out


def _int_list(spec):
    try:
        return None if not spec else [int(x) for x in spec.split(",")]
    except ValueError:
        raise LstmProbeError(f"expected comma-separated integers, got {spec!r}") from None


def _range(spec):
    if not spec:
        return (0, None)
    a, _, b = spec.partition(":")
    try:
        return (int(a or 0), int(b) if b else None)
    except ValueError:
        raise LstmProbeError(f"--frames expects START:STOP, got {spec!r}") from None


def cmd_dump(args) -> int:
    from .data import open_source
    from .probe.dump import dump_videos

    videos = _select(open_source(args.data, keypoints=args.keypoints), args.videos)
    out = dump_videos(
        args.checkpoint,
        videos,
        args.out,
        frames=_range(args.frames),
        channels=_int_list(args.channels),
        gates=args.gates,
        hidden=args.hidden,
        crop=args.crop,
        device=args.device,
        progress=not args.no_progress,
        accel=args.accel,
    )
    print(f"dump written to {out}")
    return 0


def _add_inspect(sub) -> None:
    p = sub.add_parser("inspect", help="summarise a dump and check the memory identities")
    p.add_argument("dump")
    p.set_defaults(func=cmd_inspect)


def cmd_inspect(args) -> int:
    from .probe.inspect import check_dump

    report = check_dump(args.dump)
    print(report["text"])
    if report["ok"]:
        return 0
    return 2 if report["invalid"] else 1  # 2: a video file was refused (bad input), as elsewhere


def _add_eval(sub) -> None:
    p = sub.add_parser("eval", help="PCK of a checkpoint on a dataset, as the paper's tables")
    p.add_argument("checkpoint")
    p.add_argument("--data", default="synthetic:test:64:24", help="a source (see dump --help)")
    p.add_argument("--alpha", type=float, default=0.2)
    p.add_argument("--scales", type=int, default=1, help="test scales (the paper uses 7)")
    p.add_argument("--out", default=None, help="write RESULT.json and RESULT.csv with this stem")
    _add_inference_options(p, default="plain")
    p.set_defaults(func=cmd_eval)


def cmd_eval(args) -> int:
    from .data import open_source
    from .engine.evaluate import collect, format_table, score
    from .engine.infer import load_for_inference

    model, _, policy, codec = load_for_inference(args.checkpoint, args.device, args.accel)
    dev = next(model.parameters()).device
    videos = open_source(args.data)
    records = collect(model, videos, policy, codec, dev, not args.no_progress, args.scales)
    if not records:
        raise LstmProbeError(f"{args.data}: no annotated video to evaluate")
    result = score(records, args.alpha)
    result.update(
        checkpoint=str(args.checkpoint),
        data=args.data,
        model=model.name,
        scales=args.scales,
        accel=model.accel.mode,
    )
    print(format_table(result, f"{model.name} on {args.data}"))
    if args.out:
        _write_eval(args.out, result)
    return 0


def _write_eval(stem, result) -> None:
    import csv
    from pathlib import Path

    from .utils import atomic_path, write_json_atomic

    stem = Path(stem)
    write_json_atomic(stem.with_suffix(".json"), result)
    key = f"pck@{result['alpha']:g}"
    with atomic_path(stem.with_suffix(".csv")) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["kind", "name", key, "pck@0.1"])
        for kind in ("groups", "joints"):
            for name, v in result[key][kind].items():
                w.writerow([kind, name, f"{v:.2f}", f"{result['pck@0.1'][kind][name]:.2f}"])
        for name, e in result.get("splits", {}).items():
            w.writerow(["split", name, f"{e[key]:.2f}", f"{e['pck@0.1']:.2f}"])
    print(f"wrote {stem.with_suffix('.json')} and {stem.with_suffix('.csv')}")


def _add_infer(sub) -> None:
    p = sub.add_parser("infer", help="streaming pose estimation on your own video")
    p.add_argument("checkpoint")
    p.add_argument("video", help="a video file or a folder of frames")
    p.add_argument("--out", default=None, help="output stem (default: next to the video)")
    p.add_argument("--box", default=None, help="x1,y1,x2,y2 person box in the first frame")
    _add_inference_options(p, compile=True)
    p.set_defaults(func=cmd_infer)


def cmd_infer(args) -> int:
    from .engine.run_infer import infer_video

    box = None
    if args.box:
        try:
            box = tuple(float(v) for v in args.box.split(","))
            assert len(box) == 4
        except (ValueError, AssertionError):
            raise LstmProbeError(f"--box expects x1,y1,x2,y2, got {args.box!r}") from None
    paths = infer_video(
        args.checkpoint, args.video, args.out, box, args.device, not args.no_progress,
        accel=args.accel, compile=args.compile,
    )  # fmt: skip
    for p in paths:
        print(f"wrote {p}")
    return 0


def _add_dashboard(sub) -> None:
    p = sub.add_parser("dashboard", help="browse dumps in the Dash app")
    p.add_argument("dumps", nargs="+", help="one or more dump directories")
    p.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1 (this machine only)")
    p.add_argument("--port", type=int, default=8050)
    p.set_defaults(func=cmd_dashboard)


def cmd_dashboard(args) -> int:
    from dashboard import create_app

    app = create_app(args.dumps)
    if not app.catalog.dumps:
        raise LstmProbeError("no dump could be opened: " + "; ".join(app.catalog.errors))
    print(f"lstm-probe dashboard: open http://{args.host}:{args.port}/ in a browser (Ctrl-C stops)")
    app.run(host=args.host, port=args.port, debug=False)
    return 0


def _add_figures(sub) -> None:
    p = sub.add_parser("figures", help="export Figures 4 and 5 from a dump as PNG or PDF")
    p.add_argument("dump")
    p.add_argument("--video", default=None, help="video id (default: the first)")
    p.add_argument("--frame", type=int, default=3, help="frame t (Figure 5 shows t-2..t)")
    p.add_argument("--channels", default=None, help="Figure 5 rows (default: top 3 by energy)")
    p.add_argument("--format", default="png", choices=["png", "pdf"])
    p.add_argument("--out", default="figures")
    p.set_defaults(func=cmd_figures)


def cmd_figures(args) -> int:
    from pathlib import Path

    from .probe.analysis import analyse_channels
    from .probe.store import open_dump
    from .viz import figures as F

    dump = open_dump(args.dump)
    if not dump.video_ids:
        raise LstmProbeError(f"{args.dump}: the dump has no finished video")
    vid = args.video or dump.video_ids[0]
    v = dump.video(vid)
    rep = analyse_channels([v])
    chans = _int_list(args.channels) or [int(c) for c in rep.order[:3]]
    if any(not 0 <= c < v.channels for c in chans):
        raise LstmProbeError(f"--channels must lie in 0..{v.channels - 1}")
    t = min(max(args.frame, 1), v.num_frames - 1)
    out = Path(args.out)
    stem = vid.replace("/", "_")
    f5 = out / f"figure5_{stem}_t{t}.{args.format}"
    f4 = out / f"figure4_{stem}_t{t}.{args.format}"
    F.save_image(F.figure5_montage(v, t, chans, labels=dict(enumerate(rep.labels))), f5)
    F.save_image(F.figure4_montage(v, t, rep)[0], f4)
    print(f"wrote {f5}\nwrote {f4}")
    return 0


def _add_demo(sub) -> None:
    p = sub.add_parser("demo", help="the whole flow on the built-in synthetic videos")
    p.add_argument("--out", default="demo_output")
    p.add_argument("--videos", type=int, default=6)
    p.add_argument("--frames", type=int, default=30)
    p.add_argument("--train", action="store_true", help="retrain the demo model from scratch")
    p.add_argument("--no-serve", action="store_true", help="stop after the dump (CI)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8050)
    _add_inference_options(p, progress=False)
    p.set_defaults(func=cmd_demo)


def cmd_demo(args) -> int:
    from .demo import run_demo

    return run_demo(args)


def _add_import_caffe(sub) -> None:
    p = sub.add_parser(
        "import-caffe",
        help="import the authors' released .caffemodel into a checkpoint (docs/caffe-import.md)",
    )
    p.add_argument("caffemodel")
    p.add_argument("--out", required=True, help="checkpoint to write")
    p.add_argument("--model", default="lstm_pm", choices=["lstm_pm", "cpm"])
    p.add_argument("--preset", default="paper")
    p.add_argument(
        "--dataset",
        default="penn",
        choices=["penn", "jhmdb"],
        help="record the reference's test crops for this dataset (raw scales 0.8–1.4 or 1.2–1.8)",
    )
    p.set_defaults(func=cmd_import_caffe)


def cmd_import_caffe(args) -> int:
    from .caffe_import import import_caffe
    from .checkpoint import save_checkpoint

    model, report = import_caffe(args.caffemodel, args.model, args.preset)
    print(report.text())
    scales = {"penn": [0.8, 1.4], "jhmdb": [1.2, 1.8]}[args.dataset]
    crop = {"scale_mode": "raw", "scale_range": scales, "rotation": 40.0, "flip_prob": 0.5}
    meta = {
        "imported_from": str(args.caffemodel),
        "mapped": len(report.mapped),
        "ignored": report.ignored,
        "config": {"data": {"crop": crop}},  # the crop policy `eval`, `dump` and `infer` use
    }
    save_checkpoint(args.out, model, preset=args.preset, meta=meta)
    print(f"wrote {args.out}")
    return 0


def _add_ablate(sub) -> None:
    p = sub.add_parser("ablate", help="ablate memory channels and measure what they cause")
    p.add_argument("checkpoint")
    p.add_argument("--data", default="synthetic:test:16:24", help="a source (see dump --help)")
    p.add_argument("--channels", default=None, help="comma-separated channels to ablate together")
    p.add_argument(
        "--sweep", action="store_true", help="ablate every channel alone: importance matrix"
    )
    p.add_argument("--point", default="cell", help="probe point to intervene on (default C_t)")
    p.add_argument("--from-frame", type=int, default=0, help="ablate from this frame on")
    p.add_argument("--mode", default="zero", choices=["zero", "mean"])
    p.add_argument(
        "--out", default=None, help="JSON result (a sweep next to a dump: DUMP/importance.json)"
    )
    _add_inference_options(p, default="plain")
    p.set_defaults(func=cmd_ablate)


def cmd_ablate(args) -> int:
    from .data import open_source
    from .engine.ablate import compare, format_comparison, run_videos, sweep_channels
    from .engine.infer import load_for_inference
    from .probe.recorder import Intervention, MemoryProbe, mean_of
    from .utils import write_json_atomic

    model, _, policy, codec = load_for_inference(args.checkpoint, args.device, args.accel)
    dev = next(model.parameters()).device
    if not model.has_memory:
        raise LstmProbeError(f"{args.checkpoint}: a {model.name!r} model has no memory to ablate")
    videos = list(open_source(args.data))
    if args.sweep:
        result = sweep_channels(model, videos, policy, codec, args.point, args.from_frame,
                                device=dev, progress=not args.no_progress)  # fmt: skip
        imp = np.asarray(result["importance"])
        top = np.argsort(-imp.mean(1))[:5]
        print("most important channels (mean PCK drop over joints):")
        for c in top:
            j = int(imp[c].argmax())
            print(
                f"  channel {c:>2}: mean drop {imp[c].mean():5.2f}, most on {SKELETON.names[j]} ({imp[c, j]:.1f})"
            )
    else:
        channels = _int_list(args.channels)
        if not channels:
            raise LstmProbeError("give --channels C[,C…] or --sweep")
        value = None
        if args.mode == "mean":  # the channels' mean over the same clips, unablated
            rec: dict = {}
            with MemoryProbe(model, [args.point], keep=False,
                             on_record=lambda n, t, x: rec.__setitem__(len(rec), x)):  # fmt: skip
                run_videos(model, videos, policy, codec, device=dev)
            value = mean_of(rec, channels)
        iv = Intervention(
            args.point, channels, args.mode, frames=(args.from_frame, None), value=value
        )
        base = run_videos(model, videos, policy, codec, device=dev)
        result = compare(base, run_videos(model, videos, policy, codec, [iv], dev))
        result.update(
            channels=channels, point=args.point, from_frame=args.from_frame, mode=args.mode
        )
        print(
            f"ablating {args.point} channels {channels} from frame {args.from_frame} ({args.mode}):"
        )
        print(format_comparison(result))
    result.update(checkpoint=str(args.checkpoint), data=args.data)
    if args.out:
        write_json_atomic(args.out, result)
        print(f"wrote {args.out}")
    return 0


BENCHMARKS = ("streaming", "fast", "probe", "train", "dashboard")


def _add_bench(sub) -> None:
    p = sub.add_parser(
        "bench",
        help="benchmarks of the hot paths (see docs/performance.md)",
        description="Measure side by side in one run and print the ratios: streaming (LSTM PM vs "
        "CPM, GFLOP/s, fraction of a conv peak), fast (inference modes: speed and accuracy), "
        "probe (probe and dump costs, peak memory), train (clips/s, data share), dashboard "
        "(server latency).",
    )
    p.add_argument("which", nargs="*", metavar="BENCH",
                   help=f"{', '.join(BENCHMARKS)} or all (default)")  # fmt: skip
    p.add_argument("--checkpoint", default=None, help="a trained LSTM PM (default: the demo's)")
    p.add_argument("--presets", nargs="+", default=["small", "paper"], help="streaming presets")
    p.add_argument("--accels", nargs="+", default=["plain", "fp32", "bf16"], choices=ACCEL_MODES)
    p.add_argument("--frames", type=int, default=None, help="frames per run (each bench's default)")
    p.add_argument("--compile", action="store_true", help="streaming: add compiled modes too")
    p.add_argument("--quick", action="store_true", help="tiny sizes: checks the benches run")
    p.add_argument("--out", default=None, help="write every result as JSON")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=cmd_bench)


def _bench_jobs(name: str, args, dev):
    """(result key, bench module, measuring call) for one benchmark; --quick shrinks each."""
    q = args.quick
    if name == "streaming":
        from .bench import streaming as b

        yield name, b, lambda: b.run(
            ["tiny"] if q else args.presets, args.accels, args.frames or (3 if q else 6), dev,
            32 if q else 184, args.compile, 1 if q else 3,
        )  # fmt: skip
    elif name == "fast":
        from .bench import fastpath as b

        sizes = (2, args.frames or 6, 1) if q else (16, args.frames or 48, 2)
        yield name, b, lambda: b.run(args.checkpoint, args.accels, *sizes, device=dev)
    elif name == "probe":
        from .bench import probe_cost as b

        yield name, b, lambda: b.run(args.checkpoint, "auto", args.frames or (20 if q else 600),
                                     1 if q else 3, (10, 40) if q else (250, 1000), dev)  # fmt: skip
        if not q:  # the paper preset too, where compute dwarfs the writing
            yield "probe_paper", b, lambda: b.run_untrained("paper", dev)
    elif name == "train":
        from .bench import training as b

        yield (
            name,
            b,
            lambda: b.run(["tiny_cpu"] if q else b.CONFIGS, 2 if q else 20, 1 if q else 3),
        )
    else:
        from .bench import dashboard as b

        yield name, b, lambda: b.run(args.checkpoint, *((10, 2) if q else (100, 40)))


def cmd_bench(args) -> int:
    from .utils import pick_device, write_json_atomic

    unknown = [w for w in args.which if w not in (*BENCHMARKS, "all")]
    if unknown:
        raise LstmProbeError(f"no benchmark {unknown}; choose from {', '.join(BENCHMARKS)}, all")
    which = (
        list(dict.fromkeys(args.which)) if args.which and "all" not in args.which else BENCHMARKS
    )
    dev = pick_device(args.device)
    if args.checkpoint is None:
        from .demo import packaged_checkpoint

        args.checkpoint = packaged_checkpoint()
    results = {}
    for name in which:
        for key, module, measure in _bench_jobs(name, args, dev):
            print(f"\n== bench {key} ==", flush=True)
            results[key] = measure()
            print(module.report(results[key]), flush=True)
    if args.out:
        write_json_atomic(args.out, results)
        print(f"\nresults written to {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lstm-probe",
        description="LSTM Pose Machines with probes on the video memory.",
    )
    parser.add_argument("--version", action="version", version=f"lstm-probe {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_info(sub)
    _add_train(sub)
    _add_dump(sub)
    _add_inspect(sub)
    _add_eval(sub)
    _add_infer(sub)
    _add_dashboard(sub)
    _add_figures(sub)
    _add_demo(sub)
    _add_import_caffe(sub)
    _add_ablate(sub)
    _add_bench(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "accepts_overrides", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    bad = [e for e in extra if not (e.startswith("--") and "=" in e and "." in e.split("=")[0])]
    if bad:
        parser.error(f"unrecognized arguments: {' '.join(bad)} (overrides are --section.key=value)")
    args.overrides = extra
    try:
        return int(args.func(args) or 0)
    except LstmProbeError as e:
        print(f"lstm-probe {args.command}: error: {e}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as e:  # a file system or value problem: one line, no traceback
        if os.environ.get("LSTM_PROBE_DEBUG"):
            raise
        print(f"lstm-probe {args.command}: error: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"lstm-probe {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
