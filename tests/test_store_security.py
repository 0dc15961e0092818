"""The dump reader trusts nothing in a dump: every test tampers with a copy of a real dump."""

import json
import os
import shutil
import tracemalloc

import cv2
import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lstm_probe.cli import main
from lstm_probe.models import conv_lstm
from lstm_probe.probe import store
from lstm_probe.probe.inspect import check_dump, memory_identity_errors
from lstm_probe.probe.store import PHASES, open_dump
from lstm_probe.utils import InputError


@pytest.fixture
def dump(tiny_dump, tmp_path):
    """(dump dir, first video's HDF5 file, its video id) of a private copy of the tiny dump."""
    d = tmp_path / "d"
    shutil.copytree(tiny_dump, d)
    entry = json.loads((d / "manifest.json").read_text())["videos"][0]
    return d, d / entry["file"], entry["video_id"]


def refused(d, vid, *words):
    """Opening the video raises an InputError naming its file and each of ``words``."""
    with pytest.raises(InputError) as e:
        open_dump(d).video(vid)
    assert e.value.path.endswith(".h5"), e.value
    for w in words:
        assert w in e.value.problem, e.value
    return e.value


def rewrite(f: h5py.File, name: str, data=None, **kw) -> None:
    """Replace dataset ``name`` (keeping its attributes) by ``data`` / ``create_dataset`` kw."""
    attrs = dict(f[name].attrs)
    del f[name]
    d = f.create_dataset(name, data=data, **kw)
    d.attrs.update(attrs)


def retime(h5, n: int) -> None:
    """Make a video ``n`` frames long (repeating its frames): every per-frame dataset."""
    with h5py.File(h5, "r+") as f:
        F = int(f.attrs["num_frames"])
        names = []
        f.visititems(lambda k, o: names.append(k) if isinstance(o, h5py.Dataset) else None)
        for k in names:
            d = f[k]
            data, dtype, chunks = d[()][np.arange(n) % F], d.dtype, d.chunks
            shape = data.shape
            rewrite(f, k, shape=shape, dtype=dtype, chunks=(min(n, chunks[0]), *chunks[1:]))
            for i in range(n) if dtype.kind == "O" else ():
                f[k][i] = data[i]
            if dtype.kind != "O":
                f[k][...] = data
        f.attrs["num_frames"] = n


# ------------------------------------------------------------------ 1. no reads outside the file
def test_external_link_is_refused_and_not_followed(dump, tmp_path):
    d, h5, vid = dump
    other = tmp_path / "other.h5"
    with h5py.File(h5, "r") as src, h5py.File(other, "w") as dst:
        dst["memory"] = src["memory"][()]  # a perfectly good target: only the link is wrong
    with h5py.File(h5, "r+") as f:
        del f["memory"]
        f["memory"] = h5py.ExternalLink(str(other), "/memory")
    refused(d, vid, "'/memory'", "external link", "other.h5")


def test_external_link_under_flags_is_refused(dump, tmp_path):
    d, h5, vid = dump
    with h5py.File(h5, "r+") as f:
        del f["flags/occluded"]
        f["flags/occluded"] = h5py.ExternalLink(str(tmp_path / "none.h5"), "/x")
    refused(d, vid, "'/flags/occluded'", "external link")


@pytest.mark.parametrize("target", ["/nowhere", "/secret/x"])
def test_soft_links_are_refused(dump, target):
    d, h5, vid = dump
    with h5py.File(h5, "r+") as f:
        f.create_dataset("secret/x", data=np.zeros((8, 14, 2), np.float32))
        del f["keypoints"]
        f["keypoints"] = h5py.SoftLink(target)  # dangling, or outside the dump's structure
    refused(d, vid, "'/keypoints'", "soft link")


def test_external_raw_storage_is_refused(dump, tmp_path):
    d, h5, vid = dump
    raw = tmp_path / "raw.bin"
    raw.write_bytes(bytes(8 * 2 * 3 * 4))
    with h5py.File(h5, "r+") as f:
        rewrite(f, "grid_to_frame", shape=(8, 2, 3), dtype="f4", external=[(str(raw), 0, 192)])
    refused(d, vid, "'/grid_to_frame'", "external files")


def test_virtual_dataset_is_refused(dump, tmp_path):
    d, h5, vid = dump
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as o:
        o["k"] = np.zeros((8, 14, 2), np.float32)
    with h5py.File(h5, "r+") as f:
        del f["keypoints"]
        layout = h5py.VirtualLayout(shape=(8, 14, 2), dtype="f4")
        layout[:] = h5py.VirtualSource(str(other), "k", shape=(8, 14, 2))
        f.create_virtual_dataset("keypoints", layout)
    refused(d, vid, "'/keypoints'", "virtual")


def test_filters_other_than_the_usual_ones_are_refused_gzip_is_read(dump):
    d, h5, vid = dump
    with h5py.File(h5, "r+") as f:
        kp = f["keypoints"][()]
        rewrite(f, "keypoints", kp, chunks=(1, 14, 2), compression="gzip", shuffle=True)
    assert np.array_equal(open_dump(d).video(vid).keypoints, kp)
    with h5py.File(h5, "r+") as f:
        rewrite(f, "keypoints", kp, chunks=(1, 14, 2), scaleoffset=2)
    refused(d, vid, "'/keypoints'", "filter")


def test_declared_but_unstored_data_and_huge_chunks_are_refused(dump, monkeypatch):
    d, h5, vid = dump
    with h5py.File(h5, "r+") as f:  # 8 frames of memory that the file never stored
        rewrite(f, "memory", shape=(8, 3, 8, 8, 8), dtype="f2", chunks=(1, 3, 1, 8, 8))
    refused(d, vid, "'/memory'", "stores fewer")
    with h5py.File(h5, "r+") as f:
        rewrite(f, "memory", np.zeros((8, 3, 8, 8, 8), np.float16), chunks=(8, 3, 8, 8, 8))
    open_dump(d).video(vid)
    monkeypatch.setattr(store, "MAX_CHUNK_BYTES", 16 << 10)  # the 24 KiB chunk is now too big
    refused(d, vid, "'/memory'", "chunks")


@pytest.mark.parametrize(
    "file", ["/etc/passwd", "../../etc/passwd", "videos/../manifest.json", "manifest.json"]
)
def test_manifest_file_must_lie_in_videos(dump, file):
    d, _, vid = dump
    man = json.loads((d / "manifest.json").read_text())
    man["videos"][0]["file"] = file
    (d / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(InputError, match="outside the dump"):
        open_dump(d).video(vid)


def test_manifest_file_may_not_be_a_symlink_out_of_the_dump(dump, tmp_path):
    d, h5, vid = dump
    outside = tmp_path / "elsewhere.h5"
    shutil.copy(h5, outside)  # a valid file, but not the dump's
    link = d / "videos" / "link.h5"
    os.symlink(outside, link)
    man = json.loads((d / "manifest.json").read_text())
    man["videos"][0]["file"] = "videos/link.h5"
    (d / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(InputError, match="outside the dump"):
        open_dump(d).video(vid)


def test_videos_folder_and_manifest_may_not_link_out_of_the_dump(dump, tmp_path):
    d, _, vid = dump
    elsewhere = tmp_path / "elsewhere"
    shutil.move(d / "videos", elsewhere)
    os.symlink(elsewhere, d / "videos")  # the same files, but not inside the dump
    with pytest.raises(InputError, match="outside the dump"):
        open_dump(d).video(vid)
    os.unlink(d / "videos")
    shutil.move(elsewhere, d / "videos")
    open_dump(d).video(vid)
    shutil.move(d / "manifest.json", tmp_path / "manifest.json")
    os.symlink(tmp_path / "manifest.json", d / "manifest.json")
    with pytest.raises(InputError, match="outside the dump"):
        open_dump(d)


def test_video_file_must_be_a_regular_file(dump):
    d, h5, vid = dump
    h5.unlink()
    h5.mkdir()
    with pytest.raises(InputError, match="not a regular file"):
        open_dump(d).video(vid)
    with pytest.raises(InputError, match="not a regular file"):
        store.DumpVideo(h5)


# ------------------------------------------------------------------ 2. dtypes, shapes, attributes
def _set(name, fn):
    def tamper(f):
        rewrite(f, name, fn(f[name][()]))

    return tamper


def _attr(key, value):
    def tamper(f):
        f.attrs[key] = value

    return tamper


def _drop(name):
    def tamper(f):
        del f[name]

    return tamper


TAMPERS = {
    "memory float32": (_set("memory", lambda a: a.astype(np.float32)), ["'/memory'", "dtype"]),
    "memory rank 4": (_set("memory", lambda a: a[:, 0]), ["'/memory'", "shape"]),
    "keypoints shorter": (_set("keypoints", lambda a: a[:6]), ["'/keypoints'", "6 frames"]),
    "stats 6 values": (_set("stats", lambda a: a[..., :6]), ["'/stats'", "shape"]),
    "beliefs joints": (_set("beliefs", lambda a: a[:, :9]), ["'/beliefs'", "8 joints"]),
    "confidence joints": (_set("confidence", lambda a: a[:, :5]), ["'/confidence'", "5 joints"]),
    "frames not vlen": (_set("frames", lambda a: np.zeros(8, np.uint8)), ["'/frames'", "dtype"]),
    "bbox float64": (_set("bbox", lambda a: a.astype(np.float64)), ["'/bbox'", "dtype"]),
    "g2f 3x3": (_set("grid_to_frame", lambda a: np.zeros((8, 3, 3), "f4")), ["grid_to_frame"]),
    "no memory": (_drop("memory"), ["no 'memory'"]),
    "labels half": (_drop("bbox"), ["not all of"]),
    "memory a group": (lambda f: (_drop("memory")(f), f.create_group("memory")), ["not a data"]),
    "0 frames": (_set("memory", lambda a: a[:0]), ["0 frames, outside 1..100000"]),
    "flag length": (_set("flags/occluded", lambda a: a[:3]), ["'/flags/occluded'"]),
    "flag text": (_set("flags/occluded", lambda a: a.astype("S1")), ["'/flags/occluded'"]),
    "num_frames off": (_attr("num_frames", 9), ["'num_frames' is 9", "8 frames"]),
    "num_frames missing": (lambda f: f.attrs.__delitem__("num_frames"), ["'num_frames'"]),
    "width 1e9 float": (_attr("frame_width", 1e9), ["'frame_width'", "not an integer"]),
    "width 1e9 int": (_attr("frame_width", 10**9), ["'frame_width'", "outside 1..16384"]),
    "width 0": (_attr("frame_width", 0), ["'frame_width'", "outside"]),
    "width text": (_attr("frame_width", "160"), ["'frame_width'", "not an integer"]),
    "width pair": (_attr("frame_width", [160, 160]), ["'frame_width'", "not an integer"]),
    "pixels": (
        lambda f: (_attr("frame_width", 16384)(f), _attr("frame_height", 16384)(f)),
        ["16384×16384", "over the limit"],
    ),
    "source_attrs nested": (_attr("source_attrs", "[" * 100_000), ["'source_attrs'", "JSON"]),
    "source_attrs list": (_attr("source_attrs", "[1]"), ["'source_attrs'", "object"]),
    "video_id number": (_attr("video_id", 3), ["'video_id'", "string"]),
}


@pytest.mark.parametrize("case", list(TAMPERS))
def test_bad_dtypes_shapes_and_attributes_are_refused(dump, case):
    d, h5, vid = dump
    tamper, words = TAMPERS[case]
    with h5py.File(h5, "r+") as f:
        tamper(f)
    refused(d, vid, *words)


def test_sizes_are_bounded_before_anything_is_read(dump):
    """A declared size over a limit is refused from the shape alone (nothing is allocated)."""
    d, h5, vid = dump
    with h5py.File(h5, "r+") as f:
        n = store.MAX_FRAMES + 1
        rewrite(f, "memory", shape=(n, 3, 8, 8, 8), dtype="f2", chunks=(1, 3, 1, 8, 8))
    refused(d, vid, f"{n} frames, outside 1..{store.MAX_FRAMES}")
    with h5py.File(h5, "r+") as f:
        n = store.MAX_CHANNELS + 1
        rewrite(f, "memory", shape=(8, 3, n, 8, 8), dtype="f2", chunks=(1, 3, 1, 8, 8))
    refused(d, vid, f"{n} channels, outside 1..{store.MAX_CHANNELS}")


def test_video_must_agree_with_the_manifest(dump):
    d, _, vid = dump
    man = json.loads((d / "manifest.json").read_text())
    man["channels"] = 4
    (d / "manifest.json").write_text(json.dumps(man))
    refused(d, vid, "8 channels", "manifest says 4")


def test_frame_bytes_that_are_not_the_promised_jpeg(dump):
    d, h5, vid = dump
    small = cv2.imencode(".jpg", np.zeros((32, 24, 3), np.uint8))[1].ravel()
    with h5py.File(h5, "r+") as f:
        f["frames"][0] = np.frombuffer(b"GIF89a not a jpeg", np.uint8)
        f["frames"][1] = small
        f["frames"][2] = f["frames"][3][:100]  # a JPEG cut before its frame header
        f["frames"][4] = f["frames"][3][:400]  # ... and after it
    v = open_dump(d).video(vid)  # the structure is fine: frames are checked when decoded
    with pytest.raises(InputError, match="frame 0 of 'frames' is not a JPEG"):
        v.frame_image(0)
    with pytest.raises(InputError, match=r"frame 1 is a 24×32 JPEG, the file says 160×160"):
        v.frame_image(1)
    with pytest.raises(InputError, match="frame 2 of 'frames' is not a JPEG"):
        v.frame_image(2)
    with pytest.raises(InputError, match="frame 4 of 'frames' is a damaged JPEG"):
        v.frame_image(4)
    assert v.frame_image(3).shape == (160, 160, 3)


# ------------------------------------------------------------------ 3. manifest keys and types
def _manifest_cases():
    def top(key, value):
        return lambda m: m.__setitem__(key, value)

    def video(key, value):
        return lambda m: m["videos"][0].__setitem__(key, value)

    return {
        "videos object": (top("videos", {}), "'videos'"),
        "channels text": (top("channels", "8"), "'channels'"),
        "channels bool": (top("channels", True), "'channels'"),
        "channels huge": (top("channels", 10**9), "'channels'"),
        "grid float": (top("grid_size", 8.0), "'grid_size'"),
        "model list": (top("model", []), "'model'"),
        "model name": (lambda m: m["model"].pop("name"), "'model.name'"),
        "no checkpoint": (lambda m: m.pop("checkpoint"), "'checkpoint'"),
        "sha number": (lambda m: m["checkpoint"].__setitem__("sha256", 5), "'checkpoint.sha256'"),
        "joints text": (top("joints", "abc"), "'joints'"),
        "joints null": (top("joints", None), "'joints'"),
        "path null": (lambda m: m["checkpoint"].__setitem__("path", None), "'checkpoint.path'"),
        "points ints": (top("probe_points", [1, 2]), "'probe_points'"),
        "version text": (top("lstm_probe_version", 1), "'lstm_probe_version'"),
        "entry text": (lambda m: m["videos"].__setitem__(0, "x"), "'videos[0]'"),
        "entry no file": (lambda m: m["videos"][0].pop("file"), "'videos[0].file'"),
        "entry id number": (video("video_id", 3), "'videos[0].video_id'"),
        "entry status list": (video("status", ["done"]), "'videos[0].status'"),
        "entry frames text": (video("num_frames", "8"), "'videos[0].num_frames'"),
        "entry twice": (lambda m: m["videos"].append(m["videos"][0]), "'videos[2].video_id'"),
        "indices": (top("channel_indices", ["a"]), "'channel_indices'"),
    }


MANIFEST_CASES = _manifest_cases()


@pytest.mark.parametrize("case", list(MANIFEST_CASES))
def test_manifest_keys_and_types(dump, case):
    d, _, _ = dump
    tamper, key = MANIFEST_CASES[case]
    man = json.loads((d / "manifest.json").read_text())
    tamper(man)
    (d / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(InputError) as e:
        open_dump(d)
    assert e.value.path.endswith("manifest.json") and key in e.value.problem, e.value


@pytest.mark.parametrize("text", ["[]", '"dump"', "[" * 100_000, '{"format": 1}'])
def test_manifest_that_is_no_object_or_nested_too_deep(dump, text):
    d, _, _ = dump
    (d / "manifest.json").write_text(text)
    with pytest.raises(InputError) as e:
        open_dump(d)
    assert e.value.path.endswith("manifest.json")
    assert main(["inspect", str(d)]) == 2


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
TOP_KEYS = ["format_version", "lstm_probe_version", "model", "checkpoint", "joints", "channels"]
TOP_KEYS += ["grid_size", "probe_points", "videos", "channel_indices"]


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(where=st.sampled_from(TOP_KEYS + ["video_id", "status", "file"]), value=json_values)
def test_any_manifest_value_gives_a_dump_or_an_input_error(dump, where, value):
    d, _, _ = dump
    path = d / "manifest.json"
    man = json.loads(path.read_text())
    original = path.read_text()
    (man if where in TOP_KEYS else man["videos"][0])[where] = value
    path.write_text(json.dumps(man))
    try:
        try:
            check_dump(d)  # opens the dump and every video
        except InputError as e:
            assert e.path.endswith(("manifest.json", ".h5", "/d")), e
    finally:
        path.write_text(original)


# ------------------------------------------------------------------ 4. inspect
def whole_array_errors(memory: np.ndarray) -> tuple[float, float]:
    """The identity check on the whole array at once (what inspect computed before)."""
    m = memory.astype(np.float32)
    prev, forget, inflow, cell = (m[:, PHASES.index(p)] for p in PHASES)
    scale = max(float(np.abs(cell).max()), 1e-6)
    e_sum = float(np.abs(cell - (forget + inflow)).max()) / scale
    e_chain = float(np.abs(prev[1:] - cell[:-1]).max()) / scale if len(m) > 1 else 0.0
    return e_sum, e_chain


def test_blockwise_identity_errors_equal_the_whole_array_ones(tiny_dump):
    v = open_dump(tiny_dump).video(open_dump(tiny_dump).video_ids[0])
    whole = whole_array_errors(v.memory[()])
    for block in (None, 1, 3, 7, 8, 32):
        assert memory_identity_errors(v.memory, block) == whole
    rng = np.random.default_rng(0)  # errors that cross block boundaries, and a NaN
    m = rng.normal(size=(50, 4, 3, 5, 5)).astype(np.float16)
    m[1:, 0] = m[:-1, 3] + np.float16(rng.normal(size=(49, 3, 5, 5)) * 1e-2)
    for block in (1, 2, 7, 32, 50, 64):
        assert memory_identity_errors(m, block) == whole_array_errors(m)
    m[20, 3, 1, 2, 2] = np.nan
    assert all(np.isnan(memory_identity_errors(m, 7))) and all(np.isnan(whole_array_errors(m)))


def test_inspect_memory_does_not_grow_with_video_length(dump):
    d, h5, _ = dump
    retime(h5, 640)  # memory as float32: 640 × 4 × 8 × 8 × 8 × 4 B = 5 MiB
    tracemalloc.start()
    try:
        report = check_dump(d)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "640 frames" in report["text"]
    assert peak < (1 << 20), peak  # a whole-array read would peak above 10 MiB


def test_inspect_fails_on_unfinished_and_refused_videos(dump, tmp_path, capsys):
    d, h5, vid = dump
    assert check_dump(d)["ok"]
    (d / "videos" / "next_video.h5.tmp").write_bytes(b"")  # a killed dump leaves this
    r = check_dump(d)
    assert not r["ok"] and "next_video.h5.tmp: left by an interrupted dump" in r["text"]
    (d / "videos" / "next_video.h5.tmp").unlink()
    man = json.loads((d / "manifest.json").read_text())
    man["videos"][1]["status"] = "partial"
    (d / "manifest.json").write_text(json.dumps(man))
    r = check_dump(d)
    assert not r["ok"] and "partial (not finished) -> FAILED" in r["text"] and not r["invalid"]
    assert main(["inspect", str(d)]) == 1
    man["videos"][1]["status"] = "done"
    (d / "manifest.json").write_text(json.dumps(man))
    with h5py.File(h5, "r+") as f:
        del f["memory"]
        f["memory"] = h5py.ExternalLink(str(tmp_path / "x.h5"), "/memory")
    r = check_dump(d)
    assert not r["ok"] and r["invalid"] == [vid]
    assert f"{vid}: refused: " in r["text"] and "external link" in r["text"]
    assert f"{man['videos'][1]['video_id']}: 8 frames" in r["text"]  # the others still checked
    capsys.readouterr()
    assert main(["inspect", str(d)]) == 2
    assert "some checks FAILED" in capsys.readouterr().out


# ------------------------------------------------------------------ 5. one frame
def test_one_frame_dump_opens(dump):
    d, h5, vid = dump
    retime(h5, 1)
    v = open_dump(d).video(vid)
    assert v.num_frames == 1 and v.memory.shape[0] == 1 and v.keypoints.shape == (1, 14, 2)
    assert v.frame_image(0).shape == (160, 160, 3) and v.flags["occluded"].shape == (1, 14)
    r = check_dump(d)
    assert r["ok"] and f"{vid}: 1 frames" in r["text"]


def test_phase_and_gate_names_have_one_source():
    assert store.PHASES is conv_lstm.MEMORY_PHASES and store.GATES is conv_lstm.GATE_POINTS
