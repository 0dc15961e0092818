import gc

import numpy as np
import pytest
import torch

from lstm_probe.models import MEMORY_PHASES, build_model
from lstm_probe.probe.recorder import MemoryProbe, ProbeError


def _hooks(model):
    return sum(len(m._forward_hooks) for m in model.modules())


def test_one_record_per_frame_and_identities():
    torch.manual_seed(0)
    model = build_model("lstm_pm", "tiny").eval()
    T = 5
    with torch.no_grad(), MemoryProbe(model, [*MEMORY_PHASES, "forget_gate", "hidden"]) as probe:
        model(torch.randn(2, T, 3, 64, 64))
    for p in probe.points:
        assert probe.frames(p) == list(range(T))
    prev, forget, inflow, cell = (probe.stacked(p) for p in MEMORY_PHASES)
    assert prev.shape == (T, 2, 8, 8, 8)
    assert torch.equal(cell, forget + inflow)  # exact in float32
    assert torch.equal(prev[1:], cell[:-1])
    assert not prev[0].any() and not forget[0].any()  # frame 0: C_0 = 0
    assert _hooks(model) == 0


def test_float16_channel_subset_and_streaming_equal_clip():
    torch.manual_seed(0)
    model = build_model("lstm_pm", "tiny").eval()
    frames = torch.randn(1, 4, 3, 64, 64)
    with torch.no_grad():
        with MemoryProbe(model, ["cell"], channels=[1, 5], dtype=torch.float16) as clip:
            model(frames)
        with MemoryProbe(model, ["cell"], channels=[1, 5], dtype=torch.float16) as stream:
            state = None
            for t in range(4):
                state = model.step(frames[:, t], state).state
    a, b = clip.stacked("cell"), stream.stacked("cell")
    assert a.dtype == torch.float16 and a.shape == (4, 1, 2, 8, 8)
    assert torch.equal(a, b)


def test_hooks_removed_after_exception_and_silent_points_raise():
    model = build_model("lstm_pm", "tiny").eval()
    with pytest.raises(RuntimeError, match="boom"), MemoryProbe(model):
        raise RuntimeError("boom")
    assert _hooks(model) == 0
    with pytest.raises(ProbeError, match="never fired"), MemoryProbe(model, ["cell"]):
        pass
    assert _hooks(model) == 0
    with pytest.raises(ProbeError, match="no probe point"):
        MemoryProbe(build_model("cpm", "tiny"), ["cell"])


def test_many_sessions_leave_no_hooks_and_no_growth():
    model = build_model("lstm_pm", "tiny").eval()
    x = torch.randn(1, 2, 3, 64, 64)
    gc.collect()
    before = len(gc.get_objects())
    for k in range(100):
        try:
            with torch.no_grad(), MemoryProbe(model, MEMORY_PHASES) as p:
                model(x)
                if k % 3 == 0:
                    raise ValueError
        except ValueError:
            pass
        del p
    gc.collect()
    assert _hooks(model) == 0
    assert len(gc.get_objects()) - before < 500


def test_probe_on_cuda_when_present():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device here")
    model = build_model("lstm_pm", "tiny").cuda().eval()
    with torch.no_grad(), MemoryProbe(model, ["cell"]) as p:
        model(torch.randn(1, 3, 3, 64, 64, device="cuda"))
    assert p.stacked("cell").is_cuda
    assert np.isfinite(p.stacked("cell").cpu().numpy()).all()
