"""The benchmark measurements docs/performance.md quotes besides ``lstm-probe bench``'s tables:
the per-operator profile of a later frame, the peak memory of dumps of any lengths, and the
synthetic render time."""

from lstm_probe.bench import fastpath, probe_cost, streaming
from lstm_probe.data import SyntheticVideos


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
