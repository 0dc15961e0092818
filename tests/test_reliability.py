"""Reliability: fuzzed inputs end in clear errors; killed runs lose nothing; hooks never leak;
untrusted files are handled safely; the dashboard holds under concurrent clients."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io as sio
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lstm_probe.checkpoint import read_checkpoint
from lstm_probe.cli import main
from lstm_probe.config import config_path
from lstm_probe.data.penn_action import PennAction
from lstm_probe.data.video import read_keypoints_json
from lstm_probe.probe.store import open_dump
from lstm_probe.utils import InputError

ROOT = Path(__file__).resolve().parents[1]
TINY = config_path("tiny_cpu")
FUZZ = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


# ------------------------------------------------------------------ fuzzed inputs
@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes_as_penn_labels(tmp_path_factory, data):
    root = tmp_path_factory.mktemp("penn")
    (root / "labels").mkdir()
    (root / "frames" / "0001").mkdir(parents=True)
    (root / "labels" / "0001.mat").write_bytes(data)
    with pytest.raises(InputError, match="0001.mat"):
        PennAction(root, "all")


shapes = st.tuples(st.integers(0, 4), st.integers(0, 14))


@FUZZ
@given(
    x=shapes, vis=shapes, bbox=st.tuples(st.integers(0, 5), st.integers(0, 5)), n=st.integers(-1, 5)
)
def test_wrongly_shaped_penn_fields(tmp_path_factory, x, vis, bbox, n):
    root = tmp_path_factory.mktemp("penn")
    (root / "labels").mkdir()
    (root / "frames" / "0001").mkdir(parents=True)
    sio.savemat(
        root / "labels" / "0001.mat",
        dict(
            x=np.ones(x),
            y=np.ones(x),
            visibility=np.ones(vis),
            bbox=np.ones(bbox),
            train=np.array([[1.0]]),
            nframes=np.array([[float(n)]]),
        ),
    )
    try:
        PennAction(root, "all")
    except InputError as e:
        assert "0001.mat" in str(e)


@FUZZ
@given(
    pose=st.binary(max_size=200)
    | st.tuples(st.integers(0, 3), st.integers(0, 16), st.integers(0, 4)),
    mask=st.binary(max_size=200)
    | st.tuples(st.integers(0, 6), st.integers(0, 6), st.integers(0, 4)),
)
@example(pose=(2, 15, 3), mask=b"")  # well-formed poses, but no frames
@example(pose=(2, 15, 0), mask=b"junk")  # no poses: the mask is read next
@example(pose=(2, 15, 0), mask=(4, 4, 0))  # an empty video, well formed
def test_malformed_jhmdb_annotations(tmp_path_factory, pose, mask):
    from lstm_probe.data.jhmdb import SubJHMDB

    root = tmp_path_factory.mktemp("jhmdb")
    for sub in ("joint_positions", "puppet_mask", "Rename_Images"):
        (root / sub / "catch" / "v").mkdir(parents=True)
    (root / "sub_splits").mkdir()
    (root / "sub_splits" / "catch_test_split_1.txt").write_text("v.avi 1\n")
    jp = root / "joint_positions/catch/v/joint_positions.mat"
    pm = root / "puppet_mask/catch/v/puppet_mask.mat"
    if isinstance(pose, bytes):
        jp.write_bytes(pose)
    else:
        sio.savemat(jp, dict(pos_img=np.ones(pose)))
    if isinstance(mask, bytes):
        pm.write_bytes(mask)
    else:
        sio.savemat(pm, dict(part_mask=np.ones(mask, np.uint8)))
    # what the loader must say about these files: (file it names, its problem, fully)
    unreadable = r"unreadable \.mat file \(.+\)|missing variable '{}'"
    if isinstance(pose, bytes):
        expected = (jp, unreadable.format("pos_img"))
    elif pose[:2] != (2, 15):
        expected = (jp, re.escape(f"pos_img has shape {pose}, expected (2, 15, T)"))
    elif pose[2] > 0:  # no frame images at all
        expected = (root / "Rename_Images/catch/v", f"0 frames for {pose[2]} annotated poses")
    elif isinstance(mask, bytes):
        expected = (pm, unreadable.format("part_mask"))
    else:  # an empty video with a well-formed mask loads
        expected = None
    if expected is None:
        assert len(SubJHMDB(root, 1, "train")) == 1
        return
    with pytest.raises(InputError) as info:
        SubJHMDB(root, 1, "train")
    path, problem = expected
    assert info.value.path == str(path)
    assert re.fullmatch(problem, info.value.problem), info.value.problem
    assert str(info.value) == f"{path}: {info.value.problem}"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@FUZZ
@given(doc=json_values)
def test_random_keypoint_json(tmp_path_factory, doc):
    p = tmp_path_factory.mktemp("kp") / "kp.json"
    p.write_text(json.dumps(doc))
    try:
        ann = read_keypoints_json(p, 3)
        assert ann.keypoints.shape == (3, 14, 2)
    except InputError as e:
        assert "kp.json" in str(e)


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_as_checkpoint(tmp_path_factory, data):
    p = tmp_path_factory.mktemp("ck") / "model.pt"
    p.write_bytes(data)
    with pytest.raises(InputError, match="model.pt"):
        read_checkpoint(p)


def test_corrupt_dumps(tiny_dump, tmp_path):
    import shutil

    bad = tmp_path / "d"
    shutil.copytree(tiny_dump, bad)
    (bad / "manifest.json").write_text("{ not json")
    with pytest.raises(InputError, match="manifest"):
        open_dump(bad)
    shutil.rmtree(bad)
    shutil.copytree(tiny_dump, bad)
    entry = json.loads((bad / "manifest.json").read_text())["videos"][0]
    h5 = bad / entry["file"]
    h5.write_bytes(h5.read_bytes()[:1000])  # truncated
    with pytest.raises(InputError, match="HDF5"):
        open_dump(bad).video(entry["video_id"])
    assert main(["inspect", str(bad)]) == 2


# commands whose inputs (a checkpoint, a dump, a video) cannot exist in an empty directory: every
# combination must fail fast with a message, never a traceback
cli_commands = st.sampled_from(
    ["dump", "eval", "inspect", "infer", "figures", "ablate", "import-caffe"]
)
cli_tokens = st.lists(
    st.sampled_from(
        [
            "--out",
            "--data",
            "--frames",
            "x:y",
            "-1",
            "--channels",
            "a,b",
            "nope.pt",
            "--preset",
            "huge",
            "--scales",
            "0",
            "--sweep",
            "synthetic:test:0:0",
            "--videos",
            "7",
            "penn:",
            "jhmdb:x:9",
        ]
    ),
    max_size=6,
)


@FUZZ
@given(command=cli_commands, argv=cli_tokens)
def test_nonsense_command_lines_fail_cleanly(command, argv, capsys, tmp_path_factory):
    os.chdir(tmp_path_factory.mktemp("cwd"))
    try:
        code = main([command, *argv])
    except SystemExit as e:  # argparse: a usage message and exit 2
        code = e.code
    err = capsys.readouterr().err
    assert code != 0 and err.strip()
    assert "Traceback" not in err


# ------------------------------------------------------------------ killed runs
def _losses(path):
    return [json.loads(line)["loss"] for line in path.read_text().splitlines()]


@pytest.mark.slow
def test_training_killed_with_sigkill_resumes_exactly(tmp_path):
    over = ["--optim.steps=30", "--run.checkpoint_every=4"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # the same threads for every run: same sums

    def cmd(out, *extra):
        return [sys.executable, "-m", "lstm_probe.cli", "train", str(TINY), "--out", str(out),
                "--device", "cpu", "--no-progress", *over, *extra]  # fmt: skip

    subprocess.run(cmd(tmp_path / "full"), env=env, check=True, capture_output=True)
    proc = subprocess.Popen(
        cmd(tmp_path / "k"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    log = tmp_path / "k/metrics.jsonl"
    end = time.time() + 120
    while time.time() < end and (not log.exists() or len(log.read_text().splitlines()) < 14):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 0 < len(log.read_text().splitlines()) < 30  # really killed mid-run
    r = subprocess.run(cmd(tmp_path / "k", "--resume"), env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-1000:]
    assert _losses(log) == _losses(tmp_path / "full/metrics.jsonl")


@pytest.mark.slow
def test_dump_killed_mid_video_reruns_without_touching_finished_videos(tiny_checkpoint, tmp_path):
    out = tmp_path / "d"
    args = ["dump", str(tiny_checkpoint), "--data", "synthetic:test:3:60", "--out", str(out),
            "--device", "cpu", "--no-progress"]  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "lstm_probe.cli", *args],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    end = time.time() + 120
    killed = False
    while time.time() < end:
        man = out / "manifest.json"
        if man.exists():
            status = [v["status"] for v in json.loads(man.read_text())["videos"]]
            if status[:2] == ["done", "partial"]:
                time.sleep(0.2)  # in the middle of the second video
                proc.send_signal(signal.SIGKILL)
                killed = True
                break
        time.sleep(0.02)
    proc.wait()
    assert killed
    first = json.loads((out / "manifest.json").read_text())["videos"][0]
    before = (out / first["file"]).read_bytes()
    assert main(args) == 0
    assert (out / first["file"]).read_bytes() == before
    statuses = [v["status"] for v in json.loads((out / "manifest.json").read_text())["videos"]]
    assert statuses == ["done"] * 3
    assert not list((out / "videos").glob("*.tmp"))
    assert main(["inspect", str(out)]) == 0


# ------------------------------------------------------------------ hooks and memory
@pytest.mark.slow
def test_thousand_probe_sessions_leak_nothing():
    import gc
    import tracemalloc

    from lstm_probe.models import MEMORY_PHASES, build_model
    from lstm_probe.probe.recorder import Intervention, MemoryProbe

    model = build_model("lstm_pm", "tiny").eval()
    x = torch.randn(1, 1, 3, 64, 64)
    tracemalloc.start()
    peaks = []
    for k in range(1000):
        try:
            ivs = [Intervention("cell", [0])] if k % 2 else []
            with torch.no_grad(), MemoryProbe(model, MEMORY_PHASES, interventions=ivs):
                model(x)
                if k % 3 == 0:
                    raise KeyError(k)
        except KeyError:
            pass
        if k in (100, 999):
            gc.collect()
            peaks.append(tracemalloc.get_traced_memory()[0])
    tracemalloc.stop()
    assert sum(len(m._forward_hooks) for m in model.modules()) == 0
    assert peaks[1] - peaks[0] < 2_000_000  # no growth beyond noise over 900 sessions


# ------------------------------------------------------------------ untrusted files
def test_dumps_hold_no_pickles(tiny_dump):
    for h5 in (tiny_dump / "videos").glob("*.h5"):
        with h5py.File(h5) as f:
            kinds: list[str] = []

            def visit(name, obj, kinds=kinds):
                if isinstance(obj, h5py.Dataset):
                    kinds.append(obj.dtype.kind)

            f.visititems(visit)
            assert kinds and "V" not in kinds  # no opaque blobs
    assert b"\x80\x04" not in (tiny_dump / "manifest.json").read_bytes()


def test_dashboard_serves_nothing_outside_its_dumps(tiny_dump):
    from dashboard import create_app
    from dashboard.browser import serve

    app = create_app([tiny_dump])
    import urllib.error
    import urllib.request

    with serve(app) as url:
        for path in (
            "../../../../etc/passwd",
            "assets/../../../etc/passwd",
            "%2e%2e/%2e%2e/etc/passwd",
            "_dash-component-suites/../../etc/passwd",
            str(tiny_dump / "manifest.json"),
        ):
            try:
                body = urllib.request.urlopen(url + path, timeout=10).read()
            except urllib.error.HTTPError:
                continue
            assert b"root:" not in body and b'"format": "lstm-probe-dump"' not in body


def test_dashboard_binds_loopback_by_default():
    from lstm_probe.cli import build_parser

    args = build_parser().parse_args(["dashboard", "d"])
    assert args.host == "127.0.0.1"
    args = build_parser().parse_args(["demo"])
    assert args.host == "127.0.0.1"


# ------------------------------------------------------------------ dashboard under load
CLIENTS = 50  # the load target of the dashboard (docs/performance.md §5: p95 from bench dashboard)


@pytest.mark.slow
def test_dashboard_under_fifty_concurrent_clients(tiny_dump):
    import concurrent.futures
    import urllib.request

    from dashboard import create_app
    from dashboard.browser import serve

    app = create_app([tiny_dump])
    vid = app.catalog.dumps[0].video_ids[0]

    def payload(t, c):
        return json.dumps(
            {
                "output": "figure5.figure",
                "outputs": {"id": "figure5", "property": "figure"},
                "inputs": [
                    {"id": "frame", "property": "value", "value": t},
                    {"id": "channels", "property": "value", "value": [c]},
                    {"id": "alpha", "property": "value", "value": 0.7},
                    {"id": "cmap", "property": "value", "value": "RdBu_r"},
                    {"id": "scale", "property": "value", "value": "channel"},
                ],
                "state": [
                    {"id": "video", "property": "value", "value": vid},
                    {"id": "dump", "property": "value", "value": 0},
                ],
                "changedPropIds": ["frame.value"],
            }
        ).encode()

    with serve(app) as url:

        def client(seed):
            rng = np.random.default_rng(seed)
            times, errors = [], 0
            end = time.time() + 8
            while time.time() < end:
                req = urllib.request.Request(
                    url + "_dash-update-component",
                    data=payload(int(rng.integers(1, 8)), int(rng.integers(8))),
                    headers={"Content-Type": "application/json"},
                )
                t0 = time.perf_counter()
                try:
                    with urllib.request.urlopen(req, timeout=30) as r:
                        ok = r.status == 200 and b"figure" in r.read()
                except Exception:
                    ok = False
                errors += not ok
                times.append(time.perf_counter() - t0)
            return times, errors

        with concurrent.futures.ThreadPoolExecutor(CLIENTS) as ex:
            results = list(ex.map(client, range(CLIENTS)))
    times = np.concatenate([r[0] for r in results])
    errors = sum(r[1] for r in results)
    cache = app.catalog.cache
    print(
        f"\n{CLIENTS} clients: {len(times)} requests, p50 {1000 * np.percentile(times, 50):.0f} ms, "
        f"p95 {1000 * np.percentile(times, 95):.0f} ms, {errors} errors, cache "
        f"{cache.bytes / 2**20:.1f} of {cache.max_bytes / 2**20:.0f} MiB"
    )
    assert errors == 0 and len(times) >= CLIENTS
    assert cache.bytes <= cache.max_bytes  # memory bounded by the cache's budget
