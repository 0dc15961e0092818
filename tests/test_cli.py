"""The user-facing commands end to end, and the README's contract with CI."""

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from lstm_probe.checkpoint import packaged_checkpoint
from lstm_probe.cli import main
from lstm_probe.data import SyntheticVideos
from lstm_probe.engine.accel import resolve_accel
from lstm_probe.models import build_model
from lstm_probe.probe.store import open_dump
from lstm_probe.transforms.heatmaps import HeatmapCodec

ROOT = Path(__file__).resolve().parents[1]


def test_help_and_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for cmd in (
        "info",
        "train",
        "eval",
        "dump",
        "inspect",
        "infer",
        "dashboard",
        "figures",
        "demo",
    ):
        assert cmd in out
    r = subprocess.run(
        [sys.executable, "-m", "lstm_probe.cli", "--version"], capture_output=True, text=True
    )
    assert r.returncode == 0 and "lstm-probe" in r.stdout


def _synthetic_clip(path, frames: int):
    """A synthetic test video written as an MJPG file: what a user's own footage looks like."""
    video = SyntheticVideos(num_videos=1, num_frames=frames, split="test")[0]
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 160))
    for t in range(frames):
        w.write(video.frame(t))
    w.release()
    return path


def test_infer_on_a_small_generated_video(tiny_checkpoint, tmp_path):
    path = _synthetic_clip(tmp_path / "clip.avi", 6)
    assert (
        main(
            [
                "infer",
                str(tiny_checkpoint),
                str(path),
                "--out",
                str(tmp_path / "res"),
                "--box",
                "20,10,140,150",
                "--no-progress",
            ]
        )
        == 0
    )
    doc = json.loads((tmp_path / "res_keypoints.json").read_text())
    assert doc["format"] == "lstm-probe-keypoints" and len(doc["frames"]) == 6
    assert doc["accel"] == resolve_accel("auto", "cpu").mode  # the fast path by default
    assert np.asarray(doc["frames"][0]["keypoints"]).shape == (14, 3)
    cap = cv2.VideoCapture(str(tmp_path / "res_pose.mp4"))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == 6
    # the output is readable back as keypoints for the same video
    from lstm_probe.data.video import read_keypoints_json

    ann = read_keypoints_json(tmp_path / "res_keypoints.json", 6)
    assert ann.keypoints.shape == (6, 14, 2)


def test_infer_refuses_a_broken_video(tiny_checkpoint, tmp_path, capsys):
    (tmp_path / "v.mp4").write_bytes(b"\x00" * 100)
    assert main(["infer", str(tiny_checkpoint), str(tmp_path / "v.mp4"), "--no-progress"]) == 2
    assert "v.mp4: video cannot be decoded" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_runs_end_to_end_without_serving(tmp_path, capsys):
    assert packaged_checkpoint().is_file()
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--videos", "2", "--frames", "8", "--no-serve"]) == 0
    dump = open_dump(out / "dump")
    assert len(dump.video_ids) == 2
    assert dump.manifest["model"]["preset"] == "small"
    text = capsys.readouterr().out
    assert "all checks passed" in text and "lstm-probe dashboard" in text


def test_packaged_checkpoint_is_the_small_lstm_pm():
    from lstm_probe.checkpoint import load_checkpoint

    model, payload = load_checkpoint(packaged_checkpoint())
    assert model.name == "lstm_pm" and model.config.input_size == 128
    assert "train_state" not in payload  # weights only
    assert payload["meta"]["config"]["data"]["crop"]["flip_prob"] == 0.0


def test_readme_commands_are_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci/run").read_text()
    make = (ROOT / "Makefile").read_text()
    assert "make test" in readme and "make demo" in readme
    assert re.search(r"^make test$", ci, re.M)
    assert "torch==2.13.0" in make  # the CPU wheel first, before the package
    setup = make[make.index("$(VENV)/.installed:") :]
    assert setup.index("$(TORCH)") < setup.index('-e ".[dev')


def test_codec_centre_map_is_the_models():
    # The reference's centre map (reference-implementation.md §1.1): a 368×368 Gaussian of sigma
    # 21 px at the crop centre, not thresholded at test time, AVE-pooled 9/8 (rounding up) to
    # 46×46. Ours peaks at the geometric centre (183.5, 183.5), half a pixel from the reference's
    # 0-based (183, 183) (protocol-audit.md). Values computed here by hand, pixel by pixel.
    def gauss(y, x):
        return math.exp(-((y - 183.5) ** 2 + (x - 183.5) ** 2) / (2 * 21.0**2))

    model = build_model("lstm_pm", "paper")
    full = model.center.full[0, 0].numpy()
    codec = HeatmapCodec(368).center_map(21.0)
    assert full.shape == codec.shape == (368, 368)
    pixels = [(183, 183), (184, 184), (183, 184), (0, 0), (367, 0), (183, 0), (100, 250), (7, 300)]
    for y, x in pixels:
        assert full[y, x] == pytest.approx(gauss(y, x), rel=1e-5, abs=0), (y, x)
        assert codec[y, x] == pytest.approx(gauss(y, x), rel=1e-5, abs=0), (y, x)
    assert full[0, 0] > 0  # not thresholded (training's < 0.01 -> 0 would zero it)
    pooled = model.center(1)[0, 0].numpy()
    assert pooled.shape == (46, 46)
    # full 9×9 windows, and the last one clipped at the border: Caffe divides by 8·8, not 81
    for gy, gx in ((22, 22), (20, 25), (2, 2)):
        window = [
            [gauss(y, x) for x in range(8 * gx, 8 * gx + 9)] for y in range(8 * gy, 8 * gy + 9)
        ]
        assert pooled[gy, gx] == pytest.approx(np.mean(window), rel=1e-5, abs=0), (gy, gx)
    corner = [[gauss(y, x) for x in range(360, 368)] for y in range(360, 368)]
    assert pooled[45, 45] == pytest.approx(np.mean(corner), rel=1e-5, abs=0)


def test_demo_train_retrains_then_dumps_with_the_new_model(tmp_path, monkeypatch, capsys):
    import lstm_probe.engine.train as T
    from lstm_probe.checkpoint import save_checkpoint

    calls = {}

    def fake_train(cfg, out, resume=False, device=None, **kw):
        calls.update(cfg=cfg, out=out, resume=resume)
        path = save_checkpoint(out / "checkpoint.pt", build_model("lstm_pm", "tiny"), preset="tiny")
        return {"checkpoint": str(path)}

    monkeypatch.setattr(T, "train", fake_train)
    out = tmp_path / "demo"
    assert (
        main(["demo", "--train", "--out", str(out), "--videos", "1", "--frames", "4", "--no-serve"])
        == 0
    )
    assert calls["out"] == out / "train" and calls["resume"]
    assert calls["cfg"]["model"] == {"name": "lstm_pm", "preset": "small"}  # the demo recipe
    assert open_dump(out / "dump").manifest["model"]["preset"] == "tiny"  # the retrained model


def test_infer_modes_agree(tiny_checkpoint, tmp_path):
    """--accel plain (reference) and --accel fp32 --compile give the same keypoints; the keypoint
    file names the run's inputs."""
    path = _synthetic_clip(tmp_path / "clip.avi", 5)
    kps = []
    for name, extra in (
        ("plain", ["--accel", "plain"]),
        ("fast", ["--accel", "fp32", "--compile"]),
    ):
        out = tmp_path / name
        argv = ["infer", str(tiny_checkpoint), str(path), "--out", str(out), "--no-progress"]
        assert main(argv + extra) == 0
        doc = json.loads((tmp_path / f"{name}_keypoints.json").read_text())
        assert doc["accel"] == {"plain": "plain", "fast": "fp32+compile"}[name]
        kps.append(np.array([f["keypoints"] for f in doc["frames"]])[..., :2])
    assert np.abs(kps[0] - kps[1]).max() < 0.5  # frame pixels
    with pytest.raises(SystemExit):  # argparse names the choices
        main(["infer", str(tiny_checkpoint), str(path), "--accel", "fast"])
