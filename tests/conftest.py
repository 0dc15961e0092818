import pytest
import torch

from lstm_probe.checkpoint import save_checkpoint
from lstm_probe.models import build_model


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(path, build_model("lstm_pm", "tiny"), preset="tiny")
    return path


@pytest.fixture(scope="session")
def tiny_dump(tiny_checkpoint, tmp_path_factory):
    from lstm_probe.data import SyntheticVideos
    from lstm_probe.engine.dump import DumpOptions, dump_videos

    out = tmp_path_factory.mktemp("dump") / "d"
    videos = SyntheticVideos(split="test", num_videos=2, num_frames=8, occluder_prob=1.0)
    # plain fp32: the exactness tests compare it with a clip forward
    return dump_videos(
        tiny_checkpoint, list(videos), out, DumpOptions(accel="plain"), "cpu", progress=False
    )


# Where a dump writer writes a block: in the caller's thread, prepared on one lane or on several,
# or in a background thread.
WRITE_MODES = {
    "caller": {"background": False, "lanes": 1},
    "caller, 3 lanes": {"background": False, "lanes": 3},
    "background": {"background": True},
}


@pytest.fixture(params=list(WRITE_MODES.values()), ids=list(WRITE_MODES))
def write_mode(request) -> dict:
    """``VideoDumpWriter`` keywords of each write mode."""
    return request.param
