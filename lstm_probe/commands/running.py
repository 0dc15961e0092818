"""Commands that run a model on videos: ``dump``, ``eval``, ``infer``, ``ablate``, ``label``."""

from __future__ import annotations

from ..argtypes import box, count, fraction, frame_range, int_list
from ..data import open_source, select_videos
from ..engine.ablate import ablate_checkpoint, format_result
from ..engine.dump import DumpOptions, dump_videos
from ..engine.evaluate import (
    EXCLUSIONS,
    PROTOCOLS,
    evaluate_checkpoint,
    format_table,
    write_result,
)
from ..engine.run_infer import infer_video
from ..engine.stream import CROP_MODES
from ..utils import write_json_atomic
from .common import DATA_HELP, SHORT_HELP, add_inference_options


def add_dump(sub) -> None:
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
    add_inference_options(p)
    p.set_defaults(func=cmd_dump)


def cmd_dump(args) -> int:
    source = open_source(args.data, keypoints=args.keypoints, accept_short=args.accept_short)
    videos = select_videos(source, args.videos)
    options = DumpOptions(
        args.frames, args.channels, args.gates, args.hidden, args.crop, args.accel
    )
    out = dump_videos(args.checkpoint, videos, args.out, options, args.device, not args.no_progress)
    print(f"dump written to {out}")
    return 0


def add_eval(sub) -> None:
    p = sub.add_parser("eval", help="PCK of a checkpoint on a dataset, as the paper's tables")
    p.add_argument("checkpoint")
    p.add_argument("--data", default="synthetic:test:64:24", help=DATA_HELP)
    p.add_argument("--alpha", type=fraction, default=0.2, help="PCK threshold α (default 0.2)")
    p.add_argument("--protocol", choices=PROTOCOLS, default=None,
                   help="paper: the authors' benchmark (7 scales summed, per-frame box crops, raw "
                        "visibility, zero-size boxes miss); quick: 1 scale, first-box crop scale. "
                        "Default: paper for the paper preset or a Penn/sub-JHMDB-trained "
                        "checkpoint, else quick")  # fmt: skip
    p.add_argument("--scales", type=count(16), default=None,
                   help="test scales over the training range (default: paper 7, quick 1)")  # fmt: skip
    p.add_argument("--exclude", action="append", choices=EXCLUSIONS, default=[],
                   help="paper protocol: leave out off_image joints or zero_box frames "
                        "(repeatable; the authors count both)")  # fmt: skip
    p.add_argument("--crop", default="gt", choices=["gt", "track"], help="crops at each frame's "
                   "labelled box (gt, the paper's protocol) or following the predictions")  # fmt: skip
    p.add_argument("--out", default=None, help="write RESULT.json and RESULT.csv with this stem")
    add_inference_options(p, default="plain")
    p.set_defaults(func=cmd_eval)


def cmd_eval(args) -> int:
    result = evaluate_checkpoint(args.checkpoint, args.data, args.alpha, args.scales, args.device,
                                 args.accel, not args.no_progress, args.protocol,
                                 args.exclude, args.crop)  # fmt: skip
    print(format_table(result, f"{result['model']} on {args.data}"))
    if args.out:
        print("wrote " + " and ".join(map(str, write_result(args.out, result))))
    return 0


def add_infer(sub) -> None:
    p = sub.add_parser("infer", help="streaming pose estimation on your own video")
    p.add_argument("checkpoint")
    p.add_argument("video", help="a video file, a folder of frames, or synthetic[:split[:N[:frames]]]"
                   " (its first video)")  # fmt: skip
    p.add_argument("--out", default=None, help="output stem (default: next to the video)")
    p.add_argument("--box", type=box, default=None, help="x1,y1,x2,y2 person box in frame 0")
    p.add_argument("--accept-short", action="store_true", help=SHORT_HELP)
    add_inference_options(p, compile=True)
    p.set_defaults(func=cmd_infer)


def cmd_infer(args) -> int:
    from ..viz.draw import draw_pose

    paths = infer_video(args.checkpoint, args.video, draw_pose, args.out, args.box, args.device,
                        not args.no_progress, args.accel, args.compile, args.accept_short)  # fmt: skip
    for p in paths:
        print(f"wrote {p}")
    return 0


def add_ablate(sub) -> None:
    p = sub.add_parser("ablate", help="ablate memory channels and measure what they cause")
    p.add_argument("checkpoint")
    p.add_argument("--data", default="synthetic:test:16:24", help=DATA_HELP)
    p.add_argument("--channels", type=int_list, help="comma-separated channels, ablated together")
    p.add_argument("--sweep", action="store_true", help="each channel alone: importance matrix")
    p.add_argument("--point", default="cell", help="probe point to intervene on (default C_t)")
    p.add_argument("--from-frame", type=int, default=0, help="ablate from this frame on")
    p.add_argument("--mode", default="zero", choices=["zero", "mean"])
    p.add_argument("--out", help="JSON result (a sweep next to a dump: DUMP/importance.json)")
    add_inference_options(p, default="plain")
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


def add_label(sub) -> None:
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
    from ..teacher import label_video

    s = label_video(args.video, args.out, args.teacher, args.frames, args.box,
                    not args.no_progress, args.accept_short)  # fmt: skip
    print(
        f"{s['teacher']}: a person in {s['with_person']} of {s['frames']} frames; wrote {s['out']}"
    )
    return 0
