"""The benchmark measurements docs/performance.md quotes besides ``lstm-probe bench``'s tables:
the per-operator profile of a later frame, the peak memory of dumps of any lengths, and the
synthetic render time."""

import json

import pytest

from lstm_probe.bench import fastpath, probe_cost, streaming
from lstm_probe.data import SyntheticVideos
from lstm_probe.utils import InputError


def test_profile_of_a_later_frame_lists_its_convolutions():
    r = streaming.profile("tiny", "plain", top=5)
    assert 0 < len(r["rows"]) <= 5 and r["frame_ms"] > 0
    assert any("conv" in row["op"] for row in r["rows"])
    assert sum(row["self_ms"] for row in r["rows"]) <= r["profiled_ms"] + 1e-6
    assert "self ms" in streaming.report_profile(r)


def test_peak_rss_takes_any_dump_lengths(tiny_checkpoint):
    peaks = probe_cost.peak_rss(tiny_checkpoint, (3, 6), "plain")
    assert list(peaks) == [0, 3, 6] and all(v > 0 for v in peaks.values())
    assert "6 frames" in probe_cost.report_peak_rss(peaks)


def test_render_time_counts_every_frame():
    videos = list(SyntheticVideos(split="test", num_videos=2, num_frames=3))
    assert fastpath.render_ms(videos) > 0


def test_shares_pair_each_run_with_the_plain_run_beside_it():
    """A machine that slows down between rounds moves every variant alike: paired shares see
    through it where a ratio of medians would not."""
    times = {"plain": [1.0, 2.0, 2.0], "dump": [1.1, 2.2, 2.2], "other": [2.0, 2.0, 2.0]}
    share, span = probe_cost.paired_shares(times)
    assert share["plain"] == 1.0 and span["plain"] == [1.0, 1.0]
    assert abs(share["dump"] - 1 / 1.1) < 1e-12 and span["dump"][1] - span["dump"][0] < 1e-12
    assert share["other"] == 1.0 and span["other"] == [0.5, 1.0]


def test_rounds_alternate_the_order_so_a_steady_drift_favours_no_variant():
    names = ["plain", "recording", "detached", "dump"]
    assert probe_cost.round_order(names, 0) == names
    assert probe_cost.round_order(names, 1) == names[::-1]
    assert probe_cost.round_order(names, 2) == names
    # a machine slowing by one unit per slot: over two rounds every variant pays the same
    slot = {n: 0 for n in names}
    for r in range(2):
        for i, n in enumerate(probe_cost.round_order(names, r)):
            slot[n] += i
    assert len(set(slot.values())) == 1
    assert names == ["plain", "recording", "detached", "dump"]  # the caller's list untouched


def test_saved_probe_runs_are_tabulated_with_their_verdicts(tmp_path):
    def saved(date, share, lo, hi, order=None):
        r = {"machine": {"date": date}, "repeats": 9, "relative": {"dump": share},
             "relative_range": {"dump": [lo, hi]}}  # fmt: skip
        if order:
            r["round_order"] = order
        return r

    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps({"probe": saved("d1", 0.903, 0.866, 0.931)}))
    b.write_text(json.dumps({"probe": saved("d2", 0.881, 0.877, 0.932, "alternating"),
                             "probe_paper": saved("d3", 0.963, 0.893, 0.994)}))  # fmt: skip
    text = probe_cost.summarize_runs([a, b])
    lines = text.splitlines()
    assert "90.3 %" in lines[2] and "fixed" in lines[2] and lines[2].rstrip().endswith("pass")
    assert "alternating" in lines[3] and lines[3].rstrip().endswith("short")
    assert "probe: 1 of 2 runs ≥ 90 %, median of the runs 89.2 %" in text
    assert "probe_paper: 1 of 1 runs ≥ 90 %, median of the runs 96.3 %" in text
    bad = tmp_path / "bad.json"
    for content in ("{", '{"probe": {"relative": {}}}', '{"other": 1}', "[1]"):
        bad.write_text(content)
        with pytest.raises(InputError, match="bad.json"):
            probe_cost.summarize_runs([a, bad])


def test_probe_report_prints_shares_with_their_range_and_busy_cores():
    fps = {"plain": 200.0, "recording": 198.0, "detached": 199.0, "dump": 180.0}
    result = {
        "machine": {"date": "d", "cpu": "cpu", "cores": 2, "torch": "t", "threads": 2,
                    "device": "cpu", "bf16_native": False},
        "checkpoint": "c.pt", "accel": "fp32", "input_size": 128, "frames": 10,
        "repeats": 3, "fps": fps, "fps_range": {k: [v, v] for k, v in fps.items()},
        "relative": {"plain": 1.0, "recording": 0.99, "detached": 0.995, "dump": 0.9},
        "relative_range": {"plain": [1, 1], "recording": [0.98, 1], "detached": [0.99, 1],
                           "dump": [0.88, 0.93]},
        "cores_busy": dict.fromkeys(fps, 1.99), "peak_rss_mib": {0: 300.0},
        "dump_stages_ms": {"jpeg": 0.1}, "dump_extra_ms": 0.5 / 0.9 - 0.5,
        "dump_kib_per_frame": {"file": 97.25, "memory": 72.0},
    }  # fmt: skip
    text = probe_cost.report(result)
    line = next(row for row in text.splitlines() if row.startswith("dump "))
    assert "90.0 % (88.0–93.0)" in line and line.rstrip().endswith("1.99")
    assert "cores busy" in text and "by stage" in text
    assert "a dump file: 97.2 KiB per frame, of which the memory 72.0 KiB" in text
