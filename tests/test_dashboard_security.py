"""The dashboard server under forged requests: every callback, every value it takes, replaced by
what a hostile page (or curl) could POST to ``/_dash-update-component``; and the Host check."""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import uuid
from pathlib import Path

import pytest

from dashboard import create_app, ids
from dashboard import validate as V
from dashboard.app import host_name

TOKEN = f"lstm_probe_fuzz_{uuid.uuid4().hex[:8]}"
TRAVERSAL = [
    f"png/../../../../../../../../../tmp/{TOKEN}.png",
    f"../../../../../../../../tmp/{TOKEN}.pdf",
    f"/tmp/{TOKEN}.png",
    f"{TOKEN}/../../x.png",
    "..\\..\\..\\windows\\x.png",
    "/etc/passwd",
    "png\x00.pdf",
    "",
    "x" * 5000,
]
EVIL = [
    *TRAVERSAL,
    10**18,
    -1,
    -(10**12),
    2**70,
    3.5,
    1e308,
    -0.0,
    float("nan"),
    float("inf"),
    True,
    None,
    {},
    {"points": [{"x": 1e308, "y": -1e308}]},
    {"points": [{"x": "1", "y": [0]}]},
    {"points": "x"},
    {"points": [None]},
    [],
    list(range(5000)),
    [[0]],
    [None],
    [TRAVERSAL[0]],
    [-1, 10**18],
    [0, 0],
    [0.5],
    [{"x": 1}],
]


def _valid_values(cat) -> dict[str, object]:
    vid = cat.dumps[0].video_ids[0]
    return {
        "dump.value": 0,
        "video.value": vid,
        "frame.value": 3,
        "channels.value": [0, 1],
        "alpha.value": 0.7,
        "cmap.value": "RdBu_r",
        "scale.value": "channel",
        "export-format.value": "png",
        "export-width.value": "single",
        "figure4-mode.value": "curated",
        "figure4-phase.value": "cell",
        "figure4-scale.value": "tile",
        "figure4.clickData": {"points": [{"curveNumber": 1, "x": 5, "y": 5}]},
        "timeline.clickData": {"points": [{"x": 2, "y": 1.5}]},
        f"{ids.ABLATE}.n_clicks": 1,
    }


def _outputs(key: str):
    """The ``outputs`` of a request, from a callback_map key ("a.b" or "..a.b...c.d..")."""
    parts = key.strip(".").split("...") if key.startswith("..") else [key]
    outs = [dict(zip(("id", "property"), p.split(".", 1))) for p in parts]
    return outs if key.startswith("..") else outs[0]


def _payload(key, spec, values, changed=None):
    def items(deps):
        return [{**d, "value": values[f"{d['id']}.{d['property']}"]} for d in deps]

    inputs = items(spec["inputs"])
    first = f"{spec['inputs'][0]['id']}.{spec['inputs'][0]['property']}"
    return {
        "output": key,
        "outputs": _outputs(key),
        "inputs": inputs,
        "state": items(spec["state"]),
        "changedPropIds": [first] if changed is None else changed,
    }


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


MESSAGES = (ids.EXPORT_MSG, ids.ABLATE_MSG)


def _legit(key: str, name: str, value) -> bool:
    """Values among EVIL that the page sends itself: a cleared channel list (an explicit empty
    state follows) and, for the video switch, no frame yet (the first page load)."""
    if name == "channels.value" and value in (None, []):
        return True
    return key.startswith("..frame.max") and name == "frame.value" and value is None


def _check(resp, what, refused=True):
    """No 500, no traceback; with ``refused``, nothing but a message changes on the page."""
    body = resp.get_data(as_text=True)
    assert resp.status_code in (200, 204), (what, resp.status_code, body[:300])
    assert "Traceback" not in body and 'File "/' not in body, what
    if refused and resp.status_code == 200:
        out = json.loads(body)["response"]
        assert set(out) <= set(MESSAGES) and all(out[m]["children"] for m in out), (what, out)


def test_every_callback_survives_forged_values(tiny_dump, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a write relative to the working directory would land here
    dump = Path(tiny_dump)
    before = (_tree(tmp_path), _tree(dump))
    app = create_app([dump])
    client = app.server.test_client()
    good = _valid_values(app.catalog)
    assert len(app.callback_map) == 12
    post = lambda p: client.post("/_dash-update-component", json=p)  # noqa: E731
    for key, spec in app.callback_map.items():
        # the unchanged request works: the forged ones below reach the callback for real
        resp = post(_payload(key, spec, good))
        assert resp.status_code == 200, (key, resp.get_data(as_text=True)[:300])
        if "export5.href" in key:
            href = json.loads(resp.data)["response"][ids.EXPORT5]["href"]
            assert client.get(href).status_code == 200
        for dep in spec["inputs"] + spec["state"]:
            name = f"{dep['id']}.{dep['property']}"
            clicks = dep["property"] == "n_clicks"  # a count the callbacks never read
            for evil in EVIL[:: 6 if clicks else 1]:
                resp = post(_payload(key, spec, {**good, name: evil}))
                _check(resp, (key, name, evil), refused=not clicks and not _legit(key, name, evil))
        for changed in (["../../x.n_clicks"], [], ["figure5.figure"], [TRAVERSAL[0]]):
            _check(post(_payload(key, spec, good, changed)), (key, changed), refused=False)
    assert (_tree(tmp_path), _tree(dump)) == before  # nothing written anywhere we can see
    for target in (Path("/tmp") / f"{TOKEN}.png", Path("/tmp") / f"{TOKEN}.pdf"):
        assert not target.exists()
    assert not list(Path(tempfile.gettempdir()).glob(f"*{TOKEN}*"))


def test_every_export_parameter_survives_forged_values(tiny_dump, tmp_path, monkeypatch):
    from urllib.parse import urlencode

    monkeypatch.chdir(tmp_path)
    before = _tree(Path(tiny_dump))
    app = create_app([tiny_dump])
    client = app.server.test_client()
    vid = app.catalog.dumps[0].video_ids[0]
    good = {"d": "0", "video": vid, "t": "3", "ch": "0,1", "alpha": "0.7", "cmap": "RdBu_r",
            "scale": "channel", "mode": "curated", "phase": "cell", "scale4": "tile",
            "fmt": "png", "width": "single"}  # fmt: skip
    assert client.get("/export/figure4?" + urlencode(good)).status_code == 200
    for which in ("x" * 300, "%2e%2e", "figure6"):
        assert client.get(f"/export/{which}?" + urlencode(good)).status_code in (400, 404)
    for k in [*good, "extra"]:
        for evil in [*TRAVERSAL, "10" * 40, "-1", "1e9", "nan", "0,0", "99", " 3", "3.0", "0\n"]:
            resp = client.get("/export/figure5?" + urlencode({**good, k: evil}))
            body = resp.get_data(as_text=True)
            assert resp.status_code == 400, (k, evil, resp.status_code)
            assert "Traceback" not in body and 'File "/' not in body
    assert not os.listdir(tmp_path) and _tree(Path(tiny_dump)) == before
    assert (
        client.get(
            "/export/figure5?" + urlencode(good), headers={"Host": "evil.example"}
        ).status_code
        == 403
    )


def test_a_forged_export_format_is_refused_with_a_message(tiny_dump, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = create_app([tiny_dump])
    key, spec = next((k, s) for k, s in app.callback_map.items() if "export5.href" in k)
    values = {**_valid_values(app.catalog), "export-format.value": TRAVERSAL[0]}
    resp = app.server.test_client().post(
        "/_dash-update-component", json=_payload(key, spec, values)
    )
    assert resp.status_code == 200
    out = json.loads(resp.data)["response"]
    assert "export format must be one of pdf, svg, png" in out[ids.EXPORT_MSG]["children"]
    assert ids.EXPORT5 not in out
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize(
    "host, status",
    [
        ("127.0.0.1:8050", 200),
        ("localhost", 200),
        ("LOCALHOST:8050", 200),
        ("[::1]:8050", 200),
        ("evil.example", 403),
        ("evil.example:8050", 403),
        ("localhost.evil.example", 403),
        ("127.0.0.1.nip.io:8050", 403),
        ("evil.example@localhost", 403),
        ("", 403),
    ],
)
def test_only_allowed_hosts_are_served(tiny_dump, host, status):
    client = create_app([tiny_dump]).server.test_client()
    assert client.get("/", headers={"Host": host}).status_code == status
    resp = client.get("/_dash-layout", headers={"Host": host})
    assert resp.status_code == status


def test_a_forbidden_host_cannot_run_a_callback(tiny_dump):
    app = create_app([tiny_dump])
    key, spec = next((k, s) for k, s in app.callback_map.items() if "video.options" in k)
    payload = _payload(key, spec, _valid_values(app.catalog))
    client = app.server.test_client()
    resp = client.post("/_dash-update-component", json=payload, headers={"Host": "rebound.test"})
    assert resp.status_code == 403
    assert client.post("/_dash-update-component", json=payload).status_code == 200


def test_allowed_hosts_and_bind_host(tiny_dump):
    app = create_app([tiny_dump], allowed_hosts=["MyBox.lan"])
    client = app.server.test_client()
    assert client.get("/", headers={"Host": "mybox.lan:8050"}).status_code == 200
    assert client.get("/", headers={"Host": "localhost"}).status_code == 403  # replaced
    app = create_app([tiny_dump], bind_host="192.168.1.5")
    assert app.allowed_hosts == {"127.0.0.1", "localhost", "::1", "192.168.1.5"}
    app = create_app([tiny_dump], bind_host="0.0.0.0")  # not a name a browser sends
    assert app.allowed_hosts == {"127.0.0.1", "localhost", "::1"}


# ------------------------------------------------------------------ the validators themselves
def test_host_name():
    assert host_name("LocalHost:8050") == "localhost"
    assert host_name("[::1]:80") == "::1"
    assert host_name("10.0.0.1") == "10.0.0.1"
    for bad in ("", None, "a b", "x@localhost", "localhost:", "localhost:123456", "[::1"):
        assert host_name(bad) is None, bad


def test_integer_and_frame():
    assert V.integer(3, 0, 7, "frame") == 3
    for bad in (True, 3.0, "3", None, [3], -1, 8):
        with pytest.raises(V.InvalidInput):
            V.frame(bad, 8)
    with pytest.raises(V.InvalidInput, match="no dump"):
        V.dump_index(0, 0)


def test_channels():
    assert V.channels([2, 0], 8) == [2, 0]
    assert len(V.channels(list(range(8)), 16)) == V.MAX_CHANNELS
    for bad in ([], list(range(9)), [0, 0], [8], [-1], [1.0], [True], "0", None, {"0": 1}):
        with pytest.raises(V.InvalidInput):
            V.channels(bad, 16 if bad == list(range(9)) else 8)


def test_alpha_and_choices():
    assert V.alpha(1) == 1.0 and V.alpha(0.05) == 0.05
    for bad in (0.0, 0.04, 1.01, math.nan, math.inf, True, "0.5", None):
        with pytest.raises(V.InvalidInput, match="opacity"):
            V.alpha(bad)
    assert V.cmap("PuOr_r") == "PuOr_r" and V.scale("global") == "global"
    assert V.export_format("svg") == "svg" and V.export_width("single") == "single"
    assert V.fig4_mode("all") == "all" and V.phase("input_term") == "input_term"
    for f, bad in ((V.cmap, "viridis"), (V.scale, "Global"), (V.export_format, "PNG"),
                   (V.export_format, "png/../x.png"), (V.export_width, "3.3"),
                   (V.fig4_scale, "channel"), (V.phase, "gates"),
                   (V.export_format, None), (V.cmap, ["RdBu_r"])):  # fmt: skip
        with pytest.raises(V.InvalidInput):
            f(bad)


def test_query_and_curve_number():
    q = {k: "0" for k in V.QUERY_KEYS} | {"ch": "1,2", "alpha": "0.5"}
    assert V.query(q)["ch"] == [1, 2] and V.query(q)["alpha"] == 0.5
    for k, bad in (("t", "1.5"), ("t", " 1"), ("ch", "1,,2"), ("alpha", "nan"), ("d", "x"),
                   ("alpha", "1e3")):  # fmt: skip
        with pytest.raises(V.InvalidInput, match=k):
            V.query({**q, k: bad})
    with pytest.raises(V.InvalidInput, match="unknown"):
        V.query({**q, "x": "1"})
    assert V.curve_number({"points": [{"curveNumber": 3}]}, 4) == 3
    for bad in (
        None,
        {"points": [{}]},
        {"points": [{"curveNumber": 4}]},
        {"points": [{"curveNumber": True}]},
    ):
        with pytest.raises(V.InvalidInput):
            V.curve_number(bad, 4)


def test_video_id():
    assert V.video_id("a", ["a", "b"]) == "a"
    for bad in ("c", "../a", None, ["a"], 0):
        with pytest.raises(V.InvalidInput, match="video"):
            V.video_id(bad, ["a", "b"])


def test_click_point():
    assert V.click_point({"points": [{"x": 3, "y": 4.5}]}, 10, 10) == (3.0, 4.5)
    assert V.click_point({"points": [{"x": 3}]}, 10) == (3.0, None)
    for bad in (
        None,
        [],
        {},
        {"points": []},
        {"points": "x"},
        {"points": [3]},
        {"points": [{"x": "3", "y": 1}]},
        {"points": [{"x": math.nan, "y": 1}]},
        {"points": [{"x": 3}]},  # y needed for a grid
        {"points": [{"x": 10, "y": 1}]},
        {"points": [{"x": -1, "y": 1}]},
        {"points": [{"x": 1, "y": 1e9}]},
    ):
        with pytest.raises(V.InvalidInput):
            V.click_point(bad, 10, 10)


def test_atlas_pages_are_served_and_nothing_else(tiny_dump):
    from dashboard import callbacks as C
    from dashboard import create_app

    app = create_app([tiny_dump])
    assert C.channel_page(app.catalog, [3], 0) == "/atlas/0/channel_3.html"
    client = app.server.test_client()
    page = client.get("/atlas/0/channel_3.html")
    assert page.status_code == 200 and b"channel 3" in page.data.lower()
    img = re.search(rb"src='(img/[^']+\.png)'", page.data)
    assert img and client.get(f"/atlas/0/{img.group(1).decode()}").status_code == 200
    for bad in ("/atlas/0/../manifest.json", "/atlas/0/%2e%2e/x.html", "/atlas/9/index.html",
                "/atlas/0/img/../../x.png", "/atlas/0/semantics.json"):  # fmt: skip
        assert client.get(bad).status_code == 404, bad
    folder = app.catalog.atlas_dir(0)
    assert folder.is_dir() and folder.name.startswith("lstm-probe-atlas-")
    app.catalog.close()  # the built atlas leaves nothing behind
    assert not folder.exists()
    assert client.get("/atlas/0/channel_3.html").status_code == 200  # rebuilt when asked again
    app.catalog.close()


def test_the_dashboard_shows_the_dataset_level_labels(tiny_dump):
    from dashboard import create_app
    from lstm_probe.probe.semantics import channel_semantics

    app = create_app([tiny_dump])
    cat = app.catalog
    expected = channel_semantics(tiny_dump, workers=1).labels
    for vid in cat.dumps[0].video_ids:  # the same labels for every video of the dump
        assert cat.analysis(0, vid).labels == expected
