"""Teacher labels on a real clip, fine-tuning from them, and eval against them.

The clip is OpenCV's sample ``vtest.avi`` (768×576, people walking; Apache-2.0 / BSD-3-Clause per
Debian's copyright file), shipped by Debian's ``opencv-doc`` package. It is taken from an
installed ``opencv-doc``, else from ``~/.cache/lstm-probe/vtest.avi``, else fetched once with
``apt-get download opencv-doc`` into that folder. The teacher tests need the ``teacher`` extra
(``make test-teacher`` builds a virtualenv with it); without it, or without the clip, they skip
and say why. ``label`` without the extra is tested everywhere.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from lstm_probe.cli import main
from lstm_probe.data.video import read_keypoints_json
from lstm_probe.skeleton import SKELETON

CACHE = Path.home() / ".cache" / "lstm-probe"
INSTALLED = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
MEMBER = "./usr/share/doc/opencv-doc/examples/data/vtest.avi"
FRAMES = 40
CONFIG = Path(__file__).parents[1] / "training" / "configs" / "finetune_own_footage.yaml"


def fetch_vtest() -> Path | str:
    """The clip's path, or why it is not available."""
    if INSTALLED.is_file():
        return INSTALLED
    cached = CACHE / "vtest.avi"
    if cached.is_file():
        return cached
    if not (shutil.which("apt-get") and shutil.which("dpkg-deb") and shutil.which("tar")):
        return "no apt-get/dpkg-deb here to fetch Debian's opencv-doc (which ships vtest.avi)"
    CACHE.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(["apt-get", "download", "opencv-doc"], cwd=CACHE, check=True,
                       capture_output=True, timeout=300)  # fmt: skip
        deb = sorted(CACHE.glob("opencv-doc_*.deb"))[-1]
        tmp = CACHE / "extract"
        tmp.mkdir(exist_ok=True)
        tar = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], check=True,
                             capture_output=True, timeout=300).stdout  # fmt: skip
        subprocess.run(["tar", "-x", "-C", str(tmp), MEMBER], input=tar, check=True,
                       capture_output=True, timeout=300)  # fmt: skip
        (tmp / MEMBER).replace(cached)
        deb.unlink()
        shutil.rmtree(tmp, ignore_errors=True)
    except (subprocess.SubprocessError, OSError, IndexError) as e:
        return f"could not fetch opencv-doc's vtest.avi ({type(e).__name__}: {e})"
    return cached


@pytest.fixture(scope="module")
def mediapipe():
    try:
        import mediapipe as mp

        mp.solutions.pose  # noqa: B018
    except (ImportError, AttributeError):
        pytest.skip('the MediaPipe teacher is not installed (pip install "lstm-probe[teacher]"; '
                    "make test-teacher runs these tests in a virtualenv with it)")  # fmt: skip
    return mp


@pytest.fixture(scope="module")
def clip(mediapipe, tmp_path_factory):
    """The first FRAMES frames of vtest.avi as a video file of their own."""
    src = fetch_vtest()
    if isinstance(src, str):
        pytest.skip(src)
    cap = cv2.VideoCapture(str(src))
    path = tmp_path_factory.mktemp("clip") / "vtest40.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (768, 576))
    for _ in range(FRAMES):
        ok, img = cap.read()
        assert ok
        w.write(img)
    w.release()
    cap.release()
    return path


@pytest.fixture(scope="module")
def labels(clip, tmp_path_factory):
    out = tmp_path_factory.mktemp("labels") / "vtest40_keypoints.json"
    assert main(["label", str(clip), "--teacher", "mediapipe", "--out", str(out),
                 "--no-progress"]) == 0  # fmt: skip
    return out


def test_label_finds_a_person_on_real_footage(clip, labels, mediapipe):
    doc = json.loads(labels.read_text())
    assert doc["teacher"]["name"] == "mediapipe-pose"
    assert doc["teacher"]["version"] == mediapipe.__version__ == "0.10.21"
    assert doc["joints"] == list(SKELETON.names)
    found = [f["index"] for f in doc["frames"]]
    assert len(found) >= 0.8 * FRAMES  # a person in most frames
    assert sorted(found + doc["no_person"]) == list(range(FRAMES))
    for f in doc["frames"]:
        kp = np.array(f["keypoints"])
        inside = kp[:, 2] >= 0
        assert inside.sum() >= 10
        assert (kp[inside, 0] >= 0).all() and (kp[inside, 0] <= 767).all()
        assert (kp[inside, 1] >= 0).all() and (kp[inside, 1] <= 575).all()
        # head and neck are derived as documented; the person is upright
        head, neck = kp[SKELETON.index("head")], kp[SKELETON.index("neck")]
        ankle = kp[SKELETON.index("right_ankle")]
        assert head[1] < neck[1] < ankle[1]
    # a round trip through the toolkit's reader
    ann = read_keypoints_json(labels, FRAMES)
    for f in doc["frames"]:
        t = f["index"]
        kp = np.array(f["keypoints"])
        np.testing.assert_allclose(ann.keypoints[t], kp[:, :2], atol=1e-3)
        np.testing.assert_array_equal(ann.visibility[t], kp[:, 2])
    for t in doc["no_person"]:
        assert (ann.visibility[t] == -1).all()


def test_finetune_a_few_steps_and_eval_against_the_teacher(clip, labels, tiny_checkpoint,
                                                           tmp_path, capsys):  # fmt: skip
    from lstm_probe.checkpoint import read_checkpoint, trained_on
    from lstm_probe.domain import synthetic_only

    own = f"own:{clip}:{labels}"
    run = tmp_path / "run"
    code = main(["train", str(CONFIG), "--out", str(run),
                 "--no-progress", "--model.preset=tiny", "--optim.steps=2",
                 "--optim.batch_size=1", "--data.clip_length=3", "--run.workers=0",
                 f"--run.init_from={tiny_checkpoint}", f"--data.source={own}:train"])  # fmt: skip
    assert code == 0
    info = trained_on(read_checkpoint(run / "checkpoint.pt"))
    assert info["kinds"] == ["own"] and info["teacher"]["name"] == "mediapipe-pose"
    assert info["init_from"] is not None and not synthetic_only(info)
    capsys.readouterr()
    assert main(["eval", str(run / "checkpoint.pt"), "--data", f"{own}:test", "--no-progress",
                 "--out", str(tmp_path / "res")]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "against teacher labels (mediapipe-pose 0.10.21)" in out
    result = json.loads((tmp_path / "res.json").read_text())
    assert result["teacher"]["name"] == "mediapipe-pose"
    assert result["frames"] == FRAMES - round(0.7 * FRAMES)  # the last 30 %
    assert 0 <= result["pck@0.2"]["overall"] <= 100
    # the null: no image, the mean pose in each frame's teacher box
    assert "box-only null" in out and 50 < result["box_only"]["pck@0.2"] <= 100
    assert main(["eval", str(run / "checkpoint.pt"), "--data", f"{own}:test", "--no-progress",
                 "--crop", "track", "--out", str(tmp_path / "track")]) == 0  # fmt: skip
    tracked = json.loads((tmp_path / "track.json").read_text())
    assert tracked["crop"] == "track" and "box_only" not in tracked


def test_own_source_splits_in_time(clip, labels):
    from lstm_probe.data import open_source

    train = open_source(f"own:{clip}:{labels}:train")
    test = open_source(f"own:{clip}:{labels}:test")
    cut = round(0.7 * FRAMES)
    assert all(v.start >= 0 and v.stop <= cut for v in train)
    assert [(v.start, v.stop) for v in test] == [(cut, FRAMES)]
    whole = cv2.VideoCapture(str(clip))
    whole.set(cv2.CAP_PROP_POS_FRAMES, cut)
    np.testing.assert_array_equal(test[0].frame(0), whole.read()[1])
    half = open_source(f"own:{clip}:{labels}:test:0.5")
    assert half[0].num_frames == FRAMES // 2


def test_label_without_the_extra_is_one_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "mediapipe", None)  # import mediapipe -> ImportError
    video = tmp_path / "frames"
    video.mkdir()
    cv2.imwrite(str(video / "0000.png"), np.zeros((32, 32, 3), np.uint8))
    assert main(["label", str(video), "--out", str(tmp_path / "kp.json")]) == 2
    err = capsys.readouterr().err
    assert 'pip install "lstm-probe[teacher]"' in err and err.count("\n") == 1
    assert not (tmp_path / "kp.json").exists()
