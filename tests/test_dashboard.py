"""Dashboard: callbacks as plain functions on a small dump, then a real headless Chromium."""

import re
import time
from pathlib import Path

import numpy as np
import pytest

from dashboard import callbacks as C
from dashboard import create_app
from dashboard.validate import InvalidInput
from lstm_probe.metrics.pck import frame_pck
from lstm_probe.probe.analysis import analyse_channels
from lstm_probe.viz import montage as M
from lstm_probe.viz import plots as P
from lstm_probe.viz.draw import zoomed_frame


def test_figure_builders(tiny_dump):
    from lstm_probe.probe.store import open_dump

    v = open_dump(tiny_dump).video(open_dump(tiny_dump).video_ids[0])
    rep = analyse_channels([v])
    panels = M.figure5_row(v, 2, 0, M.OverlayStyle())
    assert len(panels) == 6 and all(p.shape == (320, 320, 3) for p in panels)  # 160 px zoomed 2×
    # panel a) is the previous frame, panel b) the current one, both with C_{t-1}
    assert not np.array_equal(panels[0], panels[1])
    m = M.figure5_montage(v, 5, [0, 2], frames=3)
    assert m.shape == (2 * 3 * 320, 6 * 320, 3)
    grid, order = M.figure4_montage(v, 3, rep, columns=4)
    assert grid.shape == (2 * 160, 4 * 160, 3) and sorted(order) == list(range(8))
    assert P.channel_joint_figure(rep).data[0].z.shape == (8, 14)
    e = P.energy_figure(v, 1, 4)
    assert [t.name for t in e.data] == ["forget_term", "input_term", "cell"]
    pck = frame_pck(v.keypoints, v.keypoints_gt, v.visible, v.bbox)
    assert pck.shape == (8,) and np.all((pck >= 0) & (pck <= 1))
    fig = P.pck_figure(pck, 3)
    assert list(fig.data[0].y) == list(pck) and fig.layout.shapes[0].x0 == 3


def test_frame_pck_on_hand_built_numbers():
    gt = np.zeros((2, 3, 2))
    gt[:, 1] = [10.0, 0.0]  # joints' extent 10 px -> threshold 0.2 · 10 = 2 px
    pred = gt.copy()
    pred[0, 0] += [1.5, 0.0]  # hit
    pred[0, 1] += [0.0, 3.0]  # miss
    pred[1, 2] += [50.0, 0.0]  # miss, but joint 2 of frame 1 is unlabelled
    visible = np.array([[1, 1, -1], [1, 0, -1]])
    assert np.allclose(frame_pck(pred, gt, visible), [0.5, 1.0])
    # a box (side 100 -> threshold 20 px) takes over from the joints' extent
    bbox = np.array([[0, 0, 100, 50], [0, 0, 100, 50]], np.float32)
    assert np.allclose(frame_pck(pred, gt, visible, bbox), [1.0, 1.0])
    # a frame without a labelled joint scores 0, it does not divide by zero
    assert frame_pck(pred, gt, np.full((2, 3), -1))[0] == 0.0


def _sources(fig):
    return [t["source"] for t in fig["data"] if t["type"] == "image"]


def test_callbacks_as_functions(tiny_dump, tmp_path):
    app = create_app([tiny_dump, tmp_path / "missing"])
    cat = app.catalog
    assert len(cat.errors) == 1 and "missing" in cat.errors[0]
    vids, first = C.videos(cat, 0)
    assert first == vids[0]
    tmax, t, opts, chans, _ = C.video_changed(cat, first, 0, None, None)
    assert tmax == 7 and t == 3 and len(opts) == 8 and len(chans) == 1
    # switching video keeps the frame and channels the new video has
    assert C.video_changed(cat, vids[1], 0, 6, [5, 2])[1::2] == (6, [5, 2])
    assert C.video_changed(cat, vids[1], 0, 60, [50])[1] == 3
    fig5 = C.figure5(cat, 4, [0, 1], 0.5, "PuOr_r", "global", first, 0)
    assert C.window_note(cat, 4, first, 0) == "" and all(
        s.startswith("data:image/jpeg;base64,") for s in _sources(fig5)
    )
    assert len(_sources(fig5)) == 2 * 3 * 6  # 2 channels × 3 frames × panels a–f
    other = C.figure5(cat, 5, [0, 1], 0.5, "PuOr_r", "global", first, 0)
    assert _sources(other)[0] != _sources(fig5)[0]
    # an empty selection is an explicit empty state, frames 0–1 say why Figure 5 is shorter
    empty = C.figure5(cat, 1, [], 0.7, "RdBu_r", "channel", first, 0)
    note = C.window_note(cat, 1, first, 0)
    assert not empty["data"] and "no channel selected" in empty["layout"]["annotations"][0]["text"]
    assert "t = 2" in note
    f4 = C.figure4(cat, 3, 0.7, "RdBu_r", "all", "cell", "common", first, 0)
    assert len(_sources(f4)) == 8
    order = C.fig4_channels(cat, 0, first, "all")
    assert C.pick_channel(cat, {"points": [{"curveNumber": 5}]}, first, 0, "all") == [order[2]]
    assert C.jump(cat, {"points": [{"x": 6.2}]}, first, 0) == 6
    tl = C.timeline(cat, 3, [2], first, 0)
    assert len(tl["data"]) == 5 and {tr["xaxis"] for tr in tl["data"]} == {"x"}  # one time axis
    assert [tr["yaxis"] for tr in tl["data"]] == ["y", "y", "y", "y2", "y2"]  # energies above
    conf = tl["data"][3]  # the model's confidence (mean peak belief) beside the per-frame PCK
    assert conf["name"].startswith("confidence")
    stored = cat.video(0, first).array("confidence").mean(1)
    assert np.allclose(conf["y"], stored, atol=1e-4)
    window = [s for s in tl["layout"]["shapes"] if s.get("name") == "figure-5-window"]
    assert (window[0]["x0"], window[0]["x1"]) == (0.5, 3.5)  # frames t−2 … t shaded
    h5, h4, msg = C.export_links(cat, 4, [0], 0.7, "RdBu_r", "channel", "curated", "cell", "tile",
                                 "pdf", "single", first, 0)  # fmt: skip
    assert msg == "" and h5.startswith("/export/figure5?") and h4.startswith("/export/figure4?")
    client = app.server.test_client()
    resp = client.get(h5)
    assert resp.status_code == 200 and resp.data.startswith(b"%PDF")
    assert f"figure5_{first}_t4.pdf" in resp.headers["Content-Disposition"]
    h5, _, msg = C.export_links(cat, 4, [], 0.7, "RdBu_r", "channel", "curated", "cell", "tile",
                                "png", "double", first, 0)  # fmt: skip
    assert h5 is None and "choose a channel" in msg  # never channel 0 by default
    assert client.get(h4.replace("fmt=pdf", "fmt=svg")).data.lstrip().startswith(b"<?xml")
    assert client.get(h4.replace("t=4", "t=../4")).status_code == 400


def test_callbacks_reject_what_the_page_cannot_send(tiny_dump):
    cat = create_app([tiny_dump]).catalog
    vid = cat.dumps[0].video_ids[0]
    with pytest.raises(InvalidInput, match="dump"):
        C.videos(cat, 1)
    with pytest.raises(InvalidInput, match="video"):
        C.video_changed(cat, "../../etc/passwd", 0, 3, [0])
    with pytest.raises(InvalidInput, match="frame"):
        C.figure5(cat, 8, [0], 0.7, "RdBu_r", "channel", vid, 0)
    with pytest.raises(InvalidInput, match="channel"):
        C.figure5(cat, 3, [0, 99], 0.7, "RdBu_r", "channel", vid, 0)
    with pytest.raises(InvalidInput, match="colormap"):
        C.figure4(cat, 3, 0.7, "../x", "curated", "cell", "tile", vid, 0)
    with pytest.raises(InvalidInput, match="phase"):
        C.figure4(cat, 3, 0.7, "RdBu_r", "curated", "gates", "tile", vid, 0)
    with pytest.raises(InvalidInput, match="export format"):
        C.export_links(cat, 3, [0], 0.7, "RdBu_r", "channel", "curated", "cell", "tile",
                       "png/../../x.png", "single", vid, 0)  # fmt: skip
    with pytest.raises(InvalidInput, match="clicked"):
        C.pick_channel(cat, {"points": [{"curveNumber": 10**6}]}, vid, 0, "all")
    with pytest.raises(InvalidInput, match="clicked x"):
        C.jump(cat, {"points": [{"x": 1e9}]}, vid, 0)


def test_no_valid_dump_shows_a_message(tmp_path):
    app = create_app([tmp_path / "nope"])
    text = str(app.layout)
    assert "No dump could be opened" in text and "nope" in text


# ------------------------------------------------------------------ real browser
@pytest.fixture
def served(tiny_dump):
    from dashboard.browser import serve

    with serve(create_app([tiny_dump])) as url:
        yield url


def _wait(driver, js, timeout=60.0, what=""):
    end = time.time() + timeout
    while time.time() < end:
        value = driver.execute_script(js)
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what or js}")


GRID_CHECK = """
const gd = document.querySelector('#%s .js-plotly-plot');
if (!gd || !gd._fullLayout || !gd.data) return null;
const panels = Object.keys(gd.layout).filter(k => k.startsWith('xaxis')).length;
const heads = gd._fullLayout.annotations.filter(a => a.name === 'panel-header').length;
const domHeads = gd.querySelectorAll('.annotation-text').length;
const bars = gd.querySelectorAll('.colorbar').length;
const wanted = gd.data.filter(t => t.marker && t.marker.showscale).length;
const images = gd.data.filter(t => t.type === 'image').length;
return images ? {panels, heads, domHeads, bars, wanted, images,
                 drawn: gd.querySelectorAll('image').length} : null;
"""


@pytest.mark.browser
@pytest.mark.parametrize("width", [1600, 1280])
def test_end_to_end_in_chromium(tiny_dump, tmp_path, width):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    from dashboard.browser import chromium_available, headless_chromium, serve

    if not chromium_available():
        pytest.skip("Debian chromium + chromium-driver not installed (make browser)")
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    driver = headless_chromium(width, 2400 if width == 1600 else 800, str(downloads))
    try:
        with serve(create_app([tiny_dump])) as url:
            driver.get(url)
            for graph in ("figure5", "figure4"):
                g = _wait(driver, GRID_CHECK % graph, what=graph)
                assert g["drawn"] >= g["images"] > 0, g
                # every panel has a header, every scale a colour bar (one per Figure 5 row)
                assert g["heads"] == g["panels"] and g["domHeads"] >= g["panels"], g
                assert g["bars"] == g["wanted"] >= 1, g
            driver.save_screenshot(str(tmp_path / f"page_{width}.png"))
            for graph in ("figure5", "figure4", "timeline"):
                driver.find_element(By.ID, graph).screenshot(str(tmp_path / f"{graph}_{width}.png"))
            # hover on a memory panel: a value, the phase, the frame, the grid cell, the pixel
            drag = driver.find_element(By.CSS_SELECTOR, "#figure5 .nsewdrag[data-subplot='x2y2']")
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", drag)
            ActionChains(driver).move_to_element(drag).move_by_offset(2, 3).perform()
            hover = _wait(driver, "const h = document.querySelector('#figure5 .hovertext');"
                                  "return h && h.textContent;", 15, "hover text")  # fmt: skip
            assert "value" in hover and "frame t =" in hover and "grid cell (row" in hover, hover
            assert re.search(r"value -?\d+\.\d{3}", hover) and "frame pixel (x" in hover, hover
            # energy and PCK share the time axis: the same left edge and width on screen
            rects = _wait(driver, "const r = s => { const e = document.querySelector("
                          "'#timeline .nsewdrag[data-subplot=\"' + s + '\"]'); return e && "
                          "e.getBoundingClientRect(); }; const a = r('xy'), b = r('xy2');"
                          "return a && b && [a.left, a.width, b.left, b.width];")  # fmt: skip
            assert abs(rects[0] - rects[2]) < 1 and abs(rects[1] - rects[3]) < 1, rects
            # the ablation reports ΔPCK
            driver.find_element(By.ID, "ablate").click()
            msg = _wait(driver, "return document.getElementById('ablate-message').textContent;",
                        90, "ablation message")  # fmt: skip
            assert "ΔPCK@0.2" in msg, msg
            _wait(driver, GRID_CHECK % "ablation", what="ablation view")
            driver.find_element(By.ID, "ablation").screenshot(
                str(tmp_path / f"ablation_{width}.png")
            )
            # quick successive exports all arrive: Figure 5 twice, then Figure 4
            e5 = _wait(driver, "const a = document.getElementById('export5');"
                               "return a.getAttribute('href') && a;")  # fmt: skip
            e4 = driver.find_element(By.ID, "export4")
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", e5)
            ActionChains(driver).click(e5).click(e5).click(e4).perform()
            done = lambda: [p for p in downloads.iterdir() if p.suffix != ".crdownload"]  # noqa: E731
            end = time.time() + 90
            while len(done()) < 3 and time.time() < end:
                time.sleep(0.25)
            files = done()
            assert len(files) == 3 and all(p.read_bytes().startswith(b"%PDF") for p in files), files
        severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert severe == []
    finally:
        driver.quit()


def test_zoomed_panels_keep_the_geometry(tiny_dump):
    from lstm_probe.probe.store import open_dump
    from lstm_probe.viz.overlay import map_to_frame

    v = open_dump(tiny_dump).video(open_dump(tiny_dump).video_ids[0])
    _, g1 = zoomed_frame(v, 2, 1)
    img2, g2 = zoomed_frame(v, 2, 2)
    m = np.zeros((8, 8), np.float32)
    m[3, 4] = 1.0
    p1 = np.unravel_index(np.nanargmax(map_to_frame(m, g1, (160, 160))), (160, 160))
    p2 = np.unravel_index(np.nanargmax(map_to_frame(m, g2, (320, 320))), (320, 320))
    assert abs(p2[0] - (2 * p1[0] + 0.5)) <= 2 and abs(p2[1] - (2 * p1[1] + 0.5)) <= 2
    assert img2.shape == (320, 320, 3)


def test_ablation_view_and_importance_matrix(tiny_dump, tmp_path):
    import json
    import shutil

    from lstm_probe.engine.rerun import rerun
    from lstm_probe.probe.recorder import Intervention

    dump = tmp_path / "dump"
    shutil.copytree(tiny_dump, dump)
    imp = {
        "point": "cell",
        "from_frame": 2,
        "importance": np.arange(8 * 14).reshape(8, 14).tolist(),
    }
    (dump / "importance.json").write_text(json.dumps(imp))
    app = create_app([dump])
    fig, style = C.importance(app.catalog, 0)
    assert fig.data[0].z.shape == (8, 14) and style.get("display") != "none"
    vid = app.catalog.dumps[0].video_ids[0]
    fig, msg = C.ablate(app.catalog, 3, [2], 0.7, "RdBu_r", vid, 0)
    assert "ΔPCK@0.2" in msg and "silenced from t = 3" in msg
    assert len(_sources(fig)) == 3 * 4  # unchanged, ablated, difference × frames 3–6
    fig, msg = C.ablate(app.catalog, 6, [2], 0.7, "RdBu_r", vid, 0)
    assert len(_sources(fig)) == 3 * 2  # frames 6–7: no frame repeated at the end
    # the re-run itself: deterministic, the channel is zero from t on, earlier frames unchanged
    model, v = app.catalog.model(0), app.catalog.video(0, vid)
    base, again = rerun(model, v), rerun(model, v)
    assert np.array_equal(base["keypoints"], again["keypoints"])
    abl = rerun(model, v, [Intervention("cell", [2], "zero", frames=(3, None))])
    assert np.all(abl["memory"][3:, 2] == 0) and np.array_equal(
        abl["keypoints"][:3], base["keypoints"][:3]
    )
    # starting from the unchanged run's state at t − 1 gives the numbers of a run from frame 0
    from lstm_probe.engine.rerun import run_with_states

    iv = [Intervention("cell", [2], "zero", frames=(3, None))]
    full = run_with_states(model, v, iv)
    resumed = run_with_states(model, v, iv, 3, run_with_states(model, v), threads=1)
    for k in ("keypoints", "memory", "belief"):
        assert np.array_equal(full[k], resumed[k]), k
    assert np.allclose(full["keypoints"], abl["keypoints"], atol=1e-3)
    # the re-run reproduces the dump's own memory up to the JPEG-stored frames
    stored = v.memory[:, 3].astype(np.float32)
    assert np.abs(base["memory"] - stored).mean() < 0.1 * np.abs(stored).mean() + 1e-3


def test_ablation_needs_the_unchanged_checkpoint(tiny_dump, tmp_path):
    import json
    import shutil

    dump = tmp_path / "dump"
    shutil.copytree(tiny_dump, dump)
    man = json.loads((dump / "manifest.json").read_text())
    man["checkpoint"]["sha256"] = "0" * 64
    (dump / "manifest.json").write_text(json.dumps(man))
    app = create_app([dump])
    vid = app.catalog.dumps[0].video_ids[0]
    _, msg = C.ablate(app.catalog, 3, [2], 0.7, "RdBu_r", vid, 0)
    assert "sha256 differs" in msg
    _, style = C.importance(app.catalog, 0)
    assert style == {"display": "none"}


def test_switching_between_several_dumps(tiny_dump, tiny_checkpoint, tmp_path):
    from lstm_probe.data import SyntheticVideos
    from lstm_probe.engine.dump import dump_videos

    other = dump_videos(tiny_checkpoint, list(SyntheticVideos(split="val", num_videos=1, num_frames=5)),
                        tmp_path / "other", progress=False)  # fmt: skip
    cat = create_app([tiny_dump, other]).catalog
    first, _ = C.videos(cat, 0)
    second, vid = C.videos(cat, 1)
    assert set(first).isdisjoint(second) and vid.startswith("synthetic_val")
    tmax, *_ = C.video_changed(cat, vid, 1, None, None)
    assert tmax == 4
    with pytest.raises(InvalidInput):  # a video of the other dump
        C.video_changed(cat, vid, 0, None, None)
    fig = C.figure5(cat, 2, [0], 0.7, "RdBu_r", "channel", vid, 1)
    assert _sources(fig)[0].startswith("data:image/jpeg")


def test_the_shared_cache_keeps_its_byte_budget():
    from dashboard.cache import ByteLRU

    cache = ByteLRU(max_bytes=10_000)
    made = []

    def make(k):
        made.append(k)
        return np.zeros(1000, np.uint8)

    for k in range(50):
        cache.get(k, lambda k=k: make(k))
        assert cache.bytes <= 10_000
    assert len(cache) == 10 and cache.bytes == 10_000
    cache.get(49, lambda: make(49))  # the most recent entries are kept…
    cache.get(0, lambda: make(0))  # …the oldest went first
    assert made.count(49) == 1 and made.count(0) == 2
    big = cache.get("big", lambda: np.zeros(20_000, np.uint8))  # larger than the budget: not kept
    assert big.nbytes == 20_000 and "big" not in cache._items and cache.bytes <= 10_000


@pytest.mark.browser
def test_headless_chromium_leaves_no_temporary_files():
    import tempfile

    from dashboard.browser import chromium_available, headless_chromium

    if not chromium_available():
        pytest.skip("Debian chromium + chromedriver not installed (make browser)")
    tmp = Path(tempfile.gettempdir())
    before = set(tmp.glob("org.chromium.Chromium.*")) | set(tmp.glob("lstm-probe-chromium-*"))
    driver = headless_chromium(400, 300)
    try:
        driver.get("data:text/html,<p>ok</p>")
    finally:
        driver.quit()
    after = set(tmp.glob("org.chromium.Chromium.*")) | set(tmp.glob("lstm-probe-chromium-*"))
    assert after <= before  # its profile lock's socket folder went with it
