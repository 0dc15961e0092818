"""The static channel atlas and the claims table, on a planted dump; the atlas in a browser."""

import json

import numpy as np
import pytest
from planted import CHANNELS, FORGET, PLANTED, write_planted_dump

from dashboard.browser import chromium_available, headless_chromium
from lstm_probe.cli import main
from lstm_probe.probe.claims import channel_horizons, evaluate_claims, format_claims
from lstm_probe.probe.semantics import SemanticsOptions
from lstm_probe.probe.store import open_dump
from lstm_probe.viz.atlas import build_atlas, top_moments


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    return write_planted_dump(tmp_path_factory.mktemp("p") / "d", videos=4, frames=10, gates=True)


@pytest.fixture(scope="module")
def atlas(planted, tmp_path_factory):
    rng = np.random.default_rng(0)
    imp = {"importance": rng.uniform(0, 0.1, (CHANNELS, 14)).tolist()}
    (planted / "importance.json").write_text(json.dumps(imp))
    out = tmp_path_factory.mktemp("atlas")
    text = build_atlas(planted, out, top_k=3, workers=1, options=SemanticsOptions(bootstrap=40))
    assert "8 channels from 4 videos" in text
    return out


def test_atlas_pages(atlas):
    index = (atlas / "index.html").read_text()
    assert all(f"channel_{c}.html" in index for c in range(CHANNELS))
    page = (atlas / "channel_0.html").read_text()
    assert PLANTED[0] in page and "Joint profile" in page and "PCK drop per joint" in page
    assert len(list((atlas / "img").glob("c0_*_crop.png"))) == 3


def test_top_moments_are_the_largest_and_order_free(planted):
    dump = open_dump(planted)
    for per_video in (1, 3):
        moments, _, counts = top_moments(dump, 2, per_video)
        assert counts[:10].tolist() == [4] * 10
        for c in range(CHANNELS):
            peaks = []
            for vid in dump.video_ids:
                st = dump.video(vid).stats[:, 3, c]
                p = sorted((max(abs(a), b) for a, b in zip(st[:, 2], st[:, 3])), reverse=True)
                peaks += p[:per_video]
            assert [m[2] for m in moments[c]] == pytest.approx(sorted(peaks, reverse=True)[:2])
            if per_video == 1:
                assert len({m[0] for m in moments[c]}) == 2  # two videos


def test_horizon_of_planted_forget_gates(planted):
    h = channel_horizons(planted)
    f16 = FORGET.astype(np.float16).astype(float)  # as the dump stores it
    assert h == pytest.approx(np.log(0.1) / np.log(f16), rel=1e-3)


def test_claims_table(planted, capsys, tmp_path):
    claims = {c.key: c for c in evaluate_claims(planted, workers=1, bootstrap=50)}
    assert set(claims) == {
        "retention_vs_speed", "occlusion_memory", "occlusion_error", "memory_horizon"
    }  # fmt: skip
    # the planted dump has no occluder flags: those rows are not measured, not invented
    assert claims["occlusion_memory"].verdict == "not measured"
    hz = claims["memory_horizon"]
    assert hz.effect == pytest.approx(np.median(np.log(0.1) / np.log(FORGET)), rel=1e-2)
    assert hz.verdict == "supported"
    assert claims["retention_vs_speed"].verdict in ("no meaningful effect", "supported",
                                                    "contradicted")  # fmt: skip
    assert "| memory_horizon" in format_claims(list(claims.values()))
    out = tmp_path / "c.json"
    assert main(["claims", str(planted), "--json", str(out), "--workers", "1"]) == 0
    assert "**supported**" in capsys.readouterr().out
    assert {r["key"] for r in json.loads(out.read_text())} == set(claims)


def test_atlas_cli_errors(tmp_path, capsys):
    assert main(["atlas", str(tmp_path), "--out", str(tmp_path / "a")]) == 2
    assert "no manifest.json" in capsys.readouterr().err


@pytest.mark.skipif(not chromium_available(), reason="needs Debian chromium + chromedriver")
def test_atlas_in_a_browser(atlas):
    from selenium.webdriver.common.by import By

    driver = headless_chromium()
    try:
        driver.get((atlas / "index.html").as_uri())
        rows = driver.find_elements(By.CSS_SELECTOR, "#channels tbody tr")
        assert len(rows) == CHANNELS
        header = driver.find_elements(By.CSS_SELECTOR, "#channels th")[3]  # score
        header.click()
        first = driver.find_element(By.CSS_SELECTOR, "#channels tbody tr td").text
        header.click()
        assert driver.find_element(By.CSS_SELECTOR, "#channels tbody tr td").text != first
        driver.find_element(By.LINK_TEXT, "3").click()
        assert "limb:right_elbow+right_wrist" in driver.find_element(By.TAG_NAME, "h1").text
        imgs = driver.find_elements(By.CSS_SELECTOR, ".moments img")
        assert imgs and all(driver.execute_script("return arguments[0].naturalWidth", i) == 160
                            for i in imgs)  # fmt: skip
        assert driver.find_elements(By.CSS_SELECTOR, "svg rect")
        severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not severe, severe
    finally:
        driver.quit()


def test_claims_without_gates_say_so(tmp_path):
    dump = write_planted_dump(tmp_path / "d", videos=2, frames=6)
    claims = {c.key: c for c in evaluate_claims(dump, workers=1, bootstrap=20)}
    hz = claims["memory_horizon"]
    assert hz.verdict == "not measured" and "--gates" in hz.detail
    assert np.isnan(channel_horizons(dump)).all()
