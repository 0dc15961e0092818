import pytest
import torch

from lstm_probe.models import MEMORY_PHASES, build_model
from lstm_probe.probe.recorder import Intervention, MemoryProbe, ProbeError, mean_of


@pytest.fixture
def setup():
    torch.manual_seed(0)
    model = build_model("lstm_pm", "tiny").eval()
    frames = torch.randn(2, 6, 3, 64, 64)
    with torch.no_grad(), MemoryProbe(model, [*MEMORY_PHASES, "belief"]) as base:
        model(frames)
    return model, frames, base


def _hooks(model):
    return sum(len(m._forward_hooks) for m in model.modules())


def test_ablated_channel_is_zero_and_only_downstream_changes(setup):
    model, frames, base = setup
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    iv = Intervention("cell", [3], "zero", frames=(2, None))
    with torch.no_grad(), MemoryProbe(model, [*MEMORY_PHASES, "belief"], interventions=[iv]) as p:
        model(frames)
    for t in range(2, 6):
        assert torch.all(p.records["cell"][t][:, 3] == 0)  # reads exactly zero at the point
    assert p.changed["cell"] == [2, 3, 4, 5]
    for t in (0, 1):  # before the intervention: nothing changes
        assert torch.equal(p.records["belief"][t], base.records["belief"][t])
    # upstream of C_t at the first ablated frame: the input and forget terms are untouched
    assert torch.equal(p.records["input_term"][2], base.records["input_term"][2])
    assert torch.equal(p.records["forget_term"][2], base.records["forget_term"][2])
    # other channels of C_2 are untouched, and downstream everything changes
    keep = [c for c in range(8) if c != 3]
    assert torch.equal(p.records["cell"][2][:, keep], base.records["cell"][2][:, keep])
    assert not torch.equal(p.records["belief"][2], base.records["belief"][2])
    assert not torch.equal(p.records["prev_cell"][3], base.records["prev_cell"][3])
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in weights.items())


def test_patching_with_its_own_records_reproduces_the_outputs_bit_for_bit(setup):
    model, frames, base = setup
    iv = Intervention("cell", list(range(8)), "patch", value=base.records["cell"])
    with torch.no_grad(), MemoryProbe(model, ["belief"], interventions=[iv]) as p:
        model(frames)
    for t in range(6):
        assert torch.equal(p.records["belief"][t], base.records["belief"][t])


def test_mean_and_other_frame_patches(setup):
    model, frames, base = setup
    mean = mean_of(base.records["cell"], [1, 2])
    iv = Intervention("cell", [1, 2], "mean", value=mean, frames=(1, 3))
    with torch.no_grad(), MemoryProbe(model, ["cell"], interventions=[iv]) as p:
        model(frames)
    assert torch.allclose(p.records["cell"][1][:, 1:3], mean.expand(2, -1, -1, -1))
    assert not torch.allclose(p.records["cell"][3][:, 1:3], mean.expand(2, -1, -1, -1))
    iv = Intervention(
        "cell", [5], "patch", value=base.records["cell"], source_offset=-1, frames=(1, None)
    )
    with torch.no_grad(), MemoryProbe(model, ["cell"], interventions=[iv]) as p:
        model(frames)
    assert torch.equal(p.records["cell"][1][:, 5], base.records["cell"][0][:, 5])


def test_interventions_removed_after_exit_and_exceptions(setup):
    model, frames, base = setup
    iv = Intervention("hidden", [0], "zero")
    with (
        pytest.raises(RuntimeError),
        torch.no_grad(),
        MemoryProbe(model, ["cell"], interventions=[iv]),
    ):
        raise RuntimeError("stop")
    assert _hooks(model) == 0
    with torch.no_grad():
        again = model(frames)["beliefs"]
    assert torch.equal(again, torch.stack([base.records["belief"][t] for t in range(6)], 1))
    with pytest.raises(ProbeError, match="mode"):
        Intervention("cell", [0], "scramble")
    with pytest.raises(ProbeError, match="no probe point"):
        MemoryProbe(model, ["cell"], interventions=[Intervention("nowhere", [0])])


def test_cli_ablate_table_json_and_sweep(tiny_checkpoint, tmp_path, capsys):
    import json

    from lstm_probe.cli import main
    from lstm_probe.skeleton import SKELETON

    def ablate(data, *extra):
        return main(["ablate", str(tiny_checkpoint), "--data", data, "--no-progress", *extra])

    out = tmp_path / "abl.json"
    assert (
        ablate("synthetic:test:2:6", "--channels", "1,2", "--from-frame", "2", "--out", str(out))
        == 0
    )
    text = capsys.readouterr().out
    assert "baseline" in text and "drop" in text and "occluded" in text
    res = json.loads(out.read_text())
    assert res["channels"] == [1, 2] and res["from_frame"] == 2
    assert set(res["groups"]) == {*SKELETON.groups, "Mean"}
    assert {"baseline", "ablated"} == set(res["splits"]["clean"])
    assert ablate("synthetic:test:1:5", "--channels", "0", "--mode", "mean") == 0
    sweep = tmp_path / "importance.json"
    assert ablate("synthetic:test:1:5", "--sweep", "--out", str(sweep)) == 0
    imp = json.loads(sweep.read_text())
    assert len(imp["importance"]) == 8 and len(imp["importance"][0]) == 14
    assert (
        main(["ablate", str(tiny_checkpoint), "--no-progress"]) == 2
    )  # neither --channels nor --sweep
