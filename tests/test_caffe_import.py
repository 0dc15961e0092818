"""Caffe import: the layer map is the reference's (every layer name, its shapes and the parameter
it fills, from an independent table); our own weights written as a caffemodel with those names
(shared layers duplicated, Scale-layer biases) import back identically; tampered files are
refused."""

import numpy as np
import pytest
import torch

from lstm_probe.caffe_import import (
    caffe_messages,
    export_caffe,
    gate_bias_map,
    import_caffe,
    import_caffe_checkpoint,
    layer_map,
    read_caffemodel,
)
from lstm_probe.checkpoint import load_checkpoint
from lstm_probe.cli import main
from lstm_probe.models import build_model
from lstm_probe.utils import InputError

# The reference's layer names and blob shapes for the paper preset, written out from
# reference-implementation.md (§1.2-§1.5 for LSTM PM, §2.1 for CPM), with the parameter of ours
# each must land in. Caffe conv blobs are [out, in, kh, kw] + bias [out]; Scale layers hold
# [scale (48), bias (48)] and give the per-gate bias. "x_stage{2..6}" is x_stage2 ... x_stage6.
CONVNET1 = [
    ("conv1_stage1", "initial.encoder.trunk.0", (128, 3, 9, 9)),
    ("conv2_stage1", "initial.encoder.trunk.3", (128, 128, 9, 9)),
    ("conv3_stage1", "initial.encoder.trunk.6", (128, 128, 9, 9)),
    ("conv4_stage1", "initial.encoder.conv4", (32, 128, 5, 5)),
    ("conv5_stage1", "initial.conv5", (512, 32, 9, 9)),
    ("conv6_stage1", "initial.conv6", (512, 512, 1, 1)),
    ("conv7_stage1", "initial.conv7", (15, 512, 1, 1)),
]
GATE = (48, 48, 3, 3)
LSTM_PM_PAPER = [
    *CONVNET1,
    # ConvNet2: shared by all frames, one copy per unrolled stage of the training net
    ("conv1_stage{2..6}", "encoder.trunk.0", (128, 3, 9, 9)),
    ("conv2_stage{2..6}", "encoder.trunk.3", (128, 128, 9, 9)),
    ("conv3_stage{2..6}", "encoder.trunk.6", (128, 128, 9, 9)),
    ("conv4_stage{2..6}", "encoder.conv4", (32, 128, 5, 5)),
    # Conv-LSTM: x-convs shared by frame 1 (stage2) and later frames; f_x and h-convs from stage3
    ("g_x_stage{2..6}", "lstm.g_x", GATE),
    ("i_x_stage{2..6}", "lstm.i_x", GATE),
    ("o_x_stage{2..6}", "lstm.o_x", GATE),
    ("f_x_stage{3..6}", "lstm.f_x", GATE),
    ("g_h_stage{3..6}", "lstm.g_h", GATE),
    ("i_h_stage{3..6}", "lstm.i_h", GATE),
    ("f_h_stage{3..6}", "lstm.f_h", GATE),
    ("o_h_stage{3..6}", "lstm.o_h", GATE),
    ("g_stage{2..6}", "lstm.g_bias", (48,)),  # Scale layers
    ("i_stage{2..6}", "lstm.i_bias", (48,)),
    ("o_stage{2..6}", "lstm.o_bias", (48,)),
    ("f_stage{3..6}", "lstm.f_bias", (48,)),
    # ConvNet3: Mconv on frame 1, Mres on later frames
    ("Mconv1_stage2", "generator.0", (128, 48, 11, 11)),
    ("Mconv2_stage2", "generator.2", (128, 128, 11, 11)),
    ("Mconv3_stage2", "generator.4", (128, 128, 11, 11)),
    ("Mconv4_stage2", "generator.6", (128, 128, 1, 1)),
    ("Mconv5_stage2", "generator.8", (15, 128, 1, 1)),
    ("Mres1_stage{3..6}", "generator.0", (128, 48, 11, 11)),
    ("Mres2_stage{3..6}", "generator.2", (128, 128, 11, 11)),
    ("Mres3_stage{3..6}", "generator.4", (128, 128, 11, 11)),
    ("Mres4_stage{3..6}", "generator.6", (128, 128, 1, 1)),
    ("Mres5_stage{3..6}", "generator.8", (15, 128, 1, 1)),
]
CPM_PAPER = [
    *CONVNET1,
    ("conv1_stage2", "trunk.0", (128, 3, 9, 9)),
    ("conv2_stage2", "trunk.3", (128, 128, 9, 9)),
    ("conv3_stage2", "trunk.6", (128, 128, 9, 9)),
    ("conv4_stage2", "stage_features.0", (32, 128, 5, 5)),
    ("conv1_stage3", "stage_features.1", (32, 128, 5, 5)),  # on pool3_stage2, one per stage
    ("conv1_stage4", "stage_features.2", (32, 128, 5, 5)),
    ("conv1_stage5", "stage_features.3", (32, 128, 5, 5)),
    ("conv1_stage6", "stage_features.4", (32, 128, 5, 5)),
    *[
        (f"Mconv{k}_stage{s}", f"generators.{s - 2}.{i}", shape)
        for s in range(2, 7)
        for k, i, shape in (
            (1, 0, (128, 48, 11, 11)),
            (2, 2, (128, 128, 11, 11)),
            (3, 4, (128, 128, 11, 11)),
            (4, 6, (128, 128, 1, 1)),
            (5, 8, (15, 128, 1, 1)),
        )
    ],
]


def _expand(rows) -> dict[str, tuple[str, tuple]]:
    """Reference layer name -> (our parameter, its Caffe blob shape), in table order."""
    out = {}
    for pattern, ours, shape in rows:
        if "{" in pattern:
            head, rest = pattern.split("{")
            lo, hi = rest.rstrip("}").split("..")
            names = [f"{head}{s}" for s in range(int(lo), int(hi) + 1)]
        else:
            names = [pattern]
        for n in names:
            assert n not in out, n
            out[n] = (ours, shape)
    return out


@pytest.mark.parametrize("model_name, rows", [("lstm_pm", LSTM_PM_PAPER), ("cpm", CPM_PAPER)])
def test_layer_map_is_the_reference_layout(model_name, rows):
    reference = _expand(rows)
    with torch.device("meta"):  # shapes only, no memory
        model = build_model(model_name, "paper")
    maps = [layer_map(model_name, model.config.stages)]
    if model_name == "lstm_pm":
        maps.append(gate_bias_map())
    ours_of = {}
    for mapping in maps:
        for ours, names in mapping.items():
            for n in names:
                assert n not in ours_of, f"{n} mapped twice"
                ours_of[n] = ours
            # the first name is the reference's own (frame-1 / deploy) layer, the rest copies
            assert names[0] == next(n for n, (o, _) in reference.items() if o == ours), ours
    missing, extra = sorted(set(reference) - set(ours_of)), sorted(set(ours_of) - set(reference))
    assert not missing and not extra, f"missing {missing}, not in the reference {extra}"
    params, modules = dict(model.named_parameters()), dict(model.named_modules())
    for name, (ours, shape) in reference.items():
        assert ours_of[name] == ours, f"{name} goes to {ours_of[name]}, the reference says {ours}"
        if len(shape) == 1:  # Scale layer -> a per-gate bias parameter
            assert tuple(params[ours].shape) == shape, name
        else:
            conv = modules[ours]
            assert tuple(conv.weight.shape) == shape, name
            assert tuple(conv.bias.shape) == shape[:1], name
    assert len(reference) == {"lstm_pm": 106, "cpm": 40}[model_name]


@pytest.fixture
def lstm_file(tmp_path):
    torch.manual_seed(0)
    model = build_model("lstm_pm", "tiny").eval()
    with torch.no_grad():
        model.lstm.i_bias.uniform_(1, 2)  # distinct Scale biases
    return model, export_caffe(model, tmp_path / "LSTM_PENN.caffemodel")


def test_round_trip_identical_weights_and_outputs(lstm_file):
    model, path = lstm_file
    layers = read_caffemodel(path)
    assert {"g_x_stage2", "g_x_stage3", "Mres5_stage6", "conv1_stage4", "i_stage2"} <= set(layers)
    back, report = import_caffe(path, "lstm_pm", "tiny")
    for k, v in model.state_dict().items():
        assert torch.equal(v, back.state_dict()[k]), k
    x = torch.randn(1, 3, 3, 64, 64)
    with torch.no_grad():  # identical weights; two model instances may get other CPU kernels
        torch.testing.assert_close(model(x)["beliefs"], back(x)["beliefs"], rtol=1e-6, atol=1e-6)
    assert ("lstm.g_x", "g_x_stage2", 5) in report.mapped
    assert report.ignored == []


def test_cpm_round_trip(tmp_path):
    torch.manual_seed(1)
    cpm = build_model("cpm", "tiny").eval()
    path = export_caffe(cpm, tmp_path / "pose_iter.caffemodel")
    back, report = import_caffe(path, "cpm", "tiny")
    assert all(torch.equal(v, back.state_dict()[k]) for k, v in cpm.state_dict().items())
    assert ("stage_features.0", "conv4_stage2", 1) in report.mapped


def _rewrite(path, edit):
    net = caffe_messages()["NetParameter"]()
    net.ParseFromString(path.read_bytes())
    edit(net)
    path.write_bytes(net.SerializeToString())


def test_tampered_files_get_clear_errors(lstm_file, tmp_path):
    _, path = lstm_file

    def drop(net):
        keep = [
            layer
            for layer in net.layer
            if not layer.name.startswith("Mconv3_stage2") and not layer.name.startswith("Mres3_")
        ]
        del net.layer[:]
        net.layer.extend(keep)

    p = tmp_path / "missing.caffemodel"
    p.write_bytes(path.read_bytes())
    _rewrite(p, drop)
    with pytest.raises(InputError, match="missing layer 'Mconv3_stage2'"):
        import_caffe(p, "lstm_pm", "tiny")

    def differ(net):
        for layer in net.layer:
            if layer.name == "g_x_stage4":
                layer.blobs[0].data[0] += 1.0

    p = tmp_path / "differ.caffemodel"
    p.write_bytes(path.read_bytes())
    _rewrite(p, differ)
    with pytest.raises(InputError, match="copies differ: 'g_x_stage2' and 'g_x_stage4'"):
        import_caffe(p, "lstm_pm", "tiny")
    with pytest.raises(InputError, match="shapes"):
        import_caffe(path, "lstm_pm", "paper")  # a tiny file into the paper preset
    (tmp_path / "junk.caffemodel").write_bytes(b"\xff\xff\xff garbage")
    with pytest.raises(InputError, match="junk.caffemodel"):
        read_caffemodel(tmp_path / "junk.caffemodel")


def test_import_checkpoint_records_the_datasets_crop_recipe(lstm_file, tmp_path):
    from lstm_probe.engine.infer import test_policy

    model, path = lstm_file
    out = tmp_path / "jhmdb.pt"
    report = import_caffe_checkpoint(path, out, "lstm_pm", "tiny", dataset="jhmdb")
    assert len(report.mapped) == 28 and report.ignored == []
    loaded, payload = load_checkpoint(out)
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in model.state_dict().items())
    assert payload["model"]["preset"] == "tiny"
    meta = payload["meta"]
    assert meta["imported_from"] == str(path) and meta["mapped"] == 28 and meta["ignored"] == []
    # sub-JHMDB: raw-frame scales 1.2-1.8, rotation ±40°, flips half the time (§3, §4.1)
    policy = test_policy(loaded, payload)
    assert (policy.scale_mode, policy.scale_range) == ("raw", (1.2, 1.8))
    assert (policy.rotation, policy.flip_prob) == (40.0, 0.5)
    with pytest.raises(
        ValueError, match="no crop recipe for dataset 'mpii'; choose one of penn, jhmdb"
    ):
        import_caffe_checkpoint(path, tmp_path / "no.pt", "lstm_pm", "tiny", dataset="mpii")
    assert not (tmp_path / "no.pt").exists()


def test_cli_import_writes_a_checkpoint(lstm_file, tmp_path, capsys):
    model, path = lstm_file
    out = tmp_path / "imported.pt"
    assert main(["import-caffe", str(path), "--out", str(out), "--preset", "tiny"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("mapped 28 layers:\n  initial.encoder.trunk.0")
    assert printed.endswith(f"ignored 0 layers with weights: -\nwrote {out}\n")
    loaded, payload = load_checkpoint(out)
    assert payload["meta"]["imported_from"].endswith("LSTM_PENN.caffemodel")
    from lstm_probe.engine.infer import test_policy

    policy = test_policy(loaded, payload)
    assert policy.scale_mode == "raw" and policy.scale_range == (0.8, 1.4)
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in model.state_dict().items())
    assert main(["import-caffe", str(tmp_path / "nope.caffemodel"), "--out", str(out)]) == 2
    assert np.isfinite(loaded.lstm.f_bias.detach().numpy()).all()
