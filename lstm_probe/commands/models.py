"""Model commands: ``info`` (parameters and FLOPs) and ``import-caffe``."""

from __future__ import annotations

from ..caffe_import import CAFFE_CROP_RECIPES, CAFFE_MODELS, import_caffe_checkpoint
from ..models import MODELS, PRESETS, model_table


def add_info(sub) -> None:
    p = sub.add_parser("info", help="parameters and per-frame FLOPs of a model")
    p.add_argument("--model", default="lstm_pm", choices=list(MODELS))
    p.add_argument("--preset", default="paper", choices=list(PRESETS))
    p.add_argument("--all", action="store_true", help="every model of the preset")
    p.set_defaults(func=cmd_info)


def cmd_info(args) -> int:
    print(model_table(args.preset, None if args.all else [args.model]))
    return 0


def add_import_caffe(sub) -> None:
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
