"""The fast inference path: modes, their numbers against plain fp32, dumps made with them, the
block-buffered dump writer, and the ``bench`` command."""

import copy
import json

import cv2
import h5py
import numpy as np
import pytest
import torch
from torch import nn

from lstm_probe.bench import probe_cost
from lstm_probe.checkpoint import packaged_checkpoint
from lstm_probe.cli import main
from lstm_probe.data import SyntheticVideos
from lstm_probe.engine import accel as accel_mod
from lstm_probe.engine.accel import Accel, accel_of, resolve_accel
from lstm_probe.engine.dump import DumpOptions, dump_videos
from lstm_probe.engine.infer import load_for_inference
from lstm_probe.engine.stream import crops_for, stream_video
from lstm_probe.models import build_model
from lstm_probe.models.layers import ImageTrunk, pool
from lstm_probe.probe.inspect import check_dump
from lstm_probe.probe.store import (
    VideoDumpWriter,
    map_stats,
    open_dump,
    source_jpeg_size,
    writer_in_background,
    writer_lanes,
)
from lstm_probe.utils import InputError


def _stream(model, frames, accel):
    state, beliefs, cells = None, [], []
    with torch.inference_mode():
        for f in frames:
            with accel.autocast("cpu"):
                out = model.step(accel.input(f), state)
            state = out.state
            beliefs.append(out.belief.float())
            cells.append(state.cell)
    return beliefs, cells


def test_resolve_accel(monkeypatch):
    assert resolve_accel(None, "cpu") == Accel("plain")
    assert resolve_accel("fp32", "cpu").channels_last
    monkeypatch.setattr(accel_mod, "bf16_native", lambda device: False)
    assert resolve_accel("auto", "cpu").mode == "fp32"
    with pytest.raises(ValueError, match="no native bf16"):
        resolve_accel("bf16", "cpu")
    monkeypatch.setattr(accel_mod, "bf16_native", lambda device: True)
    assert resolve_accel("auto", "cpu").mode == "bf16"
    with pytest.raises(ValueError, match="must be one of"):
        resolve_accel("fast", "cpu")
    with pytest.raises(ValueError):
        Accel("auto")  # resolved modes only


def test_pool_then_relu_equals_the_reference_order():
    """ImageTrunk pools before its ReLU: the same numbers as the reference's ReLU-then-pool."""
    torch.manual_seed(0)
    trunk = build_model("lstm_pm", "tiny").encoder.trunk
    assert isinstance(trunk, ImageTrunk)
    convs = [m for m in trunk if isinstance(m, nn.Conv2d)]
    reference = nn.Sequential(*(m for c in convs for m in (c, nn.ReLU(), pool())))
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(trunk(x), reference(x))


@pytest.mark.parametrize("name", ["lstm_pm", "rpm", "cpm"])
def test_fp32_fast_path_matches_plain(name):
    torch.manual_seed(0)
    plain = build_model(name, "small").eval()
    fast = Accel("fp32").prepare(copy.deepcopy(plain))
    assert accel_of(fast).mode == "fp32" and accel_of(plain).mode == "plain"
    assert Accel("fp32").prepare(fast) is fast  # once only: hooks are not added twice
    with pytest.raises(ValueError, match="already prepared"):
        Accel("bf16").prepare(fast)
    frames = [torch.rand(1, 3, 128, 128) - 0.5 for _ in range(3)]
    ref, _ = _stream(plain, frames, Accel())
    got, _ = _stream(fast, frames, Accel("fp32"))
    for a, b in zip(ref, got):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5 * a.abs().max().item())


def test_bf16_keeps_the_memory_in_fp32_and_stays_close():
    """Convolutions in bf16, the gates and the cell state in fp32, beliefs near the fp32 ones."""
    torch.manual_seed(0)
    plain = build_model("lstm_pm", "small").eval()
    fast = Accel("bf16").prepare(copy.deepcopy(plain))
    assert all(m.weight.dtype == torch.bfloat16 for m in fast.modules() if isinstance(m, nn.Conv2d))
    assert fast.lstm.f_bias.dtype == torch.float32
    frames = [torch.rand(1, 3, 128, 128) - 0.5 for _ in range(4)]
    ref, ref_cells = _stream(plain, frames, Accel())
    got, cells = _stream(fast, frames, Accel("bf16"))
    assert all(c.dtype == torch.float32 for c in cells)
    for a, b in zip(ref, got):
        assert (a - b).abs().max() <= 0.05 * a.abs().max()
    for a, b in zip(ref_cells, cells):
        assert (a - b).abs().max() <= 0.05 * a.abs().max()


def test_bf16_stream_of_the_demo_model_finds_the_same_joints():
    video = SyntheticVideos(split="test", num_videos=1, num_frames=8, occluder_prob=1.0)[0]
    runs = {}
    for mode in ("plain", "bf16"):
        model, _, policy, codec = load_for_inference(packaged_checkpoint(), "cpu", Accel(mode))
        runs[mode] = list(stream_video(model, video, crops_for(video, policy), codec, "cpu"))
    for a, b in zip(runs["plain"], runs["bf16"]):
        assert b.belief.dtype == torch.float32
        assert (a.belief - b.belief).abs().max() < 0.03
        sure = a.confidence > 0.3
        assert np.abs(a.keypoints[sure] - b.keypoints[sure]).max() < 2.0  # frame pixels


def test_compiled_step_matches_eager():
    torch.manual_seed(0)
    plain = build_model("lstm_pm", "tiny").eval()
    fast = Accel("fp32", compile=True).prepare(copy.deepcopy(plain))
    frames = [torch.rand(1, 3, 64, 64) - 0.5 for _ in range(3)]
    ref, _ = _stream(plain, frames, Accel())
    got, state = [], None
    with torch.inference_mode():
        for f in frames:
            state = fast.compiled_step(Accel("fp32").input(f), state).state
            got.append(state.belief)
    for a, b in zip(ref, got):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5)


def test_bf16_dump_keeps_the_memory_identities(tiny_checkpoint, tiny_dump, tmp_path):
    videos = list(SyntheticVideos(split="test", num_videos=2, num_frames=8, occluder_prob=1.0))
    options = DumpOptions(accel=Accel("bf16"))
    out = dump_videos(tiny_checkpoint, videos, tmp_path / "d", options, progress=False)
    assert check_dump(out)["ok"]
    fast, plain = open_dump(out), open_dump(tiny_dump)
    assert [v["accel"] for v in fast.manifest["videos"]] == ["bf16", "bf16"]
    assert [v["accel"] for v in plain.manifest["videos"]] == ["plain", "plain"]
    for vid in fast.video_ids:
        a = fast.video(vid).memory[()].astype(np.float32)
        b = plain.video(vid).memory[()].astype(np.float32)
        assert np.abs(a - b).max() <= 0.05 * np.abs(b).max()
    fast.close(), plain.close()


def _writer(path, **kw):
    return VideoDumpWriter(path, "v", 2, 4, 14, (32, 24), {}, labelled=False, **kw)


@pytest.mark.parametrize("n", [1, 9, 10])
def test_block_writer_stores_every_frame_in_order(tmp_path, n, write_mode):
    rng = np.random.default_rng(0)
    w = _writer(tmp_path / "v.h5", block=4, **write_mode)
    memory = rng.normal(size=(n, 3, 2, 4, 4)).astype(np.float16)  # the stored phases
    frames = np.stack([np.full((24, 32, 3), 20 * t + 5) for t in range(n)]).astype(np.uint8)
    for t in range(n):
        w.append(t + 3, frames[t], memory[t], np.zeros((15, 4, 4), np.float32),
                 np.full((14, 2), t, np.float32), np.ones(14, np.float32), np.eye(2, 3))  # fmt: skip
    w.close()
    assert not (tmp_path / "v.h5.tmp").exists()
    with h5py.File(tmp_path / "v.h5") as f:
        assert f.attrs["num_frames"] == n and f.attrs["first_frame"] == 3
        np.testing.assert_array_equal(f["memory"][()], memory)
        np.testing.assert_array_equal(f["keypoints"][:, 0, 0], np.arange(n))
        assert f["stats"].shape == (n, 4, 2, 7) and len(f["frames"]) == n
        for t in (0, n - 1):  # flat frames, in order
            img = cv2.imdecode(f["frames"][t], cv2.IMREAD_COLOR)
            assert np.abs(img.astype(int) - frames[t]).max() <= 2


def test_a_source_jpeg_is_kept_only_if_it_holds_the_image_alone():
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.integers(0, 256, (32, 48, 3), dtype=np.uint8), (5, 5), 2)
    jpeg = cv2.imencode(".jpg", img)[1].tobytes()
    progressive = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes()
    adobe = b"\xff\xee\x00\x0eAdobe\x00\x64\x00\x00\x00\x00\x01"  # colour transform: YCbCr
    kept = [jpeg, progressive, cv2.imencode(".jpg", img[:, :, 0])[1].tobytes(),
            cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_RST_INTERVAL, 2])[1].tobytes(),
            jpeg[:2] + adobe + jpeg[2:], jpeg[:-2] + b"\xff\xff\xd9"]  # fmt: skip
    for data in kept:
        assert source_jpeg_size(data) == (48, 32)
    second_scan = progressive.index(b"\xff\xda", progressive.index(b"\xff\xda") + 2)
    app0 = jpeg.index(b"JFIF")
    sof = jpeg.index(b"\xff\xc0")

    def changed(at: int, value: int) -> bytes:
        b = bytearray(jpeg)
        b[at] = value
        return bytes(b)

    refused = {
        "EXIF": jpeg[:2] + b"\xff\xe1\x00\x08Exif\x00\x00" + jpeg[2:],
        "a comment": jpeg[:2] + b"\xff\xfe\x00\x07owner" + jpeg[2:],
        "a comment between scans": progressive[:second_scan]
        + b"\xff\xfe\x00\x05GPS"
        + progressive[second_scan:],
        "data after the image": jpeg + b"PK\x03\x04",
        "a second image after it": jpeg + jpeg,
        "a JFIF thumbnail's size": changed(app0 + 12, 4),
        "12-bit samples": changed(sof + 4, 12),
        "a lossless frame": changed(sof + 1, 0xC3),
        "cut short": jpeg[: len(jpeg) // 2],
        "PNG": cv2.imencode(".png", img)[1].tobytes(),
        "nothing": b"",
    }
    for what, data in refused.items():
        assert source_jpeg_size(data) is None, what


def test_block_writer_keeps_only_plain_source_jpegs_of_the_frames_size(tmp_path, write_mode):
    w = _writer(tmp_path / "v.h5", block=3, **write_mode)
    frame = np.full((24, 32, 3), 128, np.uint8)
    same = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 50])[1].tobytes()
    other = cv2.imencode(".jpg", np.zeros((10, 10, 3), np.uint8))[1].tobytes()
    comment = same[:2] + b"\xff\xfe\x00\x07owner" + same[2:]  # a COM segment: metadata
    sources = [other, b"not a JPEG", same[:40], comment, same, None]
    for t, source in enumerate(sources):
        w.append(t, frame, np.zeros((3, 2, 4, 4), np.float32), np.zeros((15, 4, 4)),
                 np.zeros((14, 2)), np.zeros(14), np.eye(2, 3), source_jpeg=source)  # fmt: skip
    w.close()
    with h5py.File(tmp_path / "v.h5") as f:
        assert f.attrs["frames_from_source"] == 1
        stored = [np.asarray(b) for b in f["frames"][()]]
    assert stored[4].tobytes() == same
    for t in (0, 1, 2, 3, 5):  # encoded anew at quality 90, from the frame
        assert stored[t].tobytes() not in (same, comment)
        assert cv2.imdecode(stored[t], cv2.IMREAD_COLOR).shape == (24, 32, 3)


@pytest.mark.parametrize("bad", [0, 1])
def test_block_writer_error_surfaces_and_abort_leaves_nothing(tmp_path, write_mode, bad):
    """A frame that cannot be encoded fails its block: at the frame that fills it (written in
    the caller's thread, by the caller's lane or another) or at a later one (in the
    background); the lanes hand torch its threads back."""
    threads = torch.get_num_threads()
    w = _writer(tmp_path / "v.h5", block=2, **write_mode)
    good = (np.zeros((3, 2, 4, 4), np.float16), np.zeros((15, 4, 4)), np.zeros((14, 2)),
            np.zeros(14), np.eye(2, 3))  # fmt: skip
    with pytest.raises(InputError, match=f"frame {bad} could not be encoded"):
        for t in range(6):
            w.append(t, np.zeros((0, 0, 3) if t == bad else (24, 32, 3), np.uint8), *good)
        w.close()
    w.abort()
    assert not list(tmp_path.iterdir())
    assert torch.get_num_threads() == threads


def test_bench_command_runs_every_benchmark_quickly(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    for part in ("speed-up", "C=fC+ig err", "recording", "loader alone", "frame change"):
        assert part in text
    res = json.loads(out.read_text())
    assert set(res) == {"streaming", "fast", "probe", "train", "dashboard"}
    assert {r["accel"] for r in res["fast"]["rows"]} >= {"plain", "fp32"}
    assert all(r["pck_diff"] == 0 or abs(r["pck_diff"]) < 5 for r in res["fast"]["rows"])
    lanes = writer_lanes()
    one_lane = {probe_cost.ONE_LANE} if lanes > 1 else set()  # what the lanes gain
    assert set(res["probe"]["fps"]) == {"plain", "recording", "detached", "dump", *one_lane}
    assert res["probe"]["writer"] == {"background": writer_in_background(), "lanes": lanes}
    assert (f"the {lanes} lanes against 1" in text) == (lanes > 1)
    from lstm_probe.probe.store import WRITER_STAGES

    assert set(res["probe"]["dump_stages_ms"]) == {*WRITER_STAGES, "fingerprint", "manifest"}
    kib = res["probe"]["dump_kib_per_frame"]  # the tiny quick model: 3 phases of 8 × 8² float16
    assert kib["memory"] <= kib["file"] and "KiB per frame" in text
    jpeg = res["probe"]["frame_jpeg_ms"]  # the JPEG stage both ways: encoded, or a file kept
    assert jpeg["encoded"] > 0 and jpeg["kept"] > 0 and "a frame's JPEG stage: encoded" in text
    assert "by stage" in text
    assert main(["bench", "nonsense"]) == 2


def test_dumped_statistics_describe_the_dumped_memory(tiny_dump):
    """Stats are computed from the float32 maps before rounding: they match the stored float16
    memory within its rounding, and the arg-max position exactly where the peak is clear."""
    dump = open_dump(tiny_dump)
    v = dump.video(dump.video_ids[0])
    memory, stats = v.memory[()].astype(np.float32), v.stats
    again = map_stats(memory)
    scale = np.abs(memory).max()
    for k in range(5):  # mean, |mean|, min, max: values; energy: a sum of squares
        tol = 2e-3 * scale * (scale * memory.shape[-1] ** 2 if k == 4 else 1)
        assert np.abs(stats[..., k] - again[..., k]).max() <= tol
    agree = (stats[..., 5:] == again[..., 5:]).all(-1).mean()
    assert agree > 0.9  # ties after float16 rounding may move a few arg-maxes
    dump.close()


def test_cli_dump_runs_the_fast_path_by_default(tiny_checkpoint, tmp_path):
    """`lstm-probe dump` resolves --accel auto for this machine and records it; --accel plain is
    the reference mode."""
    for extra, expected in (
        ([], resolve_accel("auto", "cpu").mode),
        (["--accel", "plain"], "plain"),
    ):
        out = tmp_path / expected
        argv = ["dump", str(tiny_checkpoint), "--data", "synthetic:test:1:4", "--out", str(out)]
        assert main(argv + ["--device", "cpu", "--no-progress", *extra]) == 0
        dump = open_dump(out)
        assert [v["accel"] for v in dump.manifest["videos"]] == [expected]
        dump.close()
        assert check_dump(out)["ok"]


def test_streaming_bench_reports_every_model_and_mode():
    from lstm_probe.bench import streaming
    from lstm_probe.models import frame_flops

    r = streaming.run(["tiny"], ["plain", "fp32"], frames=3, peak_size=32, rounds=1)
    rows = r["rows"]
    for mode in ("plain", "fp32"):
        timed = [x for x in rows if x["accel"] == mode and "ms" in x]
        assert [x["model"] for x in timed] == ["LSTM PM frame 1", "LSTM PM t>1", "CPM"]
        assert all(x["ms"] > 0 and 0 < x["peak_fraction"] for x in timed)
        (ratio,) = [x for x in rows if x["accel"] == mode and "ratio" in x]
        later = frame_flops(build_model("lstm_pm", "tiny"), 2)[1]
        assert ratio["flop_ratio"] == pytest.approx(
            frame_flops(build_model("cpm", "tiny"), 1)[0] / later
        )
        assert ratio["ratio"] == pytest.approx(timed[2]["ms"] / timed[1]["ms"])
    assert set(r["conv_peak_gflops_per_s"]) == {"plain", "fp32"}
    assert "speed-up" in streaming.report(r)
