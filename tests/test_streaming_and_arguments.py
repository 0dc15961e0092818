"""The one streaming loop and its crop policies, the probe's record modes, packaged configs, and
arguments refused before anything is written."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from lstm_probe.checkpoint import save_checkpoint
from lstm_probe.cli import main
from lstm_probe.config import config_path, load_config
from lstm_probe.data import SyntheticVideos
from lstm_probe.data.video import Annotations, ArrayVideo
from lstm_probe.engine.dump import DumpOptions, dump_videos
from lstm_probe.engine.infer import load_for_inference
from lstm_probe.engine.rerun import rerun
from lstm_probe.engine.stream import (
    BoxCrops,
    FixedCrops,
    TrackCrops,
    crops_for,
    stream_video,
)
from lstm_probe.models import MEMORY_PHASES, ProbePoint, build_model
from lstm_probe.probe.recorder import MemoryProbe, probe_points
from lstm_probe.probe.store import open_dump
from lstm_probe.transforms.augment import CropPolicy
from lstm_probe.transforms.heatmaps import HeatmapCodec
from lstm_probe.utils import InputError


def test_crops_for_picks_boxes_when_there_are_any():
    policy = CropPolicy(64)
    labelled = SyntheticVideos(split="test", num_videos=1, num_frames=3)[0]
    bare = ArrayVideo("bare", np.zeros((3, 40, 40, 3), np.uint8))
    assert isinstance(crops_for(labelled, policy), BoxCrops)
    assert isinstance(crops_for(bare, policy), TrackCrops)
    assert isinstance(crops_for(labelled, policy, "track"), TrackCrops)
    with pytest.raises(InputError, match="needs person boxes"):
        crops_for(bare, policy, "gt")
    with pytest.raises(InputError, match="crop must be one of"):
        crops_for(bare, policy, "nearest")


def test_stream_equals_a_clip_forward_and_times_the_step():
    torch.manual_seed(0)
    model = build_model("lstm_pm", "tiny").eval()
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    video = ArrayVideo("random", frames)
    crops = FixedCrops(CropPolicy(64), np.eye(2, 3))
    results = list(stream_video(model, video, crops, HeatmapCodec(64), timed=True))
    assert [r.index for r in results] == [0, 1, 2, 3]
    assert all(r.step_ms is not None and r.step_ms > 0 for r in results)
    x = (torch.from_numpy(frames).float() - 128) / 256
    with torch.no_grad():
        clip = model(x.permute(0, 3, 1, 2)[None])["beliefs"][0]
    for r, b in zip(results, clip):
        assert torch.allclose(r.belief, b, atol=1e-5)  # the same operations (layouts may differ)


def test_tracking_follows_the_confident_joints():
    crops = TrackCrops(CropPolicy(64, scale_range=(1.0, 1.0)), first_box=(0, 0, 39, 39))
    frame = np.zeros((40, 40, 3), np.uint8)
    t = crops.policy.test_transform()
    first = crops.frame_to_crop(0, frame, t)
    kp = np.array([[30.0, 30.0], [34.0, 30.0], [30.0, 34.0], [0.0, 0.0]])
    crops.observe(kp, np.array([0.9, 0.9, 0.9, 0.0]))  # the unsure joint does not count
    np.testing.assert_allclose(crops.center, [32.0, 32.0])
    moved = crops.frame_to_crop(1, frame, t)
    assert np.allclose(first[:, :2], moved[:, :2]) and not np.allclose(first, moved)  # same scale


def test_rerun_of_a_dump_gives_back_its_keypoints_and_memory(tiny_dump, tiny_checkpoint):
    dump = open_dump(tiny_dump)
    v = dump.video(dump.video_ids[0])
    model, _, _, _ = load_for_inference(tiny_checkpoint, "cpu", "plain")
    run = rerun(model, v)
    # both read JPEG frames: the re-run crops the stored frames on the stored crops
    assert run["keypoints"].shape == v.keypoints.shape
    assert np.median(np.abs(run["keypoints"] - v.keypoints)) < 1.0
    cell = v.memory[:, MEMORY_PHASES.index("cell")].astype(np.float32)
    assert np.corrcoef(run["memory"].ravel(), cell.ravel())[0, 1] > 0.95


def test_probe_keeps_all_latest_or_none():
    model = build_model("lstm_pm", "tiny").eval()
    clip = torch.rand(1, 3, 3, 64, 64) - 0.5
    with torch.no_grad():
        with MemoryProbe(model, ["cell"], keep="all") as every:
            model(clip)
        with MemoryProbe(model, ["cell"], keep="latest") as latest:
            model(clip)
        with MemoryProbe(model, ["cell"], keep="none") as none:
            model(clip)
    assert every.frames("cell") == [0, 1, 2]
    assert torch.equal(latest.latest["cell"], every.records["cell"][2])
    assert not latest.records["cell"] and not none.records["cell"] and not none.latest
    with pytest.raises(Exception, match="keep must be one of"):
        MemoryProbe(model, ["cell"], keep=True)


def test_probe_points_come_from_the_model_itself():
    model = build_model("lstm_pm", "tiny").eval()
    points = probe_points(model)
    assert {"belief", "initial_belief", *MEMORY_PHASES} <= set(points)
    model.lstm.add_module("extra", ProbePoint())  # a new point needs no recorder edit
    assert probe_points(model)["extra"] is model.lstm.extra
    model.add_module("wrap", nn.Module())
    model.wrap.add_module("cell", ProbePoint())
    with pytest.raises(Exception, match="two probe points are named 'cell'"):
        probe_points(model)


def test_packaged_configs_are_found_by_name(tmp_path):
    assert config_path("tiny_cpu").name == "tiny_cpu.yaml" and config_path("tiny_cpu").is_file()
    assert load_config("synthetic_lstm_pm_small")["model"]["name"] == "lstm_pm"
    with pytest.raises(InputError, match="packaged configs: .*tiny_cpu"):
        load_config(tmp_path / "nothing.yaml")


def _run(argv, capsys):
    rc = main([str(a) for a in argv])
    return rc, capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["eval", "CKPT", "--device", "bogus"], "not a device"),
        (["eval", "CKPT", "--alpha", "nan"], "--alpha"),
        (["eval", "CKPT", "--scales", "-2"], "--scales"),
        (["dump", "CKPT", "--out", "OUT", "--frames", "5:2"], "--frames"),
        (["dump", "CKPT", "--out", "OUT", "--channels", "1,x"], "--channels"),
        (["infer", "CKPT", "VIDEO", "--box", "1,2,3"], "--box"),
        (["dashboard", "DUMP", "--port", "70000"], "--port"),
        (["ablate", "CKPT", "--channels", "-1"], "--channels must be channels in 0..7"),
    ],
)
def test_bad_arguments_exit_2_before_writing(argv, message, tiny_checkpoint, tmp_path, capsys):
    subst = {"CKPT": tiny_checkpoint, "OUT": tmp_path / "out", "VIDEO": tmp_path, "DUMP": tmp_path}
    argv = [subst.get(a, a) for a in argv]
    if argv[0] == "ablate":
        argv += ["--data", "synthetic:test:1:4", "--no-progress"]
    try:
        rc, err = _run(argv, capsys)
    except SystemExit as e:  # argparse refuses a malformed option with exit status 2
        rc, err = e.code, capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_dump_refuses_what_would_fail_half_way(tiny_checkpoint, tmp_path):
    frames = np.zeros((3, 40, 40, 3), np.uint8)
    twins = [ArrayVideo("a b", frames), ArrayVideo("a_b", frames)]
    with pytest.raises(InputError, match="would share the file a_b.h5"):
        dump_videos(tiny_checkpoint, twins, tmp_path / "twins", progress=False)
    with pytest.raises(InputError, match="--frames starts at 5"):
        dump_videos(tiny_checkpoint, twins[:1], tmp_path / "short", DumpOptions(frames=(5, None)))
    with pytest.raises(InputError, match="--crop gt needs person boxes"):
        dump_videos(tiny_checkpoint, twins[:1], tmp_path / "gt", DumpOptions(crop="gt"))
    assert not any((tmp_path / d).exists() for d in ("twins", "short", "gt"))
    out = dump_videos(tiny_checkpoint, twins[:1], tmp_path / "d", DumpOptions(channels=(0, 1)),
                      progress=False)  # fmt: skip
    with pytest.raises(InputError, match="other --channels/--gates/--hidden"):
        dump_videos(tiny_checkpoint, twins[:1], out, DumpOptions(channels=(2,)), progress=False)
    assert json.loads((out / "manifest.json").read_text())["channel_indices"] == [0, 1]


def test_resume_refuses_another_run_or_a_weights_only_checkpoint(tmp_path, capsys):
    cfg = load_config("tiny_cpu", ["--optim.steps=2"])
    from lstm_probe.engine.train import TrainingError, train

    train(cfg, tmp_path / "run", progress=False)
    other = load_config("tiny_cpu", ["--optim.steps=2", "--model.hidden_channels=4"])
    with pytest.raises(TrainingError, match="another architecture"):
        train(other, tmp_path / "run", resume=True, progress=False)
    weights_only = tmp_path / "weights" / "checkpoint.pt"
    save_checkpoint(weights_only, build_model("lstm_pm", "tiny"), preset="tiny")
    with pytest.raises(TrainingError, match="no training state"):
        train(cfg, weights_only.parent, resume=True, progress=False)
    rc, err = _run(["train", "tiny_cpu", "--out", tmp_path / "zero", "--optim.batch_size=0"],
                   capsys)  # fmt: skip
    assert rc == 2 and "optim.batch_size must be a whole number ≥ 1" in err
    assert not (tmp_path / "zero").exists()


def test_labels_needed_for_an_ablation(tiny_checkpoint, tmp_path, capsys):
    import cv2

    folder = tmp_path / "frames"
    folder.mkdir()
    for t in range(3):
        cv2.imwrite(str(folder / f"{t:03d}.png"), np.zeros((32, 32, 3), np.uint8))
    rc, err = _run(["ablate", tiny_checkpoint, "--data", folder, "--channels", "1"], capsys)
    assert rc == 2 and "no annotated video" in err


def test_own_footage_annotations_stay_optional():
    assert not Annotations().labelled
