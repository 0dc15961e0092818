import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lstm_probe.cli import main
from lstm_probe.config import config_path, load_config
from lstm_probe.engine.train import TrainingError, pose_loss, train
from lstm_probe.metrics import pck as P
from lstm_probe.skeleton import SKELETON

ROOT = Path(__file__).resolve().parents[1]
TINY = config_path("tiny_cpu")


def test_loss_is_caffe_euclidean_summed_over_stages():
    torch.manual_seed(0)
    B, T = 2, 2
    targets = torch.rand(B, T, 15, 4, 4)
    b0, b1, b2 = (torch.rand(B, 15, 4, 4) for _ in range(3))
    stages = [(b0, b1), (b2,)]  # frame 0: initial belief + belief; frame 1: belief
    expected = (
        ((b0 - targets[:, 0]) ** 2).sum()
        + ((b1 - targets[:, 0]) ** 2).sum()
        + ((b2 - targets[:, 1]) ** 2).sum()
    ) / (2 * B)
    assert pose_loss(stages, targets).item() == pytest.approx(expected.item(), rel=1e-6)


def _losses(run):
    return [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_training_lowers_the_loss_on_a_fixed_batch():
    from lstm_probe.data import ClipDataset, SyntheticVideos, build_codec_policy
    from lstm_probe.engine.train import build_optimizer
    from lstm_probe.models import build_model_from_config

    cfg = load_config(TINY)
    torch.manual_seed(0)
    model = build_model_from_config(cfg["model"])
    codec, policy = build_codec_policy(cfg, model.config.input_size)
    ds = ClipDataset(SyntheticVideos(num_videos=10, num_frames=8), 3, policy, codec, num_samples=4)
    batch = torch.utils.data.default_collate([ds[i] for i in range(4)])
    opt = build_optimizer(model, {**cfg["optim"], "lr": 3e-3})
    losses = []
    for _ in range(25):
        loss = pose_loss(model(batch["image"])["stages"], batch["target"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


def test_resume_continues_exactly(tmp_path):
    cfg = load_config(TINY)
    train(cfg, tmp_path / "full", progress=False, device="cpu")
    train(cfg, tmp_path / "split", progress=False, device="cpu", max_steps=3)
    assert (tmp_path / "split/checkpoint.pt").exists()
    train(cfg, tmp_path / "split", resume=True, progress=False, device="cpu")
    full, split = _losses(tmp_path / "full"), _losses(tmp_path / "split")
    assert len(full) == len(split) == 6
    assert full == split  # bit-identical trajectory, dropout included


def test_non_finite_loss_stops_with_a_clear_message(tmp_path):
    cfg = load_config(TINY, ["--optim.lr=1e30", "--optim.warmup=0", "--optim.grad_clip=1e30"])
    with pytest.raises(TrainingError, match="loss became"):
        train(cfg, tmp_path / "r", progress=False, device="cpu")


def test_cli_train_with_overrides_and_eval_outputs(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", str(TINY), "--out", str(run), "--optim.steps=2", "--no-progress"]) == 0
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["optim"]["steps"] == 2 and cfg["model"]["preset"] == "tiny"
    assert (
        main(
            [
                "eval",
                str(run / "checkpoint.pt"),
                "--data",
                "synthetic:test:2:6",
                "--out",
                str(tmp_path / "res"),
                "--no-progress",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "Head" in out and "Mean" in out and "occluded" in out
    res = json.loads((tmp_path / "res.json").read_text())
    assert set(res["pck@0.2"]["groups"]) == {*SKELETON.groups, "Mean"}
    assert {"clean", "occluded", "cueless"} <= set(res["splits"])
    assert (tmp_path / "res.csv").read_text().startswith("kind,name,pck@0.2,pck@0.1")


def test_bad_override_is_refused(capsys):
    with pytest.raises(SystemExit):
        main(["train", str(TINY), "--nonsense"])
    assert "overrides are --section.key=value" in capsys.readouterr().err


@pytest.mark.slow
def test_ddp_two_cpu_processes(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TMPDIR": str(tmp_path)}  # torchrun's logs
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_port=29533",
        "-m",
        "lstm_probe.cli",
        "train",
        str(TINY),
        "--out",
        str(tmp_path / "ddp"),
        "--device",
        "cpu",
        "--optim.steps=3",
        "--no-progress",
    ]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-2000:]
    assert len(_losses(tmp_path / "ddp")) == 3  # rank 0 logs every step
    assert (tmp_path / "ddp/checkpoint.pt").exists()


# ------------------------------------------------------------------ PCK on hand-built cases
def test_pck_masked_joint_zero_box_and_groups():
    gt = np.zeros((2, 14, 2))
    pred = gt.copy()
    pred[0, 3] = [30, 0]  # right elbow off by 30 px with a 100-px box at alpha 0.2 -> miss
    pred[0, 6] = [10, 0]  # left elbow off by 10 -> hit
    mask = np.ones((2, 14), bool)
    mask[0, 0] = False  # the head of frame 0 is not visible: not counted
    norm = np.array([100.0, 0.0])  # frame 1 has a zero-size box: no valid joints
    hits, valid = P.pck_hits(pred, gt, mask, norm, 0.2)
    assert valid[1].sum() == 0 and valid[0].sum() == 13
    joint = P.per_joint(hits, valid)
    assert np.isnan(joint[0])  # head never valid
    assert joint[3] == 0 and joint[6] == 100
    table = P.group_table(joint)
    assert table["Elb"] == 50 and np.isnan(table["Head"])
    assert table["Mean"] == pytest.approx(np.mean([100, 50, 100, 100, 100, 100]))


def test_swap_rate_and_belly_and_acceleration():
    gt = np.random.default_rng(0).uniform(0, 100, (4, 14, 2))
    swapped = gt[:, SKELETON.flip_permutation()]
    assert P.swap_rate(gt, gt, np.ones((4, 14), bool)) == 0
    assert P.swap_rate(swapped, gt, np.ones((4, 14), bool)) == 100
    kp = np.zeros((14, 2))
    for n, xy in {
        "right_shoulder": (0, 0),
        "left_shoulder": (10, 0),
        "right_hip": (0, 100),
        "left_hip": (10, 100),
    }.items():
        kp[SKELETON.index(n)] = xy
    assert np.allclose(P.jhmdb_belly(kp), [5, 65])
    line = np.arange(5)[:, None, None] * np.ones((5, 14, 2))
    assert P.acceleration_error(line, line * 0, np.ones((5, 14), bool)) == 0


def test_instrumented_training_dumps_the_memory_as_it_forms(tmp_path):
    from lstm_probe.probe.store import open_dump

    cfg = load_config(TINY, ["--run.probe_every=3", "--run.probe_videos=1"])
    train(cfg, tmp_path / "run", progress=False, device="cpu")
    steps = sorted(p.name for p in (tmp_path / "run/probes").iterdir())
    assert steps == ["step_000003", "step_000006"]
    a, b = (open_dump(tmp_path / "run/probes" / s) for s in steps)
    assert a.manifest["checkpoint"]["meta"]["step"] == 3
    assert a.manifest["checkpoint"]["sha256"] != b.manifest["checkpoint"]["sha256"]
    va, vb = a.video(a.video_ids[0]), b.video(b.video_ids[0])
    assert va.video_id == vb.video_id and not np.array_equal(va.memory[()], vb.memory[()])


def test_single_image_pretraining_and_init_from(tmp_path):
    cfg = load_config(TINY, ["--optim.steps=2", "--run.pretrain_single_image=true"])
    train(cfg, tmp_path / "single", progress=False, device="cpu")
    from lstm_probe.checkpoint import load_checkpoint
    from lstm_probe.engine.train import init_from_checkpoint
    from lstm_probe.models import build_model_from_config

    src, _ = load_checkpoint(tmp_path / "single/checkpoint.pt")
    rpm = build_model_from_config(load_config(TINY, ["--model.name=rpm"])["model"])
    copied = init_from_checkpoint(rpm, tmp_path / "single/checkpoint.pt")
    assert "initial.conv7.weight" in copied and not any(k.startswith("lstm.") for k in copied)
    assert torch.equal(
        rpm.state_dict()["encoder.conv4.weight"], src.state_dict()["encoder.conv4.weight"]
    )


def test_tensorboard_is_used_when_installed(tmp_path, monkeypatch):
    import types

    seen = []

    class Writer:
        def __init__(self, path):
            seen.append(("dir", path))

        def add_scalar(self, tag, value, step):
            seen.append((tag, step))

        def close(self):
            seen.append(("closed", None))

    fake = types.ModuleType("torch.utils.tensorboard")
    fake.SummaryWriter = Writer
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", fake)
    train(load_config(TINY, ["--optim.steps=2"]), tmp_path / "r", progress=False, device="cpu")
    assert ("train/loss", 2) in seen and seen[-1] == ("closed", None)


def test_multiscale_eval_combines_beliefs_on_the_frame(capsys, tmp_path):
    from lstm_probe.checkpoint import load_checkpoint, packaged_checkpoint
    from lstm_probe.data import SyntheticVideos
    from lstm_probe.engine.evaluate import collect
    from lstm_probe.engine.infer import test_policy
    from lstm_probe.engine.stream import BoxCrops, stream_video
    from lstm_probe.transforms.heatmaps import HeatmapCodec

    model, payload = load_checkpoint(packaged_checkpoint())
    video = SyntheticVideos(split="test", num_videos=1, num_frames=6)[0]
    policy, codec = test_policy(model, payload), HeatmapCodec(128)
    single = collect(model, [video], policy, codec)[0]["pred"]
    crops = BoxCrops(policy, video.annotations.bbox)
    one = np.stack([r.keypoints for r in stream_video(model, video, crops, codec, scales=[1.0])])
    # one scale through frame-space maps ≈ the grid decode (bicubic vs parabola refinement)
    assert np.median(np.linalg.norm(one - single, axis=-1)) < 1.5
    assert (
        main(
            [
                "eval",
                str(packaged_checkpoint()),
                "--data",
                "synthetic:test:1:5",
                "--scales",
                "3",
                "--out",
                str(tmp_path / "ms"),
                "--no-progress",
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "ms.json").read_text())["scales"] == 3


def test_jhmdb_scoring_counts_all_joints_and_the_interpolated_belly():
    from lstm_probe.engine.evaluate import score

    rng = np.random.default_rng(0)
    gt = rng.uniform(20, 80, (4, 14, 2))
    fifteen = np.zeros((4, 15, 2))
    from lstm_probe.skeleton import JHMDB_TO_NETWORK

    for src, dst in enumerate(JHMDB_TO_NETWORK):
        if dst is not None:
            fifteen[:, src] = gt[:, dst]
    fifteen[:, 1] = P.jhmdb_belly(gt)  # the true belly lies where the formula puts it
    pred = gt.copy()
    pred[:, SKELETON.index("left_wrist")] += 50  # always wrong
    vis = np.zeros((4, 14), np.int8)  # JHMDB: "visibility" is irrelevant, every joint counts
    rec = {"pred": pred, "gt": gt, "vis": vis + 1, "bbox": np.tile([0, 0, 100, 100], (4, 1)),
           "flags": {"jhmdb_keypoints": fifteen}, "source": "sub_jhmdb"}  # fmt: skip
    res = score([rec])
    assert res["belly"] == 100.0
    assert res["pck@0.2"]["joints"]["left_wrist"] == 0 and res["pck@0.2"]["groups"]["Wri"] == 50
    rec_penn = {**rec, "source": "penn_action", "vis": vis}  # Penn: visible joints only
    assert score([rec_penn])["pck@0.2"]["overall"] == 0  # nothing visible -> nothing counted
