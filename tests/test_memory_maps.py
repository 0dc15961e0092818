"""Format 2 stores the memory's three phases forget_term, input_term and cell; prev_cell is read
as the cell of the frame before. The reader's view must index like the four-phase array it
stands for, read only what a key needs, and read format-1 files (all four phases) alike."""

import json
import shutil

import h5py
import numpy as np
import pytest
import torch

from lstm_probe.engine.dump import DumpOptions, dump_model
from lstm_probe.engine.infer import load_for_inference
from lstm_probe.probe import store
from lstm_probe.probe.store import PHASES, DumpVideo, VideoDumpWriter, map_stats, open_dump
from lstm_probe.utils import InputError, xxh3_file

F, C, H = 11, 5, 4


@pytest.fixture
def stored(tmp_path):
    """(path, the stored phases (F, 3, C, h, w), the four-phase array they stand for)."""
    rng = np.random.default_rng(3)
    three = rng.standard_normal((F, 3, C, H, H)).astype(np.float32)
    path = tmp_path / "v.h5"
    w = VideoDumpWriter(path, "v", C, H, 2, (16, 16), {}, labelled=False, block=4)
    for t in range(F):
        w.append(t, np.zeros((16, 16, 3), np.uint8), three[t], np.zeros((3, H, H), np.float32),
                 np.zeros((2, 2), np.float32), np.ones(2, np.float32), np.eye(2, 3))  # fmt: skip
    w.close()
    half = torch.from_numpy(three).half().numpy()
    prev = np.concatenate([np.zeros_like(half[:1, 2]), half[:-1, 2]])[:, None]
    return path, three, np.concatenate([prev, half], axis=1)


KEYS = [
    (), 0, -1, 5, slice(2, 7), slice(None, None, 3), slice(5, 5), (3, 0), (0, 0), (0, 1),
    (slice(0, 1), 0), (slice(None), 0, 2), (4, slice(None), 1), (Ellipsis, 2), (Ellipsis, 1, 1),
    (slice(1, 9), slice(0, 2)), ([0, 3, 7], 0), (np.array([1, 2, 10]), slice(None), 1),
    (2, [0, 3]), (np.arange(F) % 3 == 0, 3), (7, 0, slice(1, 4), 2, slice(None)),
    (slice(None), 3), ([0, 1, 2, 9], slice(None), slice(0, 2), 1, 1), ([0, 10], 0),
    slice(None, None, -1), (slice(None), slice(3, 0, -2)), [3, 1], [3, 3], (0, [3, 0]),
]  # fmt: skip


@pytest.mark.parametrize("key", KEYS, ids=repr)
def test_memory_view_indexes_like_the_four_phase_array(stored, key):
    path, _, full = stored
    v = DumpVideo(path)
    got = v.memory[key]
    assert got.dtype == np.float16
    np.testing.assert_array_equal(got, full[key])
    v.close()


def test_memory_view_shape_whole_array_and_bad_keys(stored):
    path, three, full = stored
    v = DumpVideo(path)
    m = v.memory
    assert m.shape == full.shape == (F, 4, C, H, H) and len(m) == F and m.ndim == 5
    np.testing.assert_array_equal(np.asarray(m), full)
    np.testing.assert_array_equal(v.frame_phases(6, 2), full[6, :, 2].astype(np.float32))
    assert not m[0, 0].any()  # C_0 = 0
    with pytest.raises(IndexError):
        m[F]
    with pytest.raises(IndexError):
        m[0, 4]
    with pytest.raises(IndexError, match="too many indices"):
        m[0, 0, 0, 0, 0, 0]
    with pytest.raises(TypeError, match="no new axes"):
        m[None]
    # statistics: of the float32 maps; prev_cell's are the cell's of the frame before, across
    # blocks of the writer (4 frames here), zeros at the first frame
    stats = v.stats
    np.testing.assert_array_equal(stats[:, 1:], map_stats(three))
    np.testing.assert_array_equal(stats[1:, 0], stats[:-1, PHASES.index("cell")])
    assert not stats[0, 0].any()
    v.close()


def test_memory_view_reads_only_what_a_key_needs(stored, monkeypatch):
    path, _, _ = stored
    v = DumpVideo(path)
    reads = []

    class Recording:
        def __init__(self, d):
            self.d, self.shape = d, d.shape

        def __getitem__(self, key):
            assert all(k == slice(None) for k in key[2:])  # channels, y, x: all
            reads.append(key[:2])
            return self.d[key]

    m = v.memory
    monkeypatch.setattr(m, "stored", Recording(m.stored))
    m[5, 3]  # the cell: frame 5 alone
    assert reads == [(slice(5, 6), slice(2, 3))]
    reads.clear()
    m[5, 0]  # prev_cell: the cell of frame 4
    assert reads == [(slice(4, 5), slice(2, 3))]
    reads.clear()
    m[[0, 10], 1]  # two frames far apart: one read each, not of the frames between
    assert reads == [(0, slice(0, 1)), (10, slice(0, 1))]
    reads.clear()
    m[0, 0]  # prev_cell of the first frame: zeros, nothing read but an empty selection
    assert reads == [(slice(0, 0), slice(2, 3))]
    v.close()


def test_format_one_files_read_alike(stored, tmp_path):
    """A file of format 1 (all four phases, named) reads as the format-2 file it equals."""
    path, _, full = stored
    old = tmp_path / "old.h5"
    shutil.copy(path, old)
    with h5py.File(old, "r+") as f:
        del f["memory"]
        d = f.create_dataset("memory", data=full, chunks=(1, 4, C, H, H))
        d.attrs["phases"] = list(PHASES)
    a, b = DumpVideo(path), DumpVideo(old)
    for key in [*KEYS, ([0, 2], [0, 3])]:  # (lists on two axes: their outer product, as h5py)
        np.testing.assert_array_equal(a.memory[key], b.memory[key], err_msg=repr(key))
    np.testing.assert_array_equal(a.stats, b.stats)
    a.close(), b.close()


@pytest.mark.parametrize(
    "phases, names, words",
    [
        (5, None, "5 phases, expected 3"),
        (3, ["prev_cell", "input_term", "cell"], "does not name forget_term, input_term, cell"),
        (3, None, "does not name forget_term"),
        (4, ["forget_term", "input_term", "cell", "prev_cell"], "does not name prev_cell"),
    ],
)
def test_memory_phases_must_be_the_stored_or_all_four(stored, tmp_path, phases, names, words):
    path, _, _ = stored
    with h5py.File(path, "r+") as f:
        del f["memory"]
        d = f.create_dataset("memory", data=np.zeros((F, phases, C, H, H), np.float16))
        if names is not None:
            d.attrs["phases"] = names
    with pytest.raises(InputError, match=words):
        DumpVideo(path)


def test_a_dump_stores_exactly_the_recorded_prev_cell(tiny_checkpoint, tmp_path):
    """What the view derives is what the model recorded at prev_cell, bit for bit, in every
    inference mode and for a frame range that starts mid-video (C_{t-1} = 0 at its start)."""
    from lstm_probe.data import SyntheticVideos
    from lstm_probe.engine.stream import crops_for, stream_video
    from lstm_probe.probe.recorder import MemoryProbe

    video = SyntheticVideos(split="test", num_videos=1, num_frames=9)[0]
    for accel in ("plain", "fp32", "bf16"):
        model, _, policy, codec = load_for_inference(tiny_checkpoint, "cpu", accel)
        for frames in ((0, None), (3, 8)):
            out = tmp_path / f"{accel}{frames[0]}"
            source = {"path": str(tiny_checkpoint), "sha256": "x", "meta": {}}
            opts = DumpOptions(frames=frames, accel=accel)
            dump_model(model, [video], out, source, None, policy, opts, "cpu", progress=False)
            dump = open_dump(out)
            v = dump.video(video.video_id)
            recorded = []
            with MemoryProbe(model, ["prev_cell"], keep="latest") as probe:
                for _ in stream_video(model, video, crops_for(video, policy), codec, "cpu",
                                      *frames):  # fmt: skip
                    recorded.append(probe.latest["prev_cell"][0].float().half().numpy())
            np.testing.assert_array_equal(v.memory[:, 0], np.stack(recorded), err_msg=accel)
            dump.close()


def test_resuming_a_format_one_dump_writes_format_two(tiny_dump, tiny_checkpoint, tmp_path):
    """A dump of format 1 is resumed: its finished videos are kept (read as they are), new
    ones are written in format 2 and the manifest says 2 (whose reader reads both)."""
    from lstm_probe.data import SyntheticVideos
    from lstm_probe.engine.dump import dump_videos

    out = tmp_path / "d"
    shutil.copytree(tiny_dump, out)
    man = json.loads((out / "manifest.json").read_text())
    man["format_version"] = 1
    first = man["videos"][0]
    path = out / first["file"]
    with h5py.File(path, "r+") as f:  # the first video as format 1 wrote it
        mem = store.MemoryMaps(f["memory"])[()]
        del f["memory"]
        f.create_dataset("memory", data=mem).attrs["phases"] = list(PHASES)
    first.update(bytes=path.stat().st_size, xxh3=xxh3_file(path))
    man["videos"] = man["videos"][:1]
    (out / "manifest.json").write_text(json.dumps(man))
    stamp = path.stat().st_mtime_ns
    videos = list(SyntheticVideos(split="test", num_videos=2, num_frames=8, occluder_prob=1.0))
    dump_videos(tiny_checkpoint, videos, out, DumpOptions(accel="plain"), "cpu", progress=False)
    assert path.stat().st_mtime_ns == stamp
    dump = open_dump(out)
    assert dump.manifest["format_version"] == 2
    a, b = (dump.video(i) for i in dump.video_ids)
    assert a.memory.stored.shape[1] == 4 and b.memory.stored.shape[1] == 3
    np.testing.assert_array_equal(a.memory[()], mem)
    dump.close()
