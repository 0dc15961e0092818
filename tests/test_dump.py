import json

import cv2
import h5py
import numpy as np
import pytest
import torch

from lstm_probe.checkpoint import load_checkpoint
from lstm_probe.cli import main
from lstm_probe.data import SyntheticVideos
from lstm_probe.engine.dump import dump_videos
from lstm_probe.probe.analysis import analyse_channels
from lstm_probe.probe.inspect import check_dump, memory_identity_errors
from lstm_probe.probe.recorder import MemoryProbe
from lstm_probe.probe.store import open_dump
from lstm_probe.transforms.geometric import to_network_input, warp_frame
from lstm_probe.utils import InputError
from lstm_probe.viz.overlay import map_to_frame


def test_dump_round_trip_and_identities(tiny_dump):
    dump = open_dump(tiny_dump)
    man = dump.manifest
    assert man["format_version"] == 2 and man["channels"] == 8 and man["grid_size"] == 8
    assert len(man["checkpoint"]["sha256"]) == 64
    assert all(v["status"] == "done" for v in man["videos"])
    v = dump.video(dump.video_ids[0])
    assert v.memory.shape == (8, 4, 8, 8, 8) and v.memory.dtype == np.float16
    # stored: forget_term, input_term, cell; chunks of eight channels of a frame, all of them
    assert v.memory.stored.shape == (8, 3, 8, 8, 8) and v.memory.stored.chunks == (1, 3, 8, 8, 8)
    assert list(v.memory.stored.attrs["phases"]) == ["forget_term", "input_term", "cell"]
    assert np.array_equal(v.memory[1:, 0], v.memory[:-1, 3])  # prev_cell: the cell before
    assert v.keypoints.shape == (8, 14, 2) and v.keypoints_gt.shape == (8, 14, 2)
    video = SyntheticVideos(split="test", num_videos=2, num_frames=8, occluder_prob=1.0)[0]
    assert np.allclose(v.bbox, video.annotations.bbox)  # the PCK normaliser travels with the dump
    assert v.flags["occluded"].shape == (8, 14) and v.flags["cue_visible"].shape == (8,)
    assert v.frame_image(0).shape == (160, 160, 3)
    e_sum, e_chain = memory_identity_errors(v.memory[()])
    assert e_sum < 2e-3 and e_chain == 0
    assert not v.memory[0, :2].any()
    assert check_dump(tiny_dump)["ok"]
    with h5py.File(v.path) as f:  # nothing pickled: only numeric and string data

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                assert obj.dtype.kind in "fiubO" and (obj.dtype.kind != "O" or name == "frames")

        f.visititems(visit)


def test_stored_memory_equals_the_clip_forward(tiny_checkpoint, tiny_dump):
    """Streaming dump == clip forward on the same crops."""
    model, _ = load_checkpoint(tiny_checkpoint)
    dump = open_dump(tiny_dump)
    v = dump.video(dump.video_ids[0])
    video = SyntheticVideos(split="test", num_videos=2, num_frames=8, occluder_prob=1.0)[0]
    from lstm_probe.transforms.geometric import compose, grid_to_crop, invert

    crops = []
    for t in range(8):
        frame_to_crop = invert(compose(v.grid_to_frame[t], invert(grid_to_crop(8))))
        crops.append(warp_frame(video.frame(t), frame_to_crop, 64))
    x = to_network_input(np.stack(crops))[None]
    with torch.no_grad(), MemoryProbe(model, ["cell"]) as p:
        model(x)
    ref = p.stacked("cell")[:, 0].numpy()
    stored = v.memory[:, 3].astype(np.float32)
    assert np.abs(stored - ref).max() <= 2e-3 * max(1, np.abs(ref).max())


def test_grid_point_lands_on_the_right_frame_pixel():
    g2f = np.array([[8.0, 0.0, 20.5], [0.0, 8.0, 10.5]])  # grid (gx, gy) -> frame
    m = np.zeros((8, 8), np.float32)
    m[2, 5] = 1.0
    on_frame = map_to_frame(m, g2f, (100, 90))
    y, x = np.unravel_index(np.nanargmax(on_frame), on_frame.shape)
    assert (x, y) == (int(20.5 + 5 * 8), int(10.5 + 2 * 8)) or (
        abs(x - 60.5) <= 1 and abs(y - 26.5) <= 1
    )
    assert np.isnan(on_frame[0, 0])  # outside the crop


def test_interrupted_dump_resumes_and_keeps_finished_files(tiny_checkpoint, tmp_path, monkeypatch):
    videos = list(SyntheticVideos(split="test", num_videos=3, num_frames=6))
    out = tmp_path / "d"
    import lstm_probe.engine.dump as D

    real = D._dump_one
    calls = {"n": 0}

    def flaky(*a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        return real(*a, **k)

    monkeypatch.setattr(D, "_dump_one", flaky)
    with pytest.raises(OSError):
        dump_videos(tiny_checkpoint, videos, out, progress=False)
    man = json.loads((out / "manifest.json").read_text())
    assert [v["status"] for v in man["videos"]] == ["done", "partial"]
    first = (out / man["videos"][0]["file"]).read_bytes()
    assert not list((out / "videos").glob("*.tmp"))  # the partial file was removed
    monkeypatch.setattr(D, "_dump_one", real)
    dump_videos(tiny_checkpoint, videos, out, progress=False)
    man = json.loads((out / "manifest.json").read_text())
    assert [v["status"] for v in man["videos"]] == ["done"] * 3
    assert (out / man["videos"][0]["file"]).read_bytes() == first


def test_reader_refuses_other_versions_and_foreign_dirs(tiny_dump, tmp_path):
    with pytest.raises(InputError, match="no manifest"):
        open_dump(tmp_path)
    bad = tmp_path / "bad"
    bad.mkdir()
    man = json.loads((tiny_dump / "manifest.json").read_text())
    man["format_version"] = 99
    (bad / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(InputError, match="version 99"):
        open_dump(bad)
    man["format_version"] = 1
    man["videos"][0]["file"] = "../../etc/passwd"
    (bad / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(InputError, match="outside the dump"):
        open_dump(bad).video(man["videos"][0]["video_id"])


def test_channel_analysis_finds_a_joint_channel(tiny_dump):
    dump = open_dump(tiny_dump)
    v = dump.video(dump.video_ids[0])
    rep = analyse_channels([v])
    assert rep.scores.shape == (8, 14) and len(rep.labels) == 8
    # a channel that lights up only at the right wrist is labelled so; a flat one is global
    F, J = 6, 14
    kp = np.stack([np.array([[(j % 4) * 2, (j // 4) * 2] for j in range(J)], np.float32)] * F)
    mem = np.zeros((F, 4, 2, 8, 8), np.float16)
    wx, wy = kp[0, 4].astype(int)
    mem[:, 3, 0, wy, wx] = 1.0
    mem[:, 3, 1] = 1.0

    class Fake:
        memory, keypoints_gt, keypoints = mem, kp, kp
        grid_to_frame = np.tile(np.array([[1.0, 0, 0], [0, 1.0, 0]], np.float32), (F, 1, 1))
        stats = np.zeros((F, 4, 2, 7), np.float32)

    rep = analyse_channels([Fake()])
    assert rep.labels[0] == "right_wrist" and rep.labels[1] == "global"
    assert rep.scores[0, 4] == pytest.approx(64.0, rel=1e-3)


def test_cli_dump_inspect_figures_and_errors(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "d"
    assert (
        main(
            [
                "dump",
                str(tiny_checkpoint),
                "--data",
                "synthetic:test:1:5",
                "--out",
                str(out),
                "--channels",
                "0,3",
                "--gates",
                "--no-progress",
            ]
        )
        == 0
    )
    v = open_dump(out).video(open_dump(out).video_ids[0])
    assert v.memory.shape[2] == 2 and v.array("gates").shape == (5, 4, 2, 8, 8)
    assert main(["inspect", str(out)]) == 0
    assert "all checks passed" in capsys.readouterr().out
    assert main(["figures", str(out), "--out", str(tmp_path / "fig"), "--format", "pdf"]) == 0
    assert len(list((tmp_path / "fig").glob("*.pdf"))) == 2
    assert main(["dump", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "x")]) == 2
    assert "missing.pt: checkpoint file not found" in capsys.readouterr().err
    assert main(["inspect", str(tmp_path)]) == 2


def test_overlay_colours_and_transparency():
    from matplotlib import colormaps

    from lstm_probe.viz.overlay import overlay

    frame = np.full((4, 4, 3), 100, np.uint8)
    m = np.array([[1.0, -1.0, 0.0, np.nan]] * 4, np.float32)
    out = overlay(frame, m, (-1.0, 1.0), "RdBu_r", alpha=1.0)
    top = (np.array(colormaps["RdBu_r"](1.0)[:3]) * 255).round()
    bottom = (np.array(colormaps["RdBu_r"](0.0)[:3]) * 255).round()
    assert np.abs(out[0, 0].astype(int) - top).max() <= 2  # full weight at |m| = max
    assert np.abs(out[0, 1].astype(int) - bottom).max() <= 2
    assert np.array_equal(out[0, 3], frame[0, 3])  # NaN (outside the crop): the frame untouched
    half = overlay(frame, m, (-1.0, 1.0), "RdBu_r", alpha=0.5)
    assert np.abs(half[0, 0].astype(int) - (top + 100) / 2).max() <= 2


def test_jpeg_frame_files_are_stored_as_they_are(tiny_checkpoint, tmp_path):
    """A frame folder of JPEGs is dumped with each plain file's own bytes (exact: no second JPEG
    loss, no encoding); a JPEG with metadata (here EXIF) or a PNG is encoded anew from the
    decoded frame, so no location or owner tag travels into a dump."""
    from test_data import exif_segment

    from lstm_probe.data.video import open_video
    from lstm_probe.probe.store import source_jpeg_size

    rng = np.random.default_rng(0)
    frames = tmp_path / "clip"
    frames.mkdir()
    noise = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(4)]
    images = [cv2.GaussianBlur(n, (9, 9), 3) for n in noise]  # smooth: JPEG keeps them close
    files = [frames / f"{t:03d}.{ext}" for t, ext in enumerate(("jpg", "jpg", "png", "jpg"))]
    for path, img in zip(files, images):
        cv2.imwrite(str(path), img)
    jpeg = files[1].read_bytes()
    files[1].write_bytes(jpeg[:2] + exif_segment(1) + jpeg[2:])  # orientation 1: as stored
    out = dump_videos(tiny_checkpoint, [open_video(frames)], tmp_path / "d", progress=False)
    dump = open_dump(out)
    v = dump.video("clip")
    with h5py.File(v.path) as f:
        stored = [bytes(np.asarray(b)) for b in f["frames"][()]]
        assert f.attrs["frames_from_source"] == 2
    assert stored[0] == files[0].read_bytes() and stored[3] == files[3].read_bytes()
    assert stored[1] != files[1].read_bytes() and source_jpeg_size(stored[1]) == (64, 48)
    for t in (0, 3):  # the frame the model saw, bit for bit
        assert np.array_equal(v.frame_image(t), cv2.imread(str(files[t]))[:, :, ::-1])
    assert np.abs(v.frame_image(2).astype(int) - images[2][:, :, ::-1]).mean() < 3  # encoded
    assert v.frames_from_source == 2
    assert "clip: 4 frames 64×48, 2 frames as their files, C=f⊙C+i⊙g" in check_dump(out)["text"]
    dump.close()
    with h5py.File(v.path, "r+") as f:  # a count the file cannot hold is refused
        f.attrs["frames_from_source"] = 5
    with pytest.raises(InputError, match="frames_from_source"):
        open_dump(out).video("clip")
