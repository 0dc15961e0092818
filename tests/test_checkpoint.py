import pickle

import pytest
import torch

from lstm_probe.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from lstm_probe.cli import main
from lstm_probe.models import build_model
from lstm_probe.utils import InputError


def test_round_trip_rebuilds_the_model_from_the_file(tmp_path):
    torch.manual_seed(0)
    model = build_model("lstm_pm", "tiny").eval()
    path = save_checkpoint(tmp_path / "m.pt", model, preset="tiny", meta={"step": 3})
    loaded, payload = load_checkpoint(path)
    assert payload["meta"] == {"step": 3} and payload["model"]["preset"] == "tiny"
    assert loaded.config == model.config and type(loaded) is type(model)
    x = torch.randn(1, 2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x)["beliefs"], model(x)["beliefs"], rtol=1e-6, atol=1e-6)


def test_mismatched_weights_are_refused_with_names(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", build_model("rpm", "tiny"))
    payload = torch.load(path, weights_only=True)
    payload["state_dict"]["generator.0.weight"] = torch.zeros(3, 3, 3, 3)
    del payload["state_dict"]["encoder.conv4.bias"]
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(InputError) as e:
        load_checkpoint(tmp_path / "bad.pt")
    msg = str(e.value)
    assert "bad.pt" in msg and "encoder.conv4.bias" in msg and "generator.0.weight" in msg


def test_wrong_model_kind_and_corrupt_files(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", build_model("cpm", "tiny"))
    with pytest.raises(InputError, match="expected 'lstm_pm'"):
        load_checkpoint(path, expect_model="lstm_pm")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(InputError, match="junk.pt"):
        read_checkpoint(tmp_path / "junk.pt")
    truncated = tmp_path / "trunc.pt"
    truncated.write_bytes(path.read_bytes()[:200])
    with pytest.raises(InputError, match="trunc.pt"):
        read_checkpoint(truncated)
    with pytest.raises(InputError, match="not found"):
        read_checkpoint(tmp_path / "missing.pt")


class _Evil:
    def __reduce__(self):
        return (print, ("pickled code ran",))


def test_pickled_code_is_never_executed(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    torch.save({"format": "lstm-probe-checkpoint", "payload": _Evil()}, path)
    with pytest.raises(InputError):
        read_checkpoint(path)
    assert "pickled code ran" not in capsys.readouterr().out
    with open(tmp_path / "plain.pkl", "wb") as f:
        pickle.dump(_Evil(), f)
    with pytest.raises(InputError):
        read_checkpoint(tmp_path / "plain.pkl")


def test_cli_info_prints_reference_figures(capsys):
    assert main(["info", "--preset", "paper", "--all"]) == 0
    out = capsys.readouterr().out
    assert "12,067,870" in out and "269.39" in out and "141.89" in out
    assert "31,219,866" in out and "350.88" in out
