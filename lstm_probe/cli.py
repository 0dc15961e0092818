"""The ``lstm-probe`` command line. Each subcommand parses its arguments, calls one function of the
package and prints; training, the dashboard and the figures are imported only by the commands
that need them.

Errors the user can fix (a missing file, a bad checkpoint) are printed as one line naming the
file and the problem, with exit status 2; no traceback.
"""

from __future__ import annotations

import argparse
import os
import sys

from . import __version__
from .argtypes import box, count, fraction, frame_range, int_list, port
from .bench import BenchOptions, add_bench_arguments, bench_description, run_benchmarks
from .caffe_import import CAFFE_CROP_RECIPES, CAFFE_MODELS, import_caffe_checkpoint
from .config import load_config
from .data import open_source, select_videos
from .engine.ablate import ablate_checkpoint, format_result
from .engine.accel import ACCEL_MODES
from .engine.dump import DumpOptions, dump_videos
from .engine.evaluate import evaluate_checkpoint, format_table, write_result
from .engine.run_infer import infer_video
from .engine.stream import CROP_MODES
from .models import MODELS, PRESETS, model_table
from .probe.inspect import check_dump
from .utils import LstmProbeError, write_json_atomic

SHORT_HELP = "accept a video file whose later frames do not decode (default: an error)"
DATA_HELP = (
    "synthetic[:split[:N[:frames]]], penn:ROOT[:split], jhmdb:ROOT:K[:subset], lsp:ROOT[:split], "
    "lsp-extended:ROOT, mpii:ROOT, A+B, repeat:T:SPEC, own:VIDEO:KEYPOINTS[:train|test], a video "
    "file or a frame folder"
)


def _add_info(sub) -> None:
    p = sub.add_parser("info", help="parameters and per-frame FLOPs of a model")
    p.add_argument("--model", default="lstm_pm", choices=list(MODELS))
    p.add_argument("--preset", default="paper", choices=list(PRESETS))
    p.add_argument("--all", action="store_true", help="every model of the preset")
    p.set_defaults(func=cmd_info)


def cmd_info(args) -> int:
    print(model_table(args.preset, None if args.all else [args.model]))
    return 0


def _add_train(sub) -> None:
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

    from .engine.train import train

    cfg = load_config(args.config, args.overrides)
    out = args.out or str(Path("runs") / (Path(args.config).stem if args.config else "default"))
    s = train(cfg, out, args.resume, args.device, not args.no_progress, args.max_steps,
              args.overwrite)  # fmt: skip
    print(f"done: {s['steps']} steps, last loss {s['loss']:.4f}, {s['checkpoint']}")
    return 0


def _add_dump(sub) -> None:
    p = sub.add_parser("dump", help="record the LSTM memory of videos into a dump directory")
    p.add_argument("checkpoint")
    p.add_argument("--data", default="synthetic", help=DATA_HELP)
    p.add_argument("--out", required=True, help="dump directory (re-running resumes it)")
    p.add_argument("--videos", default=None, help="comma-separated video ids or indices")
    p.add_argument("--frames", type=frame_range, default=(0, None), help="START:STOP frame range")
    p.add_argument("--channels", type=int_list, default=None, help="comma-separated channels")
    p.add_argument("--keypoints", default=None, help="keypoint JSON for a video/frame folder")
    p.add_argument("--gates", action="store_true", help="also store the four gates")
    p.add_argument("--hidden", action="store_true", help="also store the hidden state")
    p.add_argument("--crop", default="auto", choices=CROP_MODES)
    p.add_argument("--accept-short", action="store_true", help=SHORT_HELP)
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
        p.add_argument("--compile", action="store_true", help="torch.compile (long videos)")
    if progress:
        p.add_argument("--no-progress", action="store_true")


def cmd_dump(args) -> int:
    source = open_source(args.data, keypoints=args.keypoints, accept_short=args.accept_short)
    videos = select_videos(source, args.videos)
    options = DumpOptions(
        args.frames, args.channels, args.gates, args.hidden, args.crop, args.accel
    )
    out = dump_videos(args.checkpoint, videos, args.out, options, args.device, not args.no_progress)
    print(f"dump written to {out}")
    return 0


def _add_inspect(sub) -> None:
    p = sub.add_parser("inspect", help="summarise a dump and check the memory identities")
    p.add_argument("dump")
    p.set_defaults(func=cmd_inspect)


def cmd_inspect(args) -> int:
    report = check_dump(args.dump)
    print(report["text"])
    if report["ok"]:
        return 0
    return 2 if report["invalid"] else 1  # 2: a video file was refused (bad input), as elsewhere


def _add_eval(sub) -> None:
    p = sub.add_parser("eval", help="PCK of a checkpoint on a dataset, as the paper's tables")
    p.add_argument("checkpoint")
    p.add_argument("--data", default="synthetic:test:64:24", help=DATA_HELP)
    p.add_argument("--alpha", type=fraction, default=0.2, help="PCK threshold α (default 0.2)")
    p.add_argument("--scales", type=count(16), default=1, help="test scales (the paper uses 7)")
    p.add_argument("--crop", default="gt", choices=["gt", "track"], help="crops at each frame's "
                   "labelled box (gt, the paper's protocol) or following the predictions")  # fmt: skip
    p.add_argument("--out", default=None, help="write RESULT.json and RESULT.csv with this stem")
    _add_inference_options(p, default="plain")
    p.set_defaults(func=cmd_eval)


def cmd_eval(args) -> int:
    result = evaluate_checkpoint(args.checkpoint, args.data, args.alpha, args.scales, args.device,
                                 args.accel, not args.no_progress, args.crop)  # fmt: skip
    print(format_table(result, f"{result['model']} on {args.data}"))
    if args.out:
        print("wrote " + " and ".join(map(str, write_result(args.out, result))))
    return 0


def _add_infer(sub) -> None:
    p = sub.add_parser("infer", help="streaming pose estimation on your own video")
    p.add_argument("checkpoint")
    p.add_argument("video", help="a video file or a folder of frames")
    p.add_argument("--out", default=None, help="output stem (default: next to the video)")
    p.add_argument("--box", type=box, default=None, help="x1,y1,x2,y2 person box in frame 0")
    p.add_argument("--accept-short", action="store_true", help=SHORT_HELP)
    _add_inference_options(p, compile=True)
    p.set_defaults(func=cmd_infer)


def cmd_infer(args) -> int:
    from .viz.draw import draw_pose

    paths = infer_video(args.checkpoint, args.video, draw_pose, args.out, args.box, args.device,
                        not args.no_progress, args.accel, args.compile, args.accept_short)  # fmt: skip
    for p in paths:
        print(f"wrote {p}")
    return 0


def _add_label(sub) -> None:
    p = sub.add_parser("label", help="teacher keypoints for your own footage (MediaPipe Pose)",
                       description="Label a video or frame folder with a pose estimator as the "
                       "teacher, for fine-tuning (docs/real-footage.md). Needs the teacher extra: "
                       'pip install "lstm-probe[teacher]".')  # fmt: skip
    p.add_argument("video", help="a video file or a folder of frames")
    p.add_argument("--teacher", default="mediapipe", choices=["mediapipe"])
    p.add_argument("--out", required=True, help="keypoint JSON to write")
    p.add_argument("--box", type=box, default=None, help="x1,y1,x2,y2: the person, first frame")
    p.add_argument("--frames", type=frame_range, default=(0, None), help="START:STOP frame range")
    p.add_argument("--accept-short", action="store_true", help=SHORT_HELP)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_label)


def cmd_label(args) -> int:
    from .teacher import label_video

    s = label_video(args.video, args.out, args.teacher, args.frames, args.box,
                    not args.no_progress, args.accept_short)  # fmt: skip
    print(
        f"{s['teacher']}: a person in {s['with_person']} of {s['frames']} frames; wrote {s['out']}"
    )
    return 0


def _add_dashboard(sub) -> None:
    p = sub.add_parser("dashboard", help="browse dumps in the Dash app")
    p.add_argument("dumps", nargs="+", help="one or more dump directories")
    p.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1 (this machine only)")
    p.add_argument("--port", type=port, default=8050)
    p.add_argument("--allowed-host", action="append", metavar="NAME",
                   help="a Host name the server answers (repeatable; default: loopback names)")  # fmt: skip
    p.set_defaults(func=cmd_dashboard)


def cmd_dashboard(args) -> int:
    from dashboard import create_app

    app = create_app(args.dumps, allowed_hosts=args.allowed_host, bind_host=args.host)
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
    p.add_argument("--channels", type=int_list, help="Figure 5 rows (default: top 3 by energy)")
    p.add_argument("--format", default="png", choices=["png", "pdf"])
    p.add_argument("--out", default="figures")
    p.set_defaults(func=cmd_figures)


def cmd_figures(args) -> int:
    from .viz.export import export_figures

    paths = export_figures(args.dump, args.video, args.frame, args.channels, args.format, args.out)
    print("\n".join(f"wrote {p}" for p in paths))
    return 0


def _add_demo(sub) -> None:
    p = sub.add_parser("demo", help="the whole flow on the built-in synthetic videos")
    p.add_argument("--out", default="demo_output")
    p.add_argument("--videos", type=int, default=6)
    p.add_argument("--frames", type=int, default=30)
    p.add_argument("--train", action="store_true", help="retrain the demo model from scratch")
    p.add_argument("--no-serve", action="store_true", help="stop after the dump (CI)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=port, default=8050)
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
    p.add_argument("--model", default="lstm_pm", choices=CAFFE_MODELS)
    p.add_argument("--preset", default="paper", choices=list(PRESETS))
    p.add_argument("--dataset", default="penn", choices=list(CAFFE_CROP_RECIPES),
                   help="record the reference's test crops for this dataset")  # fmt: skip
    p.set_defaults(func=cmd_import_caffe)


def cmd_import_caffe(args) -> int:
    report = import_caffe_checkpoint(
        args.caffemodel, args.out, args.model, args.preset, args.dataset
    )
    print(f"{report.text()}\nwrote {args.out}")
    return 0


def _add_ablate(sub) -> None:
    p = sub.add_parser("ablate", help="ablate memory channels and measure what they cause")
    p.add_argument("checkpoint")
    p.add_argument("--data", default="synthetic:test:16:24", help=DATA_HELP)
    p.add_argument("--channels", type=int_list, help="comma-separated channels, ablated together")
    p.add_argument("--sweep", action="store_true", help="each channel alone: importance matrix")
    p.add_argument("--point", default="cell", help="probe point to intervene on (default C_t)")
    p.add_argument("--from-frame", type=int, default=0, help="ablate from this frame on")
    p.add_argument("--mode", default="zero", choices=["zero", "mean"])
    p.add_argument("--out", help="JSON result (a sweep next to a dump: DUMP/importance.json)")
    _add_inference_options(p, default="plain")
    p.set_defaults(func=cmd_ablate)


def cmd_ablate(args) -> int:
    result = ablate_checkpoint(
        args.checkpoint, args.data, args.channels, args.sweep, args.point,
        args.from_frame, args.mode, args.device, args.accel, not args.no_progress,
    )  # fmt: skip
    print(format_result(result))
    if args.out:
        write_json_atomic(args.out, result)
        print(f"wrote {args.out}")
    return 0


def _add_bench(sub) -> None:
    p = sub.add_parser("bench", help="benchmarks of the hot paths (see docs/performance.md)",
                       description=bench_description())  # fmt: skip
    add_bench_arguments(p)
    p.set_defaults(func=cmd_bench)


def cmd_bench(args) -> int:
    run_benchmarks(args.which, BenchOptions.from_args(args), args.out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lstm-probe", description="LSTM Pose Machines with probes on the video memory."
    )
    parser.add_argument("--version", action="version", version=f"lstm-probe {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    adders = (_add_info, _add_train, _add_dump, _add_inspect, _add_eval, _add_infer,
              _add_dashboard, _add_figures, _add_demo, _add_import_caffe, _add_ablate, _add_bench,
              _add_label)  # fmt: skip
    for add in adders:
        add(sub)
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


def run() -> None:
    """The console script: ``main``, then exit. After a write the file system refused inside
    HDF5 (see :class:`lstm_probe.probe.store.VideoDumpWriter`), HDF5's own exit handler would
    crash on the file it cannot close, so the process then ends without running exit handlers
    (streams flushed first)."""
    from .probe.store import unclosable_files

    code = main()
    if unclosable_files():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    run()
