"""Dashboard: callbacks as plain functions on a small dump, then a real headless Chromium."""

import time

import numpy as np
import pytest

from dashboard import create_app
from lstm_probe.probe.analysis import analyse_channels
from lstm_probe.viz import figures as F


def _cb(app, key_part):
    keys = [k for k in app.callback_map if key_part in k]
    assert len(keys) == 1, keys
    return app.callback_map[keys[0]]["callback"].__wrapped__


def test_figure_builders(tiny_dump):
    from lstm_probe.probe.store import open_dump

    v = open_dump(tiny_dump).video(open_dump(tiny_dump).video_ids[0])
    rep = analyse_channels([v])
    panels = F.figure5_row(v, 2, 0, F.OverlayStyle())
    assert len(panels) == 6 and all(p.shape == (320, 320, 3) for p in panels)  # 160 px zoomed 2×
    # panel a) is the previous frame, panel b) the current one, both with C_{t-1}
    assert not np.array_equal(panels[0], panels[1])
    m = F.figure5_montage(v, 5, [0, 2], frames=3)
    assert m.shape == (2 * 3 * 320, 6 * 320, 3)
    grid, order = F.figure4_montage(v, 3, rep, columns=4)
    assert grid.shape == (2 * 160, 4 * 160, 3) and sorted(order) == list(range(8))
    assert F.channel_joint_figure(rep).data[0].z.shape == (8, 14)
    e = F.energy_figure(v, 1, 4)
    assert [t.name for t in e.data] == ["forget_term", "input_term", "cell"]
    pck = F.frame_pck(v)
    assert pck.shape == (8,) and np.all((pck >= 0) & (pck <= 1))


def test_callbacks_as_functions(tiny_dump, tmp_path):
    app = create_app([tiny_dump, tmp_path / "missing"])
    assert len(app.catalog.errors) == 1 and "missing" in app.catalog.errors[0]
    vids, first = _cb(app, "video.options")(0)
    assert first == vids[0]
    tmax, _, opts, chans, _ = _cb(app, "frame.max")(first, 0)
    assert tmax == 7 and len(opts) == 8 and len(chans) == 1
    fig5 = _cb(app, "figure5.figure")(4, [0, 1], 0.5, "PuOr_r", "global", first, 0)
    assert fig5.data[0].source.startswith("data:image/jpeg;base64,")
    other = _cb(app, "figure5.figure")(5, [0, 1], 0.5, "PuOr_r", "global", first, 0)
    assert other.data[0].source != fig5.data[0].source
    rep = app.catalog.analysis(0, first)
    click = {"points": [{"x": 160 * 2 + 5, "y": 5}]}  # third tile (160-px frames are drawn 1:1)
    assert _cb(app, "channels.value@")(click, first, 0) == [int(rep.order[2])]
    assert _cb(app, "frame.value@")({"points": [{"x": 6.2}]}, 7) == 6
    energy, _ = _cb(app, "energy.figure")(3, [2], first, 0)
    assert energy.layout.shapes  # current frame marked (and occlusions shaded)
    out = _cb(app, "download.data")
    from contextvars import copy_context

    import dash

    def run():
        dash.ctx  # noqa: B018
        return out(1, None, 4, [0], 0.7, "RdBu_r", "channel", first, 0, "pdf")

    from dash._callback_context import context_value
    from dash._utils import AttributeDict

    ctx = copy_context()

    def with_trigger():
        context_value.set(
            AttributeDict(triggered_inputs=[{"prop_id": "export5.n_clicks", "value": 1}])
        )
        return run()

    data = ctx.run(with_trigger)
    assert data["filename"].startswith("figure5_") and data["filename"].endswith(".pdf")
    import base64

    assert base64.b64decode(data["content"]).startswith(b"%PDF")


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


@pytest.fixture
def browser():
    from dashboard.browser import chromium_available, headless_chromium

    if not chromium_available():
        pytest.skip("Debian chromium + chromium-driver not installed (make browser)")
    driver = headless_chromium()
    yield driver
    driver.quit()


def _image_src(driver, graph_id, timeout=30.0, different_from=None):
    from selenium.webdriver.common.by import By

    end = time.time() + timeout
    while time.time() < end:
        imgs = driver.find_elements(By.CSS_SELECTOR, f"#{graph_id} image")
        if imgs:
            src = imgs[0].get_attribute("href") or imgs[0].get_attribute("xlink:href")
            if src and src != different_from:
                return src
        time.sleep(0.2)
    raise AssertionError(f"#{graph_id} showed no (new) image within {timeout} s")


@pytest.mark.browser
def test_end_to_end_in_chromium(served, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.get(served)
    fig5 = _image_src(browser, "figure5")
    fig4 = _image_src(browser, "figure4")
    assert fig5.startswith("data:image/jpeg") and fig4.startswith("data:image/jpeg")
    # change the frame with the keyboard on the slider handle
    handle = browser.find_element(By.CSS_SELECTOR, "#frame [role=slider]")
    handle.click()
    handle.send_keys(Keys.ARROW_RIGHT)
    fig5_b = _image_src(browser, "figure5", different_from=fig5)
    # change the channel by clicking a tile of the Figure 4 grid
    grid = browser.find_element(By.CSS_SELECTOR, "#figure4 .nsewdrag")
    browser.execute_script(
        "const r = arguments[0].getBoundingClientRect();"
        "const o = {bubbles: true, clientX: r.left + r.width * 0.45, clientY: r.top + r.height * 0.25};"
        "arguments[0].dispatchEvent(new MouseEvent('mousedown', o));"
        "arguments[0].dispatchEvent(new MouseEvent('mouseup', o));"
        "arguments[0].dispatchEvent(new MouseEvent('click', o));",
        grid,
    )
    _image_src(browser, "figure5", different_from=fig5_b)
    assert browser.find_elements(By.CSS_SELECTOR, "#energy .scatterlayer .trace")
    # the ablation view re-runs the video with the selected channel silenced
    browser.find_element(By.ID, "ablate").click()
    assert _image_src(browser, "ablation", timeout=60).startswith("data:image/jpeg")
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []


def test_zoomed_panels_keep_the_geometry(tiny_dump):
    from lstm_probe.probe.store import open_dump
    from lstm_probe.viz.overlay import map_to_frame

    v = open_dump(tiny_dump).video(open_dump(tiny_dump).video_ids[0])
    _, g1 = F._zoomed(v, 2, 1)
    img2, g2 = F._zoomed(v, 2, 2)
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
    fig, style = _cb(app, "importance.figure")(0)
    assert fig.data[0].z.shape == (8, 14) and style.get("display") != "none"
    vid = app.catalog.dumps[0].video_ids[0]
    fig, msg = _cb(app, "ablation.figure")(1, 3, [2], vid, 0)
    assert msg == "" and fig.data[0].source.startswith("data:image/jpeg")
    # the re-run itself: deterministic, the channel is zero from t on, earlier frames unchanged
    model, v = app.catalog.model(0), app.catalog.video(0, vid)
    base, again = rerun(model, v), rerun(model, v)
    assert np.array_equal(base["keypoints"], again["keypoints"])
    abl = rerun(model, v, [Intervention("cell", [2], "zero", frames=(3, None))])
    assert np.all(abl["memory"][3:, 2] == 0) and np.array_equal(
        abl["keypoints"][:3], base["keypoints"][:3]
    )
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
    _, msg = _cb(app, "ablation.figure")(1, 3, [2], vid, 0)
    assert "sha256 differs" in msg
    _, style = _cb(app, "importance.figure")(0)
    assert style == {"display": "none"}


def test_switching_between_several_dumps(tiny_dump, tiny_checkpoint, tmp_path):
    from lstm_probe.data import SyntheticVideos
    from lstm_probe.engine.dump import dump_videos

    other = dump_videos(tiny_checkpoint, list(SyntheticVideos(split="val", num_videos=1, num_frames=5)),
                        tmp_path / "other", progress=False)  # fmt: skip
    app = create_app([tiny_dump, other])
    first, _ = _cb(app, "video.options")(0)
    second, vid = _cb(app, "video.options")(1)
    assert set(first).isdisjoint(second) and vid.startswith("synthetic_val")
    tmax, *_ = _cb(app, "frame.max")(vid, 1)
    assert tmax == 4
    fig = _cb(app, "figure5.figure")(2, [0], 0.7, "RdBu_r", "channel", vid, 1)
    assert fig.data[0].source.startswith("data:image/jpeg")
