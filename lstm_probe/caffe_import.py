"""Import the authors' released Caffe weights (LSTM PM, and CPM) into our paper preset.

No Caffe is needed: the ``.caffemodel`` is read with the ``protobuf`` library and this minimal
subset of ``caffe.proto`` (proto2; every other field is skipped by the parser)::

    message BlobShape { repeated int64 dim = 1 [packed = true]; }
    message BlobProto { optional int32 num = 1; optional int32 channels = 2; optional int32 height = 3;
                        optional int32 width = 4; repeated float data = 5 [packed = true];
                        optional BlobShape shape = 7; repeated double double_data = 8 [packed = true]; }
    message LayerParameter { optional string name = 1; optional string type = 2;
                             repeated BlobProto blobs = 7; }
    message V1LayerParameter { optional string name = 4; repeated BlobProto blobs = 6; }
    message NetParameter { optional string name = 1; repeated V1LayerParameter layers = 2;
                           repeated LayerParameter layer = 100; }

Layers are matched by the names of the reference prototxts (reference-implementation.md §1.6,
§2.1). A layer shared over frames may be serialised several times (frame-1 and later-frame copies,
or one copy per unrolled training stage): every copy present must be identical, else the import
stops and names them. The Scale layers' biases become the per-gate biases (their frozen scale
weights must be 1). Nothing needs converting: our input is BGR, normalised as (x − 128)/256, the
LSTM input is concatenated as [features, belief, centre] and the joint channels are in CPM order,
exactly as the reference nets.

:func:`import_caffe_checkpoint` writes the imported model as a checkpoint together with the
reference's crop recipe for the dataset it was trained on (:data:`CAFFE_CROP_RECIPES`).
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from .checkpoint import save_checkpoint
from .models import PoseMachine, build_model
from .utils import InputError

STAGES_LATER = (3, 4, 5, 6)  # the unrolled training net's later-frame stages

# The authors' crop recipe per dataset (reference-implementation.md §3 "Augmentation" and §4.1),
# recorded in an imported checkpoint as its ``data.crop`` config. ``eval``, ``dump`` and ``infer``
# crop with it: its test transform (the mid scale, no rotation, no flip), or with
# ``eval --scales N`` at N scales over its range.
# - scale_mode "raw": the scale factor applies to the raw frame, with no normalisation to the
#   person's size (transformation_PENN.m / transformation_JHMDB.m, and run_benchmark_GPU_*.m);
# - scale_range: Penn 0.8-1.4 (training draws, and the test's scale_search 0.8:0.1:1.4), sub-JHMDB
#   1.2-1.8 (training draws, and scale_search 1.2:0.1:1.8);
# - rotation ±40° and flip probability 0.5: the training augmentation of both datasets.
CAFFE_MODELS = ("lstm_pm", "cpm")  # the models whose Caffe layout layer_map knows

CAFFE_CROP_RECIPES: dict[str, dict] = {
    "penn": {"scale_mode": "raw", "scale_range": [0.8, 1.4], "rotation": 40.0, "flip_prob": 0.5},
    "jhmdb": {"scale_mode": "raw", "scale_range": [1.2, 1.8], "rotation": 40.0, "flip_prob": 0.5},
}


@lru_cache(maxsize=1)
def caffe_messages() -> dict:
    """The message classes of the minimal caffe.proto above."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    F = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(name="lstm_probe_caffe_min.proto", package="caffe")
    fdp.syntax = "proto2"

    def msg(name, fields):
        m = fdp.message_type.add(name=name)
        for fname, number, ftype, label, type_name, packed in fields:
            f = m.field.add(name=fname, number=number, type=ftype, label=label)
            if type_name:
                f.type_name = type_name
            if packed:
                f.options.packed = True

    OPT, REP = F.LABEL_OPTIONAL, F.LABEL_REPEATED
    msg("BlobShape", [("dim", 1, F.TYPE_INT64, REP, None, True)])
    msg(
        "BlobProto",
        [
            ("num", 1, F.TYPE_INT32, OPT, None, False),
            ("channels", 2, F.TYPE_INT32, OPT, None, False),
            ("height", 3, F.TYPE_INT32, OPT, None, False),
            ("width", 4, F.TYPE_INT32, OPT, None, False),
            ("data", 5, F.TYPE_FLOAT, REP, None, True),
            ("shape", 7, F.TYPE_MESSAGE, OPT, ".caffe.BlobShape", False),
            ("double_data", 8, F.TYPE_DOUBLE, REP, None, True),
        ],
    )
    msg(
        "LayerParameter",
        [
            ("name", 1, F.TYPE_STRING, OPT, None, False),
            ("type", 2, F.TYPE_STRING, OPT, None, False),
            ("blobs", 7, F.TYPE_MESSAGE, REP, ".caffe.BlobProto", False),
        ],
    )
    msg(
        "V1LayerParameter",
        [
            ("name", 4, F.TYPE_STRING, OPT, None, False),
            ("blobs", 6, F.TYPE_MESSAGE, REP, ".caffe.BlobProto", False),
        ],
    )
    msg(
        "NetParameter",
        [
            ("name", 1, F.TYPE_STRING, OPT, None, False),
            ("layers", 2, F.TYPE_MESSAGE, REP, ".caffe.V1LayerParameter", False),
            ("layer", 100, F.TYPE_MESSAGE, REP, ".caffe.LayerParameter", False),
        ],
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return {
        n: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"caffe.{n}"))
        for n in ("BlobShape", "BlobProto", "LayerParameter", "V1LayerParameter", "NetParameter")
    }


def blob_array(blob) -> np.ndarray:
    if blob.HasField("shape"):
        shape = tuple(blob.shape.dim)
    else:  # legacy 4-D num/channels/height/width
        shape = tuple(d for d in (blob.num, blob.channels, blob.height, blob.width))
    data = np.asarray(blob.data if len(blob.data) else blob.double_data, dtype=np.float32)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"blob holds {data.size} values for shape {shape}")
    return data.reshape(shape)


def read_caffemodel(path: str | os.PathLike) -> dict[str, list[np.ndarray]]:
    """Layer name -> its blobs (only layers that have any)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "caffemodel not found")
    net = caffe_messages()["NetParameter"]()
    try:
        net.ParseFromString(path.read_bytes())
    except Exception as e:  # DecodeError and friends
        raise InputError(path, f"not a Caffe NetParameter protobuf ({e})") from None
    layers: dict[str, list[np.ndarray]] = {}
    for layer in [*net.layer, *net.layers]:
        if len(layer.blobs):
            try:
                layers[layer.name] = [blob_array(b) for b in layer.blobs]
            except ValueError as e:
                raise InputError(path, f"layer {layer.name!r}: {e}") from None
    if not layers:
        raise InputError(path, "no layer with weights in this file")
    return layers


def _trunk(prefix: str, stage: int, also=()) -> dict[str, list[str]]:
    # ImageTrunk is Sequential(conv, pool, ReLU) × 3: conv indices 0, 3, 6
    return {
        f"{prefix}.{idx}": [f"conv{i}_stage{s}" for s in (stage, *also)]
        for i, idx in ((1, 0), (2, 3), (3, 6))
    }


def _generator(prefix: str, names: list[str]) -> dict[str, list[str]]:
    # BeliefGenerator is Sequential(conv, ReLU) × 4 + conv: conv indices 0, 2, 4, 6, 8
    return {
        f"{prefix}.{idx}": [n.format(k) for n in names]
        for k, idx in zip(range(1, 6), (0, 2, 4, 6, 8))
    }


def layer_map(model_name: str, stages: int = 6) -> dict[str, list[str]]:
    """Our conv module name -> Caffe layer names holding it (canonical first, then copies)."""
    m = _trunk("initial.encoder.trunk", 1)
    m["initial.encoder.conv4"] = ["conv4_stage1"]
    m.update({f"initial.conv{k}": [f"conv{k}_stage1"] for k in (5, 6, 7)})
    if model_name == "lstm_pm":
        m.update(_trunk("encoder.trunk", 2, STAGES_LATER))
        m["encoder.conv4"] = [f"conv4_stage{s}" for s in (2, *STAGES_LATER)]
        for g in "gio":  # x-convs shared between the first frame (stage2) and later frames
            m[f"lstm.{g}_x"] = [f"{g}_x_stage{s}" for s in (2, *STAGES_LATER)]
        m["lstm.f_x"] = [f"f_x_stage{s}" for s in STAGES_LATER]
        for g in "gifo":
            m[f"lstm.{g}_h"] = [f"{g}_h_stage{s}" for s in STAGES_LATER]
        m.update(
            _generator(
                "generator", ["Mconv{}_stage2", *[f"Mres{{}}_stage{s}" for s in STAGES_LATER]]
            )
        )
    elif model_name == "cpm":
        m.update(_trunk("trunk", 2))
        m["stage_features.0"] = ["conv4_stage2"]
        for k in range(1, stages - 1):
            m[f"stage_features.{k}"] = [f"conv1_stage{k + 2}"]
        for k in range(stages - 1):
            m.update(_generator(f"generators.{k}", [f"Mconv{{}}_stage{k + 2}"]))
    else:
        raise ValueError(f"no Caffe layout for model {model_name!r} ({', '.join(CAFFE_MODELS)})")
    return m


def gate_bias_map() -> dict[str, list[str]]:
    """LSTM PM's per-gate biases <- the Scale layers (blob 1; blob 0 is the frozen scale = 1)."""
    return {
        **{f"lstm.{g}_bias": [f"{g}_stage{s}" for s in (2, *STAGES_LATER)] for g in "gio"},
        "lstm.f_bias": [f"f_stage{s}" for s in STAGES_LATER],
    }


@dataclass
class ImportReport:
    mapped: list[tuple[str, str, int]] = field(default_factory=list)  # ours, caffe, copies
    ignored: list[str] = field(default_factory=list)

    def text(self) -> str:
        lines = [f"mapped {len(self.mapped)} layers:"]
        lines += [
            f"  {ours:<28} <- {caffe} ({n} cop{'y' if n == 1 else 'ies'})"
            for ours, caffe, n in self.mapped
        ]
        lines.append(
            f"ignored {len(self.ignored)} layers with weights: {', '.join(self.ignored) or '-'}"
        )
        return "\n".join(lines)


def _pick(layers, names, path, what) -> tuple[list[np.ndarray], str, int]:
    present = [n for n in names if n in layers]
    if not present:
        raise InputError(path, f"missing layer {names[0]!r} (for {what})")
    first = layers[present[0]]
    for other in present[1:]:
        b = layers[other]
        if len(b) != len(first) or any(
            x.shape != y.shape or not np.array_equal(x, y) for x, y in zip(first, b)
        ):
            raise InputError(
                path, f"shared layer copies differ: {present[0]!r} and {other!r} (for {what})"
            )
    return first, present[0], len(present)


def import_caffe(
    path: str | os.PathLike, model_name: str = "lstm_pm", preset: str = "paper"
) -> tuple[PoseMachine, ImportReport]:
    """Read a .caffemodel -> (our model with its weights, report). Refuses any shape mismatch."""
    layers = read_caffemodel(path)
    model = build_model(model_name, preset)
    modules = dict(model.named_modules())
    report = ImportReport()
    used: set[str] = set()
    state = model.state_dict()
    mapping = layer_map(model_name, model.config.stages)
    for ours, names in mapping.items():
        blobs, caffe_name, copies = _pick(layers, names, path, ours)
        used.update(n for n in names if n in layers)
        conv = modules[ours]
        if len(blobs) != 2:
            raise InputError(
                path, f"layer {caffe_name!r} has {len(blobs)} blobs, expected weight and bias"
            )
        w, b = blobs
        if w.shape != tuple(conv.weight.shape) or b.reshape(-1).shape != tuple(conv.bias.shape):
            raise InputError(
                path,
                f"layer {caffe_name!r} has shapes {w.shape} / {b.shape}, our {ours} needs "
                f"{tuple(conv.weight.shape)} / {tuple(conv.bias.shape)} (preset {preset!r})",
            )
        state[f"{ours}.weight"] = torch.from_numpy(w.copy())
        state[f"{ours}.bias"] = torch.from_numpy(b.reshape(-1).copy())
        report.mapped.append((ours, caffe_name, copies))
    if model_name == "lstm_pm":
        for ours, names in gate_bias_map().items():
            blobs, caffe_name, copies = _pick(layers, names, path, ours)
            used.update(n for n in names if n in layers)
            if len(blobs) != 2:
                raise InputError(path, f"Scale layer {caffe_name!r} needs a scale and a bias blob")
            scale, bias = (x.reshape(-1) for x in blobs)
            if bias.shape != tuple(state[ours].shape):
                raise InputError(
                    path,
                    f"Scale layer {caffe_name!r} bias has shape {bias.shape}, need {tuple(state[ours].shape)}",
                )
            if not np.allclose(scale, 1.0):
                raise InputError(
                    path,
                    f"Scale layer {caffe_name!r} has a scale other than 1 (it is frozen at 1 in the reference)",
                )
            state[ours] = torch.from_numpy(bias.copy())
            report.mapped.append((ours, caffe_name, copies))
    report.ignored = sorted(set(layers) - used)
    model.load_state_dict(state)
    return model.eval(), report


def import_caffe_checkpoint(
    caffemodel: str | os.PathLike,
    out: str | os.PathLike,
    model: str = "lstm_pm",
    preset: str = "paper",
    dataset: str = "penn",
) -> ImportReport:
    """Import a .caffemodel (see :func:`import_caffe`) and write it as a checkpoint at ``out``,
    with the dataset's crop recipe (:data:`CAFFE_CROP_RECIPES`) and where the weights came from
    in its meta. Returns the import report."""
    if dataset not in CAFFE_CROP_RECIPES:
        raise ValueError(
            f"no crop recipe for dataset {dataset!r}; choose one of {', '.join(CAFFE_CROP_RECIPES)}"
        )
    net, report = import_caffe(caffemodel, model, preset)
    meta = {
        "imported_from": str(caffemodel),
        "mapped": len(report.mapped),
        "ignored": report.ignored,
        "trained_on": {"kinds": ["caffe"], "dataset": dataset, "source": str(caffemodel)},
        # the crop policy `eval`, `dump` and `infer` use
        "config": {"data": {"crop": copy.deepcopy(CAFFE_CROP_RECIPES[dataset])}},
    }
    save_checkpoint(out, net, preset=preset, meta=meta)
    return report


def export_caffe(model: PoseMachine, path: str | os.PathLike, copies: bool = True) -> Path:
    """Write a model's weights as a .caffemodel with the reference layer names — with every
    duplicated copy of shared layers (``copies``) and the Scale layers. For tests and round trips."""
    M = caffe_messages()
    net = M["NetParameter"](name=f"lstm_probe_{model.name}")
    sd = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}

    def add(name, ltype, arrays):
        layer = net.layer.add(name=name, type=ltype)
        for a in arrays:
            blob = layer.blobs.add()
            blob.shape.dim.extend(a.shape)
            blob.data.extend(a.astype(np.float32).ravel().tolist())

    for ours, names in layer_map(model.name, model.config.stages).items():
        for n in names if copies else names[:1]:
            add(n, "Convolution", [sd[f"{ours}.weight"], sd[f"{ours}.bias"]])
    if model.name == "lstm_pm":
        for ours, names in gate_bias_map().items():
            for n in names if copies else names[:1]:
                add(n, "Scale", [np.ones_like(sd[ours]), sd[ours]])
    path = Path(path)
    path.write_bytes(net.SerializeToString())
    return path
