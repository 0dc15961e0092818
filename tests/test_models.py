import math

import pytest
import torch

from lstm_probe.models import (
    LSTM_POINTS,
    MODELS,
    ConvLSTMCell,
    ProbePoint,
    build_model,
    count_parameters,
    frame_flops,
)
from lstm_probe.models.config import preset_config
from lstm_probe.models.layers import CenterMap


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("preset", ["tiny", "small"])
def test_clip_forward_shapes(name, preset):
    torch.manual_seed(0)
    model = build_model(name, preset).eval()
    s, g = model.config.input_size, model.grid_size
    with torch.no_grad():
        out = model(torch.randn(2, 3, 3, s, s))
    assert out["beliefs"].shape == (2, 3, 15, g, g)
    assert len(out["stages"]) == 3
    if name == "cpm":
        assert all(len(st) == model.config.stages for st in out["stages"])
    else:  # the first frame also supervises the initial belief of ConvNet1
        assert [len(st) for st in out["stages"]] == [2, 1, 1]
    for st in out["stages"]:
        assert all(b.shape == (2, 15, g, g) for b in st)


def test_paper_preset_gives_46x46_from_368():
    model = build_model("lstm_pm", "paper").eval()
    assert model.grid_size == 46
    with torch.no_grad():
        out = model.step(torch.zeros(1, 3, 368, 368))
    assert out.belief.shape == (1, 15, 46, 46)
    assert out.state.cell.shape == (1, 48, 46, 46)


def test_grid_sizes_follow_caffe_ceil_pooling():
    assert preset_config("paper").grid_size == 46  # floor pooling would give 45
    assert preset_config("small").grid_size == 16
    assert preset_config("tiny").grid_size == 8


def test_centre_pool_divides_by_clipped_window_like_caffe():
    cfg = preset_config("paper")
    cm = CenterMap(cfg)
    cm.full.fill_(1.0)
    pooled = cm(1)
    assert pooled.shape == (1, 1, 46, 46)
    # the last window holds 8 of 9 rows: Caffe divides by the clipped count, so ones stay ones
    assert torch.allclose(pooled, torch.ones_like(pooled))


@pytest.mark.parametrize("name", list(MODELS))
def test_streaming_equals_clip_forward(name):
    torch.manual_seed(1)
    model = build_model(name, "tiny").eval()
    frames = torch.randn(2, 5, 3, 64, 64)
    with torch.no_grad():
        clip = model(frames)["beliefs"]
        state, streamed = None, []
        for t in range(5):
            out = model.step(frames[:, t], state)
            state = out.state
            streamed.append(out.belief)
    assert torch.equal(torch.stack(streamed, 1), clip)


def test_weights_are_shared_across_frames():
    model = build_model("lstm_pm", "tiny")
    n = count_parameters(model)
    frames = torch.randn(1, 6, 3, 64, 64)
    out = model(frames)
    assert count_parameters(model) == n  # one parameter set whatever T is
    # the last frame's loss reaches the shared encoder, LSTM and generator (one copy each)
    out["beliefs"][:, -1].sum().backward()
    for mod in (model.encoder, model.lstm.g_h, model.lstm.f_x, model.generator):
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in mod.parameters())


def test_rpm_and_lstm_share_structure_except_the_lstm():
    lstm = build_model("lstm_pm", "small")
    rpm = build_model("rpm", "small")
    diff = count_parameters(lstm) - count_parameters(rpm)
    c = lstm.config
    lstm_params = 8 * (48 * 48 * 9 + 48) + 4 * 48
    gen_first = (c.hidden_channels - 48) * c.generator_channels * c.generator_kernel**2
    assert diff == lstm_params + gen_first


def test_lstm_update_matches_hand_computation():
    cell = ConvLSTMCell(1, 1, kernel=1, bias_init=(0.1, 1.4, 0.2, 1.0))
    with torch.no_grad():
        for gate, (wx, bx, wh, bh) in {
            "g": (0.5, 0.1, -0.3, 0.05),
            "i": (-0.2, 0.0, 0.4, -0.1),
            "o": (0.7, -0.2, 0.1, 0.2),
            "f": (0.3, 0.3, -0.6, 0.0),
        }.items():
            getattr(cell, f"{gate}_x").weight.fill_(wx)
            getattr(cell, f"{gate}_x").bias.fill_(bx)
            getattr(cell, f"{gate}_h").weight.fill_(wh)
            getattr(cell, f"{gate}_h").bias.fill_(bh)
    x0, x1 = 0.8, -1.5

    def sig(v):
        return 1 / (1 + math.exp(-v))

    # frame 0: no forget gate and no h-convs; C1 = g ⊙ i (no tanh on the stored cell)
    g = math.tanh(0.5 * x0 + 0.1 + 0.1)
    i = sig(-0.2 * x0 + 0.0 + 1.4)
    o = sig(0.7 * x0 - 0.2 + 0.2)
    c1 = g * i
    h1 = o * math.tanh(c1)
    # frame 1: the full vanilla LSTM with three bias terms per gate
    g = math.tanh(0.5 * x1 + 0.1 - 0.3 * h1 + 0.05 + 0.1)
    i = sig(-0.2 * x1 + 0.0 + 0.4 * h1 - 0.1 + 1.4)
    o = sig(0.7 * x1 - 0.2 + 0.1 * h1 + 0.2 + 0.2)
    f = sig(0.3 * x1 + 0.3 - 0.6 * h1 + 0.0 + 1.0)
    c2 = f * c1 + i * g
    h2 = o * math.tanh(c2)

    t = torch.tensor
    h, c = cell(t([[[[x0]]]]), None, frame=0)
    assert c.item() == pytest.approx(c1, rel=1e-6) and h.item() == pytest.approx(h1, rel=1e-6)
    h, c = cell(t([[[[x1]]]]), (h, c), frame=1)
    assert c.item() == pytest.approx(c2, rel=1e-6) and h.item() == pytest.approx(h2, rel=1e-6)


def test_gate_biases_start_at_reference_values():
    cell = build_model("lstm_pm", "paper").lstm
    for gate, value in {"g": 0.0, "i": 1.4, "o": 0.2, "f": 1.0}.items():
        b = getattr(cell, f"{gate}_bias")
        assert b.shape == (48,) and torch.all(b == torch.tensor(value))


def test_probe_points_present_and_free():
    model = build_model("lstm_pm", "tiny").eval()
    names = {n.split(".")[-1] for n, m in model.named_modules() if isinstance(m, ProbePoint)}
    assert set(LSTM_POINTS) <= names
    assert {"belief", "initial_belief"} <= names
    assert not any(m._forward_hooks for m in model.modules())


def test_concat_order_is_features_belief_centre():
    model = build_model("lstm_pm", "tiny").eval()
    seen = {}

    def grab(module, args, output):
        seen["x"] = args[0]

    model.lstm.g_x.register_forward_hook(grab)
    frame = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        out = model.step(frame)
        feats = model.encoder(frame)
        b0 = model.initial(frame)
    x = seen["x"]
    c = model.config.feature_channels
    assert torch.equal(x[:, :c], feats)
    assert torch.equal(x[:, c : c + 15], b0)
    assert torch.equal(x[:, c + 15 :], model.center(1))
    assert out.belief.shape[1] == 15


@pytest.mark.parametrize(
    "name, params, first, later",
    [
        ("lstm_pm", 12.07e6, 269.4e9, 141.9e9),
        ("cpm", 31.2e6, 350.9e9, 350.9e9),
    ],
)
def test_paper_preset_matches_reference_figures(name, params, first, later):
    model = build_model(name, "paper")
    assert count_parameters(model) == pytest.approx(params, rel=0.01)
    f1, f2 = frame_flops(model, 2)
    assert f1 == pytest.approx(first, rel=0.01)
    assert f2 == pytest.approx(later, rel=0.01)


def test_lstm_pm_exact_parameter_count():
    # ConvNet1 + ConvNet2 + LSTM (8 convs + 4 bias vectors) + ConvNet3, reference §9
    assert count_parameters(build_model("lstm_pm", "paper")) == (
        4_386_095 + 2_788_128 + 166_272 + 192 + 4_727_183
    )


def test_wrong_input_size_is_refused_clearly():
    model = build_model("lstm_pm", "tiny")
    with pytest.raises(ValueError, match="64×64"):
        model.step(torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match="unknown model"):
        build_model("resnet")
