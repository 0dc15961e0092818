"""The benchmark measurements docs/performance.md quotes besides ``lstm-probe bench``'s tables:
the per-operator profile of a later frame, the peak memory of dumps of any lengths, and the
synthetic render time."""

import json

import pytest

from lstm_probe.bench import fastpath, probe_cost, streaming
from lstm_probe.bench.common import median_interval
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


def test_an_untrained_preset_is_named_not_its_temporary_file():
    r = probe_cost.run_untrained("tiny", frames=2, repeats=1, peak_lengths=(2,))
    assert r["checkpoint"] == "an untrained LSTM PM, tiny preset"
    assert r["relative_rounds"]["dump"] and set(r["peak_rss_mib"]) == {0, 2}
    assert "an untrained LSTM PM, tiny preset (" in probe_cost.report(r)


def test_render_time_counts_every_frame():
    videos = list(SyntheticVideos(split="test", num_videos=2, num_frames=3))
    assert fastpath.render_ms(videos) > 0


def test_shares_pair_each_run_with_the_plain_run_beside_it():
    """A machine that slows down between rounds moves every variant alike: paired shares see
    through it where a ratio of medians would not."""
    times = {"plain": [1.0, 2.0, 2.0], "dump": [1.1, 2.2, 2.2], "other": [2.0, 2.0, 2.0]}
    share, span = probe_cost.shares_of(probe_cost.paired_ratios(times))
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


def test_a_round_runs_recording_and_the_dump_beside_plain_streaming():
    names = ["plain", "recording", "detached", "dump", "dump, 1 lane"]
    seq = probe_cost.round_sequence(names)
    assert seq == ["recording", "plain", "dump", "detached", "dump, 1 lane"]
    for r in range(2):  # the goals' variants next to plain in either order
        order = probe_cost.round_order(seq, r)
        for goal in ("recording", "dump"):
            assert abs(order.index("plain") - order.index(goal)) == 1
    assert probe_cost.round_sequence(["plain", "other"]) == ["plain", "other"]


def test_the_median_interval_is_the_sign_tests():
    """k-th smallest to k-th largest, k the largest with 1 − 2·P(Bin(n, ½) < k) ≥ 95 %."""
    assert median_interval(range(9)) == (1.0, 7.0, 1 - 2 * 10 / 512)  # k = 2 of 9: 96.1 %
    assert median_interval([4, 0, 3, 1, 2]) == (0.0, 4.0, 1 - 2 / 32)  # 5: the range, 93.8 %
    lo, hi, coverage = median_interval(range(30))  # k = 10 of 30
    assert (lo, hi) == (9.0, 20.0) and 0.95 <= coverage < 0.96
    assert median_interval(range(30), level=0.99)[0] < 9.0  # surer: wider
    with pytest.raises(ValueError, match="no values"):
        median_interval([])


def test_saved_probe_runs_are_tabulated_with_their_verdicts(tmp_path):
    def saved(date, share, lo, hi, order=None, rounds=None):
        r = {"machine": {"date": date}, "repeats": 9, "relative": {"dump": share},
             "relative_range": {"dump": [lo, hi]}}  # fmt: skip
        if order:
            r["round_order"] = order
        if rounds:
            r["relative_rounds"] = {"dump": rounds}
        return r

    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps({"probe": saved("d1", 0.903, 0.866, 0.931)}))
    b.write_text(json.dumps({"probe": saved("d2", 0.881, 0.877, 0.932, "alternating"),
                             "probe_paper": saved("d3", 0.963, 0.893, 0.994)}))  # fmt: skip
    text = probe_cost.summarize_runs([a, b])
    lines = text.splitlines()
    assert "90.3 %" in lines[2] and "fixed" in lines[2] and lines[2].rstrip().endswith("pass")
    assert "alternating" in lines[3] and lines[3].rstrip().endswith("short")
    assert "probe: 1 of 2 runs' medians ≥ 90 %, median of the runs 89.2 %" in text
    assert "probe_paper: 1 of 1 runs' medians ≥ 90 %, median of the runs 96.3 %" in text
    assert "saved without its rounds' shares" in text
    # saved with its rounds: the median's interval decides — over the aim, yet undecided
    rounds = [0.87, 0.88, 0.89, 0.90, 0.91, 0.91, 0.92, 0.93, 0.94]
    c = tmp_path / "c.json"
    c.write_text(json.dumps({"probe": saved("d4", 0.91, 0.87, 0.94, "alternating", rounds)}))
    row = probe_cost.summarize_runs([c]).splitlines()[2]
    assert "88.0–93.0 (96 %)" in row and row.rstrip().endswith("undecided")
    assert "saved without" not in probe_cost.summarize_runs([c])
    bad = tmp_path / "bad.json"
    short = saved("d5", 0.91, 0.87, 0.94, rounds=[0.9] * 3)  # three rounds' shares for nine
    for content in ("{", '{"probe": {"relative": {}}}', '{"other": 1}', "[1]",
                    json.dumps({"probe": short})):  # fmt: skip
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
