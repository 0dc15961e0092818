"""What a checkpoint was trained on, and the one warning when a synthetic-only model meets real
footage (infer, dump, dashboard) — never on synthetic input. Runs without the teacher extra."""

import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from lstm_probe.checkpoint import (
    packaged_checkpoint,
    read_checkpoint,
    save_checkpoint,
    source_kinds,
    trained_on,
    training_record,
)
from lstm_probe.data import SyntheticVideos, open_video
from lstm_probe.domain import (
    GUESS_THRESHOLD,
    domain_warning,
    guessing_summary,
    synthetic_only,
    warn_dumps,
)
from lstm_probe.models import build_model

WARNING = "lstm-probe: warning: this model was trained only on"
VTEST = Path.home() / ".cache" / "lstm-probe" / "vtest.avi"  # cached by tests/test_teacher.py


def real_footage(path: Path, frames: int = 6) -> Path:
    """Frames of a real clip (OpenCV's vtest.avi when cached), else a generated scene that is
    not the synthetic set: a textured, moving photograph-like gradient with noise."""
    if VTEST.is_file():
        cap = cv2.VideoCapture(str(VTEST))
        imgs = [cap.read()[1] for _ in range(frames)]
        cap.release()
        imgs = [cv2.resize(i, (192, 144)) for i in imgs]
    else:
        rng = np.random.default_rng(0)
        yy, xx = np.mgrid[0:144, 0:192]
        imgs = []
        for t in range(frames):
            base = np.stack([xx + 4 * t, yy, (xx + yy) // 2], -1) % 256
            noise = rng.normal(0, 12, base.shape)
            imgs.append(np.clip(base + noise, 0, 255).astype(np.uint8))
    path.mkdir(parents=True, exist_ok=True)
    for t, img in enumerate(imgs):
        cv2.imwrite(str(path / f"{t:04d}.png"), img)
    return path


@pytest.fixture(scope="module")
def synthetic_tiny(tmp_path_factory):
    """A tiny model whose record says: the synthetic set only."""
    torch.manual_seed(0)
    model = build_model("lstm_pm", "tiny")
    cfg = {"data": {"source": "synthetic:train"}, "run": {"init_from": None}}
    path = tmp_path_factory.mktemp("ckpt") / "synthetic_tiny.pt"
    meta = {"config": cfg, "trained_on": training_record(cfg, model)}
    return save_checkpoint(path, model, preset="tiny", meta=meta)


def test_trained_on_the_packaged_checkpoint_is_derived_from_its_config():
    info = trained_on(read_checkpoint(packaged_checkpoint()))
    assert info["kinds"] == ["synthetic"] and info["source"] == "synthetic:train"
    assert info["input_size"] == 128 and synthetic_only(info)


def test_trained_on_every_kind():
    assert source_kinds("penn:/data/Penn_Action:train") == ["penn"]
    assert source_kinds("jhmdb:/d:1:train") == ["jhmdb"]
    assert source_kinds("repeat:5:lsp:/d:train+mpii:/m:train") == ["lsp", "mpii"]
    assert source_kinds("own:clip.mp4:kp.json:train") == ["own"]
    assert source_kinds("clip.mp4") == ["own"]
    caffe = trained_on({"meta": {"imported_from": "x.caffemodel"}, "model": {"config": {}}})
    assert caffe["kinds"] == ["caffe"] and not synthetic_only(caffe)
    assert trained_on({"meta": {}, "model": {}})["kinds"] == ["unknown"]
    # fine-tuned on footage from a synthetic model: no longer synthetic-only
    tuned = {"kinds": ["own"], "init_from": {"kinds": ["synthetic"], "init_from": None}}
    assert not synthetic_only(tuned)
    assert synthetic_only({"kinds": ["synthetic"], "init_from": {"kinds": ["synthetic"]}})


def test_training_writes_the_record(tmp_path):
    from lstm_probe.config import load_config
    from lstm_probe.engine.train import train

    cfg = load_config("tiny_cpu", ["--optim.steps=1", "--run.checkpoint_every=1"])
    train(cfg, tmp_path / "run", progress=False)
    meta = read_checkpoint(tmp_path / "run" / "checkpoint.pt")["meta"]
    assert meta["trained_on"]["kinds"] == ["synthetic"]
    assert meta["trained_on"]["input_size"] == build_model("lstm_pm", "tiny").config.input_size


def test_the_rule():
    payload = read_checkpoint(packaged_checkpoint())
    assert domain_warning(payload, ["synthetic", "synthetic"]) is None
    msg = domain_warning(payload, ["synthetic", "/videos/me.mp4", "penn_action"])
    assert "/videos/me.mp4 and 1 more" in msg
    for way in ("import-caffe", "Penn Action or sub-JHMDB", "lstm-probe label"):
        assert way in msg
    tuned = {"meta": {"trained_on": {"kinds": ["own"], "init_from": {"kinds": ["synthetic"]}}}}
    assert domain_warning(tuned, ["/videos/me.mp4"]) is None


def test_guessing_summary():
    s = guessing_summary([0.1, 0.9, GUESS_THRESHOLD - 0.01, 0.8])
    assert s.startswith("the model is guessing on 50 % of frames")


def test_infer_with_the_demo_checkpoint_on_real_footage_warns_once(tmp_path, capsys):
    from lstm_probe.engine.run_infer import infer_video

    video = real_footage(tmp_path / "street")
    js, _ = infer_video(packaged_checkpoint(), video, lambda img, kp: img, tmp_path / "out",
                        device="cpu", progress=False, accel="plain")  # fmt: skip
    captured = capsys.readouterr()
    assert captured.err.count(WARNING) == 1
    assert "import-caffe" in captured.err and "lstm-probe label" in captured.err
    assert "the model is guessing on" in captured.out
    doc = json.loads(js.read_text())
    assert doc["trained_on"]["kinds"] == ["synthetic"]
    means = [f["mean_confidence"] for f in doc["frames"]]
    assert len(means) == 6
    assert means == pytest.approx([np.mean(f["confidence"]) for f in doc["frames"]], abs=1e-3)


def test_infer_on_a_synthetic_video_does_not_warn(tmp_path, capsys):
    from lstm_probe.engine.run_infer import infer_video

    js, mp4 = infer_video(packaged_checkpoint(), "synthetic:test:1:4", lambda img, kp: img,
                          tmp_path, device="cpu", progress=False, accel="plain")  # fmt: skip
    assert WARNING not in capsys.readouterr().err
    assert js.name == "synthetic_test_0_00000_keypoints.json" and mp4.is_file()
    assert len(json.loads(js.read_text())["frames"]) == 4


def test_dump_warns_on_real_footage_never_on_synthetic(synthetic_tiny, tmp_path, capsys):
    from lstm_probe.engine.dump import DumpOptions, dump_videos

    videos = list(SyntheticVideos(split="test", num_videos=2, num_frames=4))
    syn = dump_videos(synthetic_tiny, videos, tmp_path / "syn", DumpOptions(accel="plain"),
                      "cpu", progress=False)  # fmt: skip
    assert WARNING not in capsys.readouterr().err
    real = [open_video(real_footage(tmp_path / "street", 4))]
    real_dump = dump_videos(synthetic_tiny, real, tmp_path / "real", DumpOptions(accel="plain"),
                            "cpu", progress=False)  # fmt: skip
    assert capsys.readouterr().err.count(WARNING) == 1

    # the dashboard: one warning for all its dumps, none for synthetic dumps
    from dashboard import create_app

    create_app([syn])
    assert WARNING not in capsys.readouterr().err
    create_app([syn, real_dump, real_dump])
    assert capsys.readouterr().err.count(WARNING) == 1
    manifest = json.loads((Path(real_dump) / "manifest.json").read_text())
    out = io.StringIO()
    assert warn_dumps([manifest], file=out) is not None and out.getvalue().startswith(WARNING)
