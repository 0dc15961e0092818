"""Caffe import: our own weights written as a caffemodel with the reference layer names (shared
layers duplicated, Scale-layer biases) import back identically; tampered files are refused."""

import numpy as np
import pytest
import torch

from lstm_probe.caffe_import import caffe_messages, export_caffe, import_caffe, read_caffemodel
from lstm_probe.checkpoint import load_checkpoint
from lstm_probe.cli import main
from lstm_probe.models import build_model
from lstm_probe.utils import InputError


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


def test_cli_import_writes_a_checkpoint(lstm_file, tmp_path, capsys):
    model, path = lstm_file
    out = tmp_path / "imported.pt"
    assert main(["import-caffe", str(path), "--out", str(out), "--preset", "tiny"]) == 0
    assert "mapped" in capsys.readouterr().out
    loaded, payload = load_checkpoint(out)
    assert payload["meta"]["imported_from"].endswith("LSTM_PENN.caffemodel")
    from lstm_probe.engine.infer import test_policy

    policy = test_policy(loaded, payload)
    assert policy.scale_mode == "raw" and policy.scale_range == (0.8, 1.4)
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in model.state_dict().items())
    assert main(["import-caffe", str(tmp_path / "nope.caffemodel"), "--out", str(out)]) == 2
    assert np.isfinite(loaded.lstm.f_bias.detach().numpy()).all()
