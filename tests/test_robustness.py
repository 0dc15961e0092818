"""Inputs that used to end in a crash, a traceback or a wrong result with exit status 0: a full
disk during a dump, short-decoding videos, tampered finished videos, reused run folders, file
modes, crafted model configs, keypoint JSON and frame folders."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from lstm_probe.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from lstm_probe.cli import main
from lstm_probe.config import load_config
from lstm_probe.data.video import open_video, read_keypoints_json
from lstm_probe.engine.dump import dump_videos
from lstm_probe.engine.train import TrainingError, train
from lstm_probe.models import build_model
from lstm_probe.models.config import ModelConfig
from lstm_probe.probe.inspect import check_dump
from lstm_probe.utils import InputError

ROOT = Path(__file__).resolve().parents[1]

# Runs the console script under a file-size limit (a full disk, as HDF5 meets it); "hdf5" lets the
# write reach HDF5 itself instead of being refused first by the writer's room check.
LIMITED = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), int(sys.argv[1])))
import lstm_probe.probe.store as S
if sys.argv[2] == "hdf5":
    S.VideoDumpWriter._room_for = lambda self, rows: None
sys.argv = ["lstm-probe", *sys.argv[3:]]
from lstm_probe.cli import run
run()
"""


@pytest.mark.slow
@pytest.mark.parametrize("where", ["writer", "hdf5"])
def test_full_disk_during_a_dump_is_a_clear_error_and_resumes(where, tmp_path, tiny_checkpoint):
    out = tmp_path / "dump"
    args = ["dump", str(tiny_checkpoint), "--data", "synthetic:test:2:6", "--out", str(out),
            "--no-progress", "--accel", "plain"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-c", LIMITED, "60000", where, *args], env=env,
                       capture_output=True, text=True, timeout=300)  # fmt: skip
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])  # not 139 (segmentation fault)
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "writing failed: File too large" in lines[0] and "resume" in lines[0]
    assert not list((out / "videos").glob("*.tmp"))  # nothing half-written left
    assert main(args) == 0  # the same command, with room: resumes and completes
    assert check_dump(out)["ok"]


def _avi(path: Path, frames: int, keep: float = 1.0) -> Path:
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    rng = np.random.default_rng(0)
    for _ in range(frames):
        w.write(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    w.release()
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def test_a_video_whose_later_frames_do_not_decode_fails_unless_accepted(tmp_path, capsys):
    short = _avi(tmp_path / "short.avi", 20, keep=0.5)
    with pytest.raises(InputError, match=r"only \d+ of the 20 frames its header announces"):
        list(open_video(short).frames())
    assert 0 < len(list(open_video(short, accept_short=True).frames())) < 20
    assert len(list(open_video(_avi(tmp_path / "full.avi", 20)).frames())) == 20


def test_dump_of_a_short_video_keeps_nothing_unless_accepted(tmp_path, tiny_checkpoint, capsys):
    short = _avi(tmp_path / "short.avi", 20, keep=0.5)
    out = tmp_path / "d"
    args = ["dump", str(tiny_checkpoint), "--data", str(short), "--out", str(out), "--no-progress"]
    assert main(args) == 2
    assert "of the 20 frames" in capsys.readouterr().err
    entry = json.loads((out / "manifest.json").read_text())["videos"][0]
    assert entry["status"] == "partial" and not list((out / "videos").iterdir())
    assert main([*args, "--accept-short"]) == 0
    entry = json.loads((out / "manifest.json").read_text())["videos"][0]
    assert entry["status"] == "done" and 0 < entry["num_frames"] < 20


def test_resume_redoes_a_finished_video_whose_file_changed(tmp_path, tiny_checkpoint):
    from lstm_probe.data import SyntheticVideos

    videos = list(SyntheticVideos(split="test", num_videos=2, num_frames=4))
    out = dump_videos(tiny_checkpoint, videos, tmp_path / "d", progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    first, second = (out / e["file"] for e in manifest["videos"])
    good, untouched = first.read_bytes(), second.stat().st_mtime_ns
    damaged = bytearray(good)
    damaged[len(damaged) // 2] ^= 0xFF  # a flipped byte in the middle of the data
    first.write_bytes(bytes(damaged))
    dump_videos(tiny_checkpoint, videos, out, progress=False)
    assert first.read_bytes() == good  # redone: the same bytes as the first time
    assert second.stat().st_mtime_ns == untouched  # the intact one was not touched


def test_resume_checks_size_and_hash_and_reads_older_entries(tmp_path, tiny_checkpoint):
    """A finished video is trusted by its size and XXH3 hash; entries of older dumps (size and
    CRC-32; sha256 alone) are verified as they were written."""
    from lstm_probe.data import SyntheticVideos
    from lstm_probe.utils import crc32_file, sha256_file, xxh3_file

    videos = list(SyntheticVideos(split="test", num_videos=2, num_frames=4))
    out = dump_videos(tiny_checkpoint, videos, tmp_path / "d", progress=False)
    mpath = out / "manifest.json"
    manifest = json.loads(mpath.read_text())
    first, second = (dict(e) for e in manifest["videos"])
    assert first["bytes"] == (out / first["file"]).stat().st_size
    assert first["xxh3"] == xxh3_file(out / first["file"]) and len(first["xxh3"]) == 16
    stamps = [(out / e["file"]).stat().st_mtime_ns for e in manifest["videos"]]
    for older in ("crc32", "sha256"):  # as dumps made before XXH3, and before sizes
        for e in manifest["videos"]:
            path = out / e["file"]
            e.pop("xxh3", None), e.pop("crc32", None)
            if older == "crc32":
                e["crc32"] = crc32_file(path)
            else:
                e["sha256"] = sha256_file(path)
                del e["bytes"]
        mpath.write_text(json.dumps(manifest))
        dump_videos(tiny_checkpoint, videos, out, progress=False)
        assert [(out / e["file"]).stat().st_mtime_ns for e in manifest["videos"]] == stamps
        kept = json.loads(mpath.read_text())["videos"]
        assert [e.get(older) for e in kept] == [e[older] for e in manifest["videos"]]
    path = out / second["file"]  # a byte appended: the sha256 differs, the video is redone
    path.write_bytes(path.read_bytes() + b"\0")
    dump_videos(tiny_checkpoint, videos, out, progress=False)
    assert (out / first["file"]).stat().st_mtime_ns == stamps[0]
    entry = json.loads(mpath.read_text())["videos"][1]
    assert entry["bytes"] == path.stat().st_size == second["bytes"] and "sha256" not in entry
    assert entry["xxh3"] == xxh3_file(path)
    path.write_bytes(path.read_bytes()[:-1] + b"\1")  # the same size, one byte changed
    dump_videos(tiny_checkpoint, videos, out, progress=False)
    assert xxh3_file(path) == json.loads(mpath.read_text())["videos"][1]["xxh3"] == entry["xxh3"]


def test_a_used_run_folder_needs_resume_or_overwrite(tmp_path, capsys):
    cfg = load_config("tiny_cpu", ["--optim.steps=2"])
    run = tmp_path / "run"
    train(cfg, run, progress=False)
    with pytest.raises(TrainingError, match="already holds a run"):
        train(cfg, run, progress=False)
    train(cfg, run, progress=False, overwrite=True)
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2]  # never duplicated


def test_resuming_a_run_killed_before_its_first_checkpoint_drops_its_log(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text('{"step": 1, "loss": 1.0}\n{"step": 2, "loss": 1.0}\n')
    train(load_config("tiny_cpu", ["--optim.steps=2"]), run, resume=True, progress=False)
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2]


def test_files_written_share_one_mode(tmp_path, tiny_checkpoint):
    from lstm_probe.data import SyntheticVideos

    dump_videos(tiny_checkpoint, list(SyntheticVideos(num_videos=1, num_frames=3)),
                      tmp_path / "d", progress=False)  # fmt: skip
    train(load_config("tiny_cpu", ["--optim.steps=1"]), tmp_path / "run", progress=False)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    modes = {p.relative_to(tmp_path).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in files}
    assert {"d/manifest.json", "run/checkpoint.pt", "run/config.json"} <= set(modes)
    assert len(set(modes.values())) == 1, modes
    assert modes["run/checkpoint.pt"] == 0o666 & ~_umask()


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("hidden_channels", 10**9, "hidden_channels must be a whole number in 1..1024"),
        ("input_size", -368, "input_size must be a whole number in 16..2048"),
        ("image_kernel", "9", "image_kernel must be a whole number"),
        ("stages", True, "stages must be a whole number"),
        ("dropout", "a lot", "dropout must be a number"),
        ("gate_bias_init", [0, 1], "gate_bias_init must be 4 numbers"),
    ],
)
def test_a_checkpoint_with_an_impossible_config_is_refused(field, value, message, tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", build_model("lstm_pm", "tiny"), preset="tiny")
    payload = read_checkpoint(path)
    payload["model"]["config"][field] = value
    torch.save(payload, path)
    with pytest.raises(InputError, match=message):
        load_checkpoint(path)
    payload["model"]["config"] = "a string where a table is expected"
    torch.save(payload, path)
    with pytest.raises(InputError, match="a model config is a table"):
        load_checkpoint(path)


def test_presets_pass_their_own_bounds():
    from lstm_probe.models import PRESETS

    for config in PRESETS.values():
        assert ModelConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    "doc, message",
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"frames": [{"index": true, "keypoints": []}]}', "index True outside"),
        (
            json.dumps(
                {"joints": ["head"], "frames": [{"index": 0, "keypoints": [[1e300, 0, 1]]}]}
            ),
            "beyond",
        ),
    ],
)
def test_keypoint_json_with_absurd_content_is_refused(doc, message, tmp_path):
    path = tmp_path / "k.json"
    path.write_text(doc)
    with pytest.raises(InputError, match=message) as e:
        read_keypoints_json(path, 3)
    assert str(path) in str(e.value)


def test_a_frame_folder_with_mixed_sizes_names_the_odd_frame(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for t, size in enumerate([(32, 32), (32, 32), (40, 32)]):
        cv2.imwrite(str(folder / f"{t:03d}.png"), np.zeros((size[1], size[0], 3), np.uint8))
    with pytest.raises(InputError, match=r"002.png: frame is 40×32, the video's frames are 32×32"):
        list(open_video(folder).frames())


def test_two_sources_with_one_video_id_never_share_a_dump(tmp_path, tiny_checkpoint, capsys):
    for name in ("a", "b"):
        (tmp_path / name / "clip").mkdir(parents=True)
        for t in range(3):
            cv2.imwrite(str(tmp_path / name / "clip" / f"{t}.png"), np.zeros((32, 32, 3), np.uint8))
    out = tmp_path / "d"
    base = ["dump", str(tiny_checkpoint), "--out", str(out), "--no-progress"]
    assert main([*base, "--data", str(tmp_path / "a" / "clip")]) == 0
    before = (out / "videos" / "clip.h5").read_bytes()
    assert main([*base, "--data", str(tmp_path / "b" / "clip")]) == 2
    assert "already holds a video 'clip' from" in capsys.readouterr().err
    assert (out / "videos" / "clip.h5").read_bytes() == before


def _corrupt(path: Path, text: bytes = b"\x00not what it claims\xff" * 64) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text)
    return path


@pytest.mark.parametrize(
    "command",
    [
        ["info", "--preset", "huge"],
        ["train", "{bad_yaml}", "--out", "{out}"],
        ["dump", "{bad_ckpt}", "--out", "{out}", "--data", "synthetic:test:1:3"],
        ["dump", "{ckpt}", "--out", "{out}", "--data", "{bad_video}"],
        ["eval", "{bad_ckpt}", "--data", "synthetic:test:1:3"],
        ["infer", "{ckpt}", "{bad_video}", "--out", "{out}/x"],
        ["inspect", "{bad_dump}"],
        ["figures", "{bad_dump}", "--out", "{out}"],
        ["dashboard", "{bad_dump}"],
        ["ablate", "{bad_ckpt}", "--channels", "1", "--data", "synthetic:test:1:3"],
        ["import-caffe", "{bad_caffe}", "--out", "{out}/c.pt"],
        ["bench", "nothing"],
    ],
)
def test_every_subcommand_refuses_bad_input_in_one_line(command, tmp_path, tiny_checkpoint, capsys):
    files = {
        "ckpt": str(tiny_checkpoint),
        "bad_ckpt": str(_corrupt(tmp_path / "bad.pt")),
        "bad_yaml": str(_corrupt(tmp_path / "bad.yaml", b"model: [unclosed\n")),
        "bad_video": str(_corrupt(tmp_path / "bad.mp4")),
        "bad_caffe": str(_corrupt(tmp_path / "bad.caffemodel")),
        "bad_dump": str(tmp_path / "dump"),
        "out": str(tmp_path / "out"),
    }
    _corrupt(tmp_path / "dump" / "manifest.json", b'{"format": "lstm-probe-dump", "videos": 7}')
    argv = [a.format(**files) for a in command]
    try:
        rc = main(argv)
    except SystemExit as e:  # argparse: a malformed option
        rc = e.code
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert rc == 2, (argv, err)
    assert "Traceback" not in "\n".join(err)
    named = [v for k, v in files.items() if v in argv and k.startswith("bad")]
    assert all(any(n in line for line in err) for n in named), (named, err)
    assert len([line for line in err if "error" in line]) == 1
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.tmp"))
