"""Figures 4–5 as figure grids: the specification, its Plotly and matplotlib drawings, the
publication files (pdftotext / pdffonts) and ``lstm-probe figures`` = the dashboard's export."""

import shutil
import subprocess

import numpy as np
import pytest

from lstm_probe.probe.analysis import analyse_channels
from lstm_probe.probe.store import PHASES, open_dump
from lstm_probe.viz import export as E
from lstm_probe.viz import grids as F
from lstm_probe.viz import plots as P


@pytest.fixture
def video(tiny_dump):
    d = open_dump(tiny_dump)
    yield d.video(d.video_ids[0])
    d.close()


def test_figure5_spec_rows_scales_and_the_first_frames(video):
    rep = analyse_channels([video])
    spec = F.figure5_spec(video, 5, [0, 3], labels=rep.labels)
    assert spec.rows == 6 and spec.cols == 6  # 2 channels × frames 3, 4, 5; panels a–f
    assert [p.frame for p in (r[0] for r in spec.panels)] == [3, 4, 5, 3, 4, 5]
    assert len(spec.scales) == 2 and len(spec.scales[0].cells) == 3 * 5  # one per channel row
    lo, hi = spec.scales[1].lo, spec.scales[1].hi
    assert lo == -hi and hi > 0  # symmetric
    # panel b) is C_{t−1} of frame t: the stored prev_cell, which equals C of frame t−1
    b = spec.panels[1][1]
    assert np.array_equal(b.values, video.frame_phases(4, 0)[PHASES.index("prev_cell")])
    assert np.allclose(b.values, video.frame_phases(3, 0)[PHASES.index("cell")], atol=1e-2)
    assert spec.panels[0][5].pose and "pose" in spec.panels[0][5].header.html
    # global: one scale for every channel
    assert len(F.figure5_spec(video, 5, [0, 3], scale="global").scales) == 1
    # t = 0 and 1: fewer rows, frame 0 has no C_{t−1}; the note says why
    early = F.figure5_spec(video, 1, [0])
    assert early.rows == 2 and early.panels[0][0].image is None
    assert "t = 2" in early.note and F.figure5_spec(video, 2, [0]).note == ""


def test_figure4_curated_and_all(video):
    rep = analyse_channels([video])
    groups = F.curated_channels(rep)
    assert {cat for cat, _ in groups} <= set(F.CATEGORIES)
    assert all(F.channel_category(rep, c) == cat for cat, chans in groups for c in chans)
    assert all(len(chans) <= F.CURATED_PER_CATEGORY for _, chans in groups)
    spec = F.figure4_spec(video, 3, rep, "all", "input_term", "common", columns=4)
    assert spec.rows == 2 and len(spec.scales) == 1 and len(spec.scales[0].cells) == 8
    tiles = F.figure4_spec(video, 3, rep, "all", "cell", "tile", columns=4)
    assert len(tiles.scales) == 8  # a colour bar per tile
    assert "i<sub>t</sub>⊙g<sub>t</sub>" in spec.title.html


def test_plotly_grid_figure(video):
    spec = F.figure5_spec(video, 4, [1])
    fig = P.grid_figure(spec)
    images = [t for t in fig["data"] if t["type"] == "image"]
    heat = [t for t in fig["data"] if t["type"] == "heatmap"]
    bars = [t for t in fig["data"] if t.get("marker", {}).get("showscale")]
    assert len(images) == 18 and len(heat) == 15 and len(bars) == 1  # one colour bar per row
    assert all(h["opacity"] == 0 and "value %{z" in h["hovertemplate"] for h in heat)
    assert "grid cell" in heat[0]["hovertemplate"] and "frame pixel" in heat[0]["hovertemplate"]
    assert heat[0]["z"]["dtype"] == "f4"  # binary, not JSON numbers
    heads = [a for a in fig["layout"]["annotations"] if a.get("name") == "panel-header"]
    assert len(heads) == 18
    # the height grows with the rows
    assert (
        P.grid_figure(F.figure5_spec(video, 4, [1, 2]))["layout"]["height"]
        > fig["layout"]["height"]
    )
    import plotly.graph_objects as go

    go.Figure(fig)  # a valid figure for notebooks


def test_importance_heatmap_centred_and_no_effect():
    fig = P.importance_heatmap({"importance": np.zeros((4, 14)).tolist()})
    assert fig.data[0].zmid == 0 and "no effect" in fig.layout.annotations[0].text
    fig = P.importance_heatmap({"importance": (np.arange(56).reshape(4, 14) - 20).tolist()})
    assert fig.data[0].zmin == -fig.data[0].zmax == -35 and not fig.layout.annotations


def test_render_formats_and_widths(video):
    spec = F.figure5_spec(video, 4, [1])
    svg = E.render(spec, "svg", "single")
    assert b"<svg" in svg and b"pose" in svg  # text kept as text
    png = E.render(spec, "png", "double", dpi=100)
    import cv2

    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert img.shape[1] == 700  # 7 in at 100 dpi
    assert E.render(spec, "pdf", "single") == E.render(spec, "pdf", "single")  # deterministic
    with pytest.raises(Exception, match="width"):
        E.render(spec, "pdf", "a4")


needs_poppler = pytest.mark.skipif(
    not (shutil.which("pdftotext") and shutil.which("pdffonts")),
    reason="poppler-utils not installed (make browser)",
)


@needs_poppler
def test_pdf_has_text_headers_and_embedded_fonts(video, tmp_path):
    path = tmp_path / "f5.pdf"
    path.write_bytes(E.render(F.figure5_spec(video, 4, [1], labels=["x"] * 8), "pdf", "double"))
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True).stdout
    for s in ("a)", "f) pose", "on", "ch 1", "t = 4", "memory, ch 1", "ground truth", "⊙"):
        assert s in text, s
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True).stdout
    import re

    rows = [
        re.search(r"(yes|no)\s+(yes|no)\s+(yes|no)\s+\d+\s+\d+$", r) for r in fonts.splitlines()[2:]
    ]
    assert rows and all(m is not None and m[1] == "yes" for m in rows), fonts  # embedded
    assert "TrueType" in fonts and "Type 3" not in fonts, fonts  # fonttype 42, not Type 3


def test_cli_figures_equal_the_dashboard_export(tiny_dump, tmp_path):
    from dashboard import callbacks as C
    from dashboard import create_app
    from lstm_probe.cli import main

    out = tmp_path / "figs"
    assert main(["figures", str(tiny_dump), "--frame", "4", "--channels", "1,2", "--format",
                 "pdf", "--width", "single", "--out", str(out)]) == 0  # fmt: skip
    app = create_app([tiny_dump])
    vid = app.catalog.dumps[0].video_ids[0]
    h5, h4, _ = C.export_links(app.catalog, 4, [1, 2], 0.7, "RdBu_r", "channel", "curated",
                               "cell", "tile", "pdf", "single", vid, 0)  # fmt: skip
    client = app.server.test_client()
    assert client.get(h5).data == (out / f"figure5_{vid}_t4.pdf").read_bytes()
    assert client.get(h4).data == (out / f"figure4_{vid}_t4.pdf").read_bytes()
    assert main(["figures", str(tiny_dump), "--frame", "99", "--out", str(out)]) == 2
