"""Scaling out: the dump writer's settings store identical arrays, sharded dumps through torchrun
(gloo on CPU) equal a single-process dump array for array and resume after a killed rank, the
goals printed next to the benchmark figures, the GPU check's CPU path, and the CUDA paths
(skipped without a GPU)."""

import gc
import json
import os
import subprocess
import sys
import textwrap
import threading
import weakref
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
import torch

from lstm_probe.cli import main
from lstm_probe.probe import store
from lstm_probe.probe.store import DATASETS, VideoDumpWriter, map_stats, open_dump

ROOT = Path(__file__).resolve().parents[1]
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none here)")


def _write(path, memory, frames, old_path: bool, **kw):
    """One video through the writer: ``old_path`` as the dump used to call it (float16 memory
    and per-frame statistics from the float32 maps, one frame per block), else as it does now
    (float32 memory, statistics and rounding in the writer thread)."""
    n, _, C, h, _ = memory.shape
    w = VideoDumpWriter(path, "v", C, h, 3, (40, 30), {}, labelled=False, **kw)
    for t in range(n):
        m = torch.from_numpy(memory[t])
        extra = {"stats": map_stats(m).numpy()} if old_path else {}
        w.append(t, frames[t], (m.half() if old_path else m).numpy(),
                 np.full((4, h, h), t / 7, np.float32), np.full((3, 2), t, np.float32),
                 np.ones(3, np.float32), np.eye(2, 3), **extra)  # fmt: skip
    w.close()
    with h5py.File(path) as f:
        return {k: f[k][()] for k in f if isinstance(f[k], h5py.Dataset)}


def test_writer_settings_store_identical_arrays(tmp_path, write_mode):
    """The writer as the dump calls it now (blocks written in the caller's thread, prepared by
    one lane or several, or in the background) stores exactly what the former per-frame path
    stored: statistics of the float32 maps, float16 memory as torch rounds it, every JPEG."""
    rng = np.random.default_rng(1)
    memory = (rng.standard_normal((37, 3, 12, 6, 6)) * 40).astype(np.float32)  # stored phases
    memory[3, :, :, 2, 2] = memory[3, :, :, 0, 0]  # arg-max ties
    memory[5, 0, 0, 0, 0] = 70000.0  # overflows float16
    frames = rng.integers(0, 256, (37, 30, 40, 3), dtype=np.uint8)
    old = _write(tmp_path / "old.h5", memory, frames, True, block=1)
    new = _write(tmp_path / "new.h5", memory, frames, False, block=16, **write_mode)
    assert set(old) == set(new)
    for k in old:
        if k == "frames":
            assert [bytes(a) for a in old[k]] == [bytes(a) for a in new[k]]
        else:
            np.testing.assert_array_equal(old[k], new[k], err_msg=k)
    with h5py.File(tmp_path / "new.h5") as f:
        assert f["memory"].chunks == (1, 3, 12, 6, 6)  # every channel of a frame: 2.5 KiB


def test_lanes_store_what_one_lane_stores(tmp_path):
    """A block prepared by several lanes — each a share of its frames — is the block one lane
    prepares, byte for byte and every dataset and attribute: gates, hidden state, labels,
    flags, float64 beliefs, tensors and arrays, source JPEGs kept."""
    rng = np.random.default_rng(3)
    n, C, h, J = 23, 5, 4, 3
    memory = rng.standard_normal((n, 3, C, h, h)).astype(np.float32)
    gates = rng.standard_normal((n, 4, C, h, h)).astype(np.float32)
    hidden = rng.standard_normal((n, C, h, h)).astype(np.float32)
    beliefs = rng.standard_normal((n, J + 1, h, h)) * 3  # float64
    frames = rng.integers(0, 256, (n, 16, 24, 3), dtype=np.uint8)
    sources = [cv2.imencode(".jpg", f)[1].tobytes() if t % 3 == 0 else None
               for t, f in enumerate(frames)]  # fmt: skip
    flags = {"occluded": rng.random((n + 2, J)) < 0.5}
    stored = []
    for lanes in (1, 4):
        path = tmp_path / f"lanes{lanes}.h5"
        w = VideoDumpWriter(path, "v", C, h, J, (24, 16), {}, labelled=True, flags=flags,
                            gates=True, hidden=True, block=7, background=False, lanes=lanes)  # fmt: skip
        assert w.lanes == lanes
        for t in range(n):
            m = [torch.from_numpy(p) for p in memory[t]] if t % 2 else memory[t]
            gt = (np.full((J, 2), t, np.float32), np.ones(J, np.int8), np.arange(4.0))
            w.append(t + 2, frames[t], m, beliefs[t], np.full((J, 2), t, np.float32),
                     np.ones(J, np.float32), np.eye(2, 3), gt=None if t == 5 else gt,
                     gates=torch.from_numpy(gates[t]), hidden=hidden[t],
                     source_jpeg=sources[t])  # fmt: skip
        w.close()
        with h5py.File(path) as f:
            stored.append(({k: f[k][()] for k in DATASETS if k in f}, dict(f.attrs),
                           f["flags/occluded"][()]))  # fmt: skip
    assert (tmp_path / "lanes1.h5").read_bytes() == (tmp_path / "lanes4.h5").read_bytes()
    (one, attrs1, flags1), (four, attrs4, flags4) = stored
    assert set(one) == set(four) >= {"gates", "hidden", "keypoints_gt", "visible", "bbox"}
    for k in one:
        if k == "frames":
            assert [bytes(a) for a in one[k]] == [bytes(a) for a in four[k]]
        else:
            np.testing.assert_array_equal(one[k], four[k], err_msg=k)
    np.testing.assert_array_equal(one["beliefs"], torch.from_numpy(beliefs).half().numpy())
    assert attrs1 == attrs4 and attrs1["frames_from_source"] == 8
    np.testing.assert_array_equal(flags1, flags4)


def test_lanes_of_a_demo_sized_block_run_on_their_own_threads_and_store_one_lanes_file(
    tmp_path, monkeypatch
):
    """The small preset's block (64 frames × 3 phases × 48 channels × 16², where torch's
    reductions run on all its threads for one lane) prepared on two lanes: each lane on a
    thread of its own with torch on one thread, and the file byte for byte one lane's."""
    rng = np.random.default_rng(4)
    n, C, h, J = 70, 48, 16, 13
    memory = (rng.standard_normal((n, 3, C, h, h)) * 5).astype(np.float32)
    frames = rng.integers(0, 256, (n, 24, 32, 3), dtype=np.uint8)
    seen = []
    prepare = VideoDumpWriter._prepare_rows

    def recorded(self, rows, a, b, given):
        seen.append((self.lanes, threading.get_ident(), torch.get_num_threads()))
        return prepare(self, rows, a, b, given)

    monkeypatch.setattr(VideoDumpWriter, "_prepare_rows", recorded)
    for lanes in (1, 2):
        w = VideoDumpWriter(tmp_path / f"{lanes}.h5", "v", C, h, J, (32, 24), {}, False,
                            background=False, lanes=lanes)  # fmt: skip
        for t in range(n):
            w.append(t, frames[t], [torch.from_numpy(p) for p in memory[t]],
                     np.zeros((J + 1, h, h), np.float32), np.zeros((J, 2), np.float32),
                     np.ones(J, np.float32), np.eye(2, 3))  # fmt: skip
        w.close()
    assert (tmp_path / "1.h5").read_bytes() == (tmp_path / "2.h5").read_bytes()
    one = {(i, k) for lanes, i, k in seen if lanes == 1}
    two = {(i, k) for lanes, i, k in seen if lanes == 2}
    assert one == {(threading.get_ident(), torch.get_num_threads())}  # torch's own threads
    if store.can_release_workers():  # the second lane beside this thread, torch on one thread
        assert len({i for i, _ in two}) == 2 and {k for _, k in two} == {1}
    with h5py.File(tmp_path / "2.h5") as f:
        np.testing.assert_array_equal(f["memory"][()], torch.from_numpy(memory).half().numpy())
        np.testing.assert_allclose(f["stats"][:, 1:], map_stats(memory), rtol=1e-6)


def test_a_block_with_a_map_of_the_wrong_shape_is_refused_naming_it(tmp_path):
    w = VideoDumpWriter(tmp_path / "v.h5", "v", 2, 4, 3, (8, 8), {}, False, block=2,
                        background=False, lanes=2)  # fmt: skip
    with pytest.raises(ValueError, match=r"beliefs of shape \(4, 4, 3\): expected \(4, 4, 4\)"):
        for t in range(2):
            w.append(t, np.zeros((8, 8, 3), np.uint8), np.zeros((3, 2, 4, 4), np.float32),
                     np.zeros((4, 4, 3)), np.zeros((3, 2)), np.ones(3), np.eye(2, 3))  # fmt: skip
    w.abort()
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("phase", [(2, 4, 3), (4, 4), (1, 4, 4)])
def test_memory_phases_of_the_wrong_shape_are_refused_not_broadcast(tmp_path, phase):
    w = VideoDumpWriter(tmp_path / "v.h5", "v", 2, 4, 3, (8, 8), {}, False, block=1,
                        background=False, lanes=1)  # fmt: skip
    with pytest.raises(ValueError, match=r"memory of shape .*: expected \(2, 4, 4\)"):
        w.append(0, np.zeros((8, 8, 3), np.uint8), [torch.zeros(phase) for _ in range(3)],
                 np.zeros((4, 4, 4)), np.zeros((3, 2)), np.ones(3), np.eye(2, 3))  # fmt: skip
    w.abort()
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("background", [False, True])
def test_the_caller_threads_writer_lets_go_of_the_memory_tensors_at_once(tmp_path, background):
    """Writing in the caller's thread, the writer copies each frame's memory as it is appended
    and keeps no reference to the tensors (the model reuses their memory for its next frames);
    a background writer keeps them until it writes the block. The file is the same."""
    rng = np.random.default_rng(4)
    memory = rng.standard_normal((5, 3, 2, 4, 4)).astype(np.float32)
    w = VideoDumpWriter(tmp_path / f"{background}.h5", "v", 2, 4, 3, (8, 8), {}, False,
                        block=4, background=background, lanes=1)  # fmt: skip
    refs = []
    for t in range(5):
        phases = [torch.from_numpy(p.copy()) for p in memory[t]]
        refs.append([weakref.ref(p) for p in phases])
        w.append(t, np.zeros((8, 8, 3), np.uint8), phases, np.zeros((4, 4, 4), np.float32),
                 np.zeros((3, 2)), np.ones(3), np.eye(2, 3))  # fmt: skip
        del phases
        gc.collect()
        if background and (t + 1) % 4 == 0:
            continue  # its block handed to the writer thread, which may have written it already
        alive = [r() is not None for r in refs[-1]]
        assert alive == [background] * 3  # the caller's thread: copied; the background: kept
    w.close()
    assert all(r() is None for rs in refs for r in rs)  # written and let go either way
    with h5py.File(tmp_path / f"{background}.h5") as f:
        np.testing.assert_array_equal(f["memory"][()], torch.from_numpy(memory).half().numpy())
        np.testing.assert_allclose(f["stats"][:, 1:], map_stats(memory), rtol=1e-6)


@pytest.mark.parametrize("lanes", [1, 3])
def test_a_refused_append_leaves_the_writer_as_it_was(tmp_path, lanes):
    """Writing in the caller's thread, a frame whose memory is refused (wrong shape) is not
    queued, and the frames appended after it are stored as if it had never been offered (a
    background writer, which copies at block time, fails that block instead)."""
    rng = np.random.default_rng(5)
    memory = rng.standard_normal((3, 3, 2, 4, 4)).astype(np.float32)
    w = VideoDumpWriter(tmp_path / "v.h5", "v", 2, 4, 3, (8, 8), {}, False, block=2,
                        background=False, lanes=lanes)  # fmt: skip

    def append(t, phases):
        w.append(t, np.zeros((8, 8, 3), np.uint8), phases, np.zeros((4, 4, 4), np.float32),
                 np.zeros((3, 2)), np.ones(3), np.eye(2, 3))  # fmt: skip

    append(0, [torch.tensor(p, requires_grad=True) for p in memory[0]])  # tracked by autograd
    with pytest.raises(ValueError, match="memory of shape"):
        append(1, torch.full((3, 2, 4, 3), 7.0))
    for t in (1, 2):
        append(t, torch.from_numpy(memory[t]))
    w.close()
    with h5py.File(tmp_path / "v.h5") as f:
        assert f.attrs["num_frames"] == 3
        np.testing.assert_array_equal(f["memory"][()], torch.from_numpy(memory).half().numpy())
        np.testing.assert_allclose(f["stats"][:, 1:], map_stats(memory), rtol=1e-6)


def test_writer_lanes_default_to_the_cores_where_torch_can_lend_them(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "_cores", lambda: 3)
    monkeypatch.setattr(store, "can_release_workers", lambda: True)
    w = VideoDumpWriter(tmp_path / "a.h5", "v", 2, 4, 3, (8, 8), {}, False, background=False)
    assert w.lanes == 3
    w.abort()
    monkeypatch.setattr(store, "can_release_workers", lambda: False)  # idle workers would spin
    w = VideoDumpWriter(tmp_path / "b.h5", "v", 2, 4, 3, (8, 8), {}, False, background=False)
    assert w.lanes == 1
    w.abort()
    w = VideoDumpWriter(tmp_path / "c.h5", "v", 2, 4, 3, (8, 8), {}, False, background=True)
    assert w.lanes == 1  # the background thread writes alone
    w.abort()
    w = VideoDumpWriter(
        tmp_path / "d.h5", "v", 2, 4, 3, (8, 8), {}, False, block=2, lanes=8, background=False
    )
    assert w.lanes == 2  # no more lanes than a block's frames
    w.abort()


def test_memory_chunks_hold_one_frame_and_a_group_of_channels():
    assert store.map_chunks(48, 16, 16, 3) == (1, 3, 48, 16, 16)  # small preset: 72 KiB, one chunk
    assert store.map_chunks(48, 46, 46, 3) == (1, 3, 10, 46, 46)  # paper: 124 KiB of 595 KiB
    assert store.map_chunks(48, 46, 46, 4) == (1, 4, 8, 46, 46)  # the gates: 132 KiB
    assert store.map_chunks(3, 46, 46, 3) == (1, 3, 3, 46, 46)
    assert store.map_chunks(512, 8, 8, 4) == (1, 4, 256, 8, 8)  # 128 KiB


def test_writer_takes_the_phases_as_tensors_or_one_array(tmp_path):
    """The dump hands the writer the three stored phases as recorded (tensors, float32 or
    bfloat16); the writer stores what it would store from the stacked float32 array."""
    rng = np.random.default_rng(2)
    memory = rng.standard_normal((5, 3, 3, 4, 4)).astype(np.float32)
    paths = {}
    for how in ("array", "tensors", "bf16"):
        w = VideoDumpWriter(
            tmp_path / f"{how}.h5", "v", 3, 4, 3, (8, 8), {}, labelled=False, block=2
        )
        for t in range(5):
            if how == "array":
                m = memory[t]
            else:
                m = [torch.from_numpy(p) for p in memory[t]]
                if how == "bf16":
                    m = [p.bfloat16() for p in m]
            w.append(t, np.zeros((8, 8, 3), np.uint8), m, np.zeros((4, 4, 4), np.float32),
                     np.zeros((3, 2), np.float32), np.ones(3, np.float32), np.eye(2, 3))  # fmt: skip
        w.close()
        with h5py.File(tmp_path / f"{how}.h5") as f:
            paths[how] = f["memory"][()], f["stats"][()]
    np.testing.assert_array_equal(paths["array"][0], paths["tensors"][0])
    np.testing.assert_array_equal(paths["array"][1], paths["tensors"][1])
    rounded = torch.from_numpy(memory).bfloat16().float().half().numpy()
    np.testing.assert_array_equal(paths["bf16"][0], rounded)


def test_blocks_are_written_in_the_background_only_beside_free_cores(monkeypatch):
    monkeypatch.setattr(store.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setattr(store.torch, "get_num_threads", lambda: 2)
    assert store.writer_in_background()
    monkeypatch.setattr(store.torch, "get_num_threads", lambda: 4)
    assert not store.writer_in_background()


def test_writer_block_is_bounded_by_bytes(tmp_path):
    w = VideoDumpWriter(tmp_path / "v.h5", "v", 48, 46, 13, (8, 8), {}, labelled=False)
    assert w.block == (32 << 20) // (3 * 48 * 46 * 46 * 4)  # paper preset: 27 frames
    w.abort()
    w = VideoDumpWriter(tmp_path / "v.h5", "v", 48, 16, 13, (8, 8), {}, labelled=False)
    assert w.block == 64  # small preset: 64 frames, 9 MiB of float32 memory
    w.abort()


def assert_same_dump(a: Path, b: Path) -> None:
    """Two dumps hold the same videos, in the same order, array for array."""
    da, db = open_dump(a), open_dump(b)
    ids = [v["video_id"] for v in da.manifest["videos"]]
    assert ids == [v["video_id"] for v in db.manifest["videos"]]
    assert da.video_ids == ids == db.video_ids
    for key in ("num_frames", "accel", "attrs", "file"):
        assert [v[key] for v in da.manifest["videos"]] == [v[key] for v in db.manifest["videos"]]
    for vid in ids:
        va, vb = da.video(vid), db.video(vid)
        for name in DATASETS:
            x, y = va.array(name), vb.array(name)
            if name == "frames":
                assert [bytes(f) for f in x] == [bytes(f) for f in y]
            elif x is None or y is None:
                assert x is None and y is None, name
            else:
                np.testing.assert_array_equal(x, y, err_msg=f"{vid} {name}")
        assert dict(va.f.attrs) == dict(vb.f.attrs)
    da.close(), db.close()
    assert not list(Path(b).glob("manifest.rank*.json"))


def _torchrun(nproc: int, *args, tmp: Path, check=True) -> subprocess.CompletedProcess:
    """torchrun with ``tmp`` as its temporary folder (it leaves its log folders there)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "TMPDIR": str(tmp)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc_per_node={nproc}", *args]  # fmt: skip
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    if check and out.returncode != 0:
        raise AssertionError(f"torchrun failed ({out.returncode}):\n{out.stderr[-4000:]}")
    return out


def _single(tiny_checkpoint, out: Path, data: str) -> Path:
    argv = ["dump", str(tiny_checkpoint), "--data", data, "--out", str(out), "--accel", "plain",
            "--device", "cpu", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    return out


def test_sharded_dump_through_torchrun_equals_one_process(tiny_checkpoint, tmp_path):
    data = "synthetic:test:3:5"
    single = _single(tiny_checkpoint, tmp_path / "single", data)
    _torchrun(2, "-m", "lstm_probe.cli", "dump", str(tiny_checkpoint), "--data", data,
              "--out", str(tmp_path / "sharded"), "--accel", "plain", "--device", "cpu",
              "--no-progress", tmp=tmp_path)  # fmt: skip
    assert_same_dump(single, tmp_path / "sharded")


WORKER = """
import os, sys
from lstm_probe.data import SyntheticVideos
from lstm_probe.engine.dump import DumpOptions, dump_videos

checkpoint, out, kill = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
videos = list(SyntheticVideos(split="test", num_videos=5, num_frames=6))
if kill and os.environ["RANK"] == "1":  # rank 1 dies hard inside its second video (index 4)
    video, frames = videos[4], videos[4].frames

    def dying(start=0, stop=None):
        for t, frame in enumerate(frames(start, stop)):
            if t == 3 and stop is None:
                os._exit(9)
            yield frame

    video.frames = dying
dump_videos(checkpoint, videos, out, DumpOptions(accel="plain"), "cpu", progress=False)
"""


def test_killed_rank_resumes_like_a_killed_dump(tiny_checkpoint, tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(WORKER))
    out = tmp_path / "sharded"
    killed = _torchrun(
        3, str(script), str(tiny_checkpoint), str(out), "1", tmp=tmp_path, check=False
    )
    assert killed.returncode != 0
    parts = sorted(p.name for p in out.glob("manifest.rank*.json"))
    assert "manifest.rank1.json" in parts  # rank 1 had finished video 1 before it died
    rank1 = json.loads((out / "manifest.rank1.json").read_text())["videos"]
    assert rank1[0]["status"] == "done"
    done_before = {e["file"]: (out / e["file"]).stat().st_mtime_ns for e in rank1
                   if e["status"] == "done"}  # fmt: skip
    _torchrun(3, str(script), str(tiny_checkpoint), str(out), "0", tmp=tmp_path)
    for f, mtime in done_before.items():  # finished videos were kept, not redone
        assert (out / f).stat().st_mtime_ns == mtime
    single = _single(tiny_checkpoint, tmp_path / "single", "synthetic:test:5:6")
    assert_same_dump(single, out)
    assert not list((out / "videos").glob("*.tmp"))


def test_goals_print_next_to_their_figures():
    from lstm_probe.bench.goals import goals_of, report_goals

    result = {"fps": {"plain": 100.0, "recording": 99.0, "detached": 99.0, "dump": 84.0},
              "relative": {"plain": 1.0, "recording": 0.99, "detached": 0.99, "dump": 0.84},
              "peak_rss_mib": {0: 300.0, 250: 380.0}}  # fmt: skip
    text = report_goals(goals_of("probe", result))
    assert "dump ≥ 90 % of streaming: 84.0 % — short" in text
    assert "recording ≥ 30 frames/s (live): 99.0 frames/s — pass" in text
    assert "dump peak RSS < 2 GiB: 380 MiB — pass" in text
    assert report_goals(goals_of("dashboard", {})) == "goals: none set for this benchmark"


def test_a_share_measured_over_rounds_is_judged_by_its_interval():
    """The dump's and the recording's shares carry their rounds: the verdict is the interval of
    the median (nine rounds: the 2nd smallest to the 2nd largest, 96 %), so a median over the
    aim whose rounds straddle it reads "undecided", not "pass"."""
    from lstm_probe.bench.goals import goals_of, report_goals

    def result(dump_rounds):
        rounds = {"plain": [1.0] * 9, "recording": [0.99] * 9, "dump": dump_rounds}
        return {"fps": {"plain": 100.0, "recording": 99.0, "dump": 90.0},
                "relative": {k: float(np.median(v)) for k, v in rounds.items()},
                "relative_rounds": rounds, "peak_rss_mib": {0: 300.0}}  # fmt: skip

    straddles = [0.87, 0.88, 0.89, 0.90, 0.91, 0.91, 0.92, 0.93, 0.94]  # median 91 %
    text = report_goals(goals_of("probe", result(straddles)))
    assert "dump ≥ 90 % of streaming: 91.0 % (96 % interval 88.0 %–93.0 %) — undecided" in text
    assert "recording ≥ 98 % of streaming: 99.0 % (96 % interval 99.0 %–99.0 %) — pass" in text
    above = [0.85, 0.905, 0.91, 0.91, 0.92, 0.92, 0.93, 0.94, 0.99]  # one outlier below
    assert "— pass" in report_goals(goals_of("probe", result(above))).splitlines()[3]
    below = [0.80, 0.85, 0.86, 0.87, 0.88, 0.88, 0.89, 0.895, 0.95]
    assert "— short" in report_goals(goals_of("probe", result(below))).splitlines()[3]
    one = result([0.91])  # `--quick`: one round, nothing to judge its spread by
    one["relative_rounds"] = {k: v[:1] for k, v in one["relative_rounds"].items()}
    assert "dump ≥ 90 % of streaming: 91.0 % (one round) — pass" in report_goals(
        goals_of("probe", one)
    )


def test_gpu_check_quick_runs_on_cpu(tmp_path, capsys):
    """The GPU check's code path end to end in seconds (tiny preset, CPU): every figure printed
    next to its goal; on CPU `all` leaves the GPU check out."""
    out = tmp_path / "gpu.json"
    assert main(["bench", "gpu", "--quick", "--device", "cpu", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    for goal in ("steps/s at batch", "batch-1 later frames ≤ 2 ms", "≥ 2,500 frames/s",
                 "dump ≥ 90 % of streaming"):  # fmt: skip
        assert goal in text
    res = json.loads(out.read_text())["gpu"]
    assert len(res["goals"]) == 5 and all(isinstance(g["pass"], bool) for g in res["goals"])
    assert all(g["verdict"] in ("pass", "short") and g["pass"] == (g["verdict"] == "pass")
               for g in res["goals"])  # fmt: skip
    assert res["train"]["steps_per_s"] > 0 and res["batched"]["fps"] > 0
    assert 0 < res["dump"]["relative"] < 10


def _tiny_model():
    from lstm_probe.engine.accel import Accel
    from lstm_probe.models import build_model

    torch.manual_seed(0)
    return Accel("plain").prepare(build_model("lstm_pm", "tiny").eval())


def test_batched_streaming_equals_one_video_at_a_time():
    from lstm_probe.data import SyntheticVideos
    from lstm_probe.engine.infer import test_policy
    from lstm_probe.engine.stream import crops_for, stream_batch, stream_video
    from lstm_probe.transforms.heatmaps import HeatmapCodec

    model = _tiny_model()
    policy, codec = test_policy(model), HeatmapCodec(model.config.input_size)
    videos = [next(iter(SyntheticVideos(split="test", num_videos=1, num_frames=n, seed=n)))
              for n in (5, 3, 4)]  # fmt: skip
    alone = [list(stream_video(model, v, crops_for(v, policy), codec)) for v in videos]
    seen = [[] for _ in videos]
    for step in stream_batch(model, videos, [crops_for(v, policy) for v in videos], codec):
        for i, r in step:
            seen[i].append(r)
    for a, b in zip(alone, seen):
        assert [r.index for r in a] == [r.index for r in b]
        for x, y in zip(a, b):
            torch.testing.assert_close(x.belief, y.belief, atol=1e-5, rtol=1e-4)
            np.testing.assert_allclose(
                x.keypoints, y.keypoints, atol=0.1
            )  # sub-pixel refinement amplifies float rounding
            np.testing.assert_array_equal(x.grid_to_frame, y.grid_to_frame)


def test_host_copy_waits_for_its_event():
    from lstm_probe.engine.dump import HostCopy

    class Event:
        waited = False

        def synchronize(self):
            self.waited = True

    e = Event()
    a = np.asarray(HostCopy(torch.arange(6.0).view(2, 3), e))
    assert e.waited and a.shape == (2, 3) and a[1, 2] == 5


def test_training_in_bf16_channels_last_runs_and_plain_stays_the_default(tmp_path):
    from lstm_probe.config import load_config
    from lstm_probe.engine.train import TrainAccel, TrainingError, train

    assert vars(TrainAccel.from_run({})) == {"amp": None, "channels_last": False, "compile": False}
    with pytest.raises(TrainingError, match="run.amp"):
        TrainAccel("fp8")
    over = ["model.preset=tiny", "optim.batch_size=2", "data.clip_length=2",
            "data.synthetic.num_frames=2", "run.workers=1", "run.amp=bf16",
            "run.channels_last=true"]  # fmt: skip
    cfg = load_config("synthetic_lstm_pm_small", over)
    summary = train(cfg, tmp_path / "r", device="cpu", progress=False, max_steps=2)
    assert summary["steps"] == 2 and np.isfinite(summary["loss"])


@CUDA
def test_cuda_streaming_with_cuda_graphs_matches_eager():
    from lstm_probe.bench.common import random_video
    from lstm_probe.engine.accel import Accel
    from lstm_probe.engine.stream import FixedCrops, stream_video
    from lstm_probe.models import build_model
    from lstm_probe.transforms.augment import CropPolicy
    from lstm_probe.transforms.heatmaps import HeatmapCodec

    torch.manual_seed(0)
    base = build_model("lstm_pm", "small").cuda().eval()
    video = random_video(base.config.input_size, 6)
    out = {}
    for compiled in (False, True):
        model = Accel("fp32", compile=compiled).prepare(
            build_model("lstm_pm", "small").cuda().eval()
        )
        model.load_state_dict(base.state_dict())
        crops = FixedCrops(CropPolicy(base.config.input_size), np.eye(2, 3))
        codec = HeatmapCodec(base.config.input_size)
        out[compiled] = [r.belief.cpu() for r in stream_video(model, video, crops, codec, "cuda")]
    for a, b in zip(out[False], out[True]):
        torch.testing.assert_close(a, b, atol=1e-3, rtol=1e-3)


@CUDA
def test_cuda_dump_matches_a_cpu_dump(tiny_checkpoint, tmp_path):
    """The dump on CUDA (non-blocking copies into pinned memory) stores what a CPU dump
    stores, within the float16 rounding of the memory."""
    from lstm_probe.data import SyntheticVideos
    from lstm_probe.engine.dump import DumpOptions, dump_videos

    videos = list(SyntheticVideos(split="test", num_videos=1, num_frames=40))
    dumps = {d: dump_videos(tiny_checkpoint, videos, tmp_path / d, DumpOptions(accel="plain"), d,
                            progress=False) for d in ("cpu", "cuda")}  # fmt: skip
    a, b = open_dump(dumps["cpu"]), open_dump(dumps["cuda"])
    vid = a.video_ids[0]
    x, y = a.video(vid).memory[()].astype(np.float32), b.video(vid).memory[()].astype(np.float32)
    assert np.abs(x - y).max() <= 1e-2 * max(1.0, np.abs(x).max())
    a.close(), b.close()
