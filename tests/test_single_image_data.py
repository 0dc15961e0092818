"""LSP, LSP-extended and MPII on fixtures written in the exact shipped formats; single-image
pre-training on them and its checkpoint initialising LSTM PM."""

from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io as sio
import torch

from lstm_probe.data import ClipDataset, ConcatVideos, open_source
from lstm_probe.data.lsp import LSP, LSP_JOINTS, LSP_TO_NETWORK
from lstm_probe.data.mpii import MPII, MPII_JOINTS, MPII_TO_NETWORK
from lstm_probe.data.stills import JOINT_BOX_PAD, split_sources
from lstm_probe.skeleton import SKELETON
from lstm_probe.transforms.augment import CropPolicy
from lstm_probe.transforms.heatmaps import HeatmapCodec
from lstm_probe.utils import InputError

ROOT = Path(__file__).resolve().parents[1]
H, W = 100, 120  # fixture image size
E = np.zeros((0, 0))  # MATLAB's []


def write_image(path: Path, value: int = 90, h: int = H, w: int = W) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((h, w, 3), value, np.uint8))


def lsp_joints(n: int) -> np.ndarray:
    """(n, 14, 3) LSP order, 1-based x, y inside the image and a flag of 0."""
    i, j = np.meshgrid(np.arange(n), np.arange(14), indexing="ij")
    return np.stack([10.0 + 5 * j + i, 20.0 + 4 * j + 2 * i, np.zeros((n, 14))], -1)


def write_lsp(root: Path, n: int = 4, extended: bool = False) -> np.ndarray:
    """LSP: joints (3, 14, n), flag 1 = occluded; LSPET: (14, 3, n), flag 1 = visible."""
    j = lsp_joints(n)
    occluded = np.zeros((n, 14), bool)
    occluded[0, 6] = True  # image 1's right wrist
    j[1, 13, 0] = 0.5  # image 2's head top: x = -0.5 after the 1-based shift, off the image
    j[:, :, 2] = occluded if not extended else ~occluded
    arr = j.transpose(1, 2, 0) if extended else j.transpose(2, 1, 0)
    root.mkdir(parents=True, exist_ok=True)
    sio.savemat(root / "joints.mat", {"joints": arr})
    digits = 5 if extended else 4
    for k in range(n):
        write_image(root / "images" / f"im{k + 1:0{digits}d}.jpg", 20 * k)
    return j


# ------------------------------------------------------------------ LSP
def test_lsp_original_format_split_mapping_visibility_and_box(tmp_path):
    j = write_lsp(tmp_path / "lsp", 4)
    assert sio.loadmat(tmp_path / "lsp/joints.mat")["joints"].shape == (3, 14, 4)
    train, test = LSP(tmp_path / "lsp", "train"), LSP(tmp_path / "lsp", "test")
    assert [v.video_id for v in train] == ["lsp/im0001", "lsp/im0002"]
    assert [v.video_id for v in test] == ["lsp/im0003", "lsp/im0004"]
    assert len(LSP(tmp_path / "lsp", "all")) == 4
    assert [v.video_id for v in open_source(f"lsp:{tmp_path / 'lsp'}")] == [
        "lsp/im0003",
        "lsp/im0004",
    ]
    assert len(open_source(f"lsp:{tmp_path / 'lsp'}:train")) == 2
    v = train[0]
    assert v.num_frames == 1 and v.frame(0).shape == (H, W, 3)
    a = v.annotations
    assert a.keypoints.shape == (1, 14, 2) and a.visibility.shape == (1, 14)
    for lsp_name, net_name in [
        ("head_top", "head"),
        ("neck", "neck"),
        ("left_wrist", "left_wrist"),
    ]:
        src = LSP_JOINTS.index(lsp_name)
        np.testing.assert_allclose(
            a.keypoints[0, SKELETON.index(net_name)], j[0, src, :2] - 1.0, atol=1e-6
        )
    # LSP's flag 1 = occluded -> 0; every other joint visible
    assert a.visibility[0, SKELETON.index("right_wrist")] == 0
    assert (np.delete(a.visibility[0], SKELETON.index("right_wrist")) == 1).all()
    # the joint extent grown by JOINT_BOX_PAD of its larger side
    kp = a.keypoints[0]
    lo, hi = kp.min(0), kp.max(0)
    m = JOINT_BOX_PAD * (hi - lo).max()
    np.testing.assert_allclose(a.bbox[0], [lo[0] - m, lo[1] - m, hi[0] + m, hi[1] + m], atol=1e-4)
    # image 2's head top lies left of the image: no label, and not in the box
    b = train[1].annotations
    assert b.visibility[0, SKELETON.index("head")] == -1
    assert b.keypoints[0, SKELETON.index("head"), 0] == pytest.approx(-0.5)
    assert b.bbox[0, 0] > 0


def test_lsp_extended_format(tmp_path):
    j = write_lsp(tmp_path / "lspet", 3, extended=True)
    assert sio.loadmat(tmp_path / "lspet/joints.mat")["joints"].shape == (14, 3, 3)
    videos = open_source(f"lsp-extended:{tmp_path / 'lspet'}")
    assert [v.video_id for v in videos] == ["lspet/im00001", "lspet/im00002", "lspet/im00003"]
    a = videos[2].annotations
    np.testing.assert_allclose(a.keypoints[0, SKELETON.index("right_ankle")], j[2, 0, :2] - 1)
    assert videos[0].annotations.visibility[0, SKELETON.index("right_wrist")] == 0  # flag 0
    assert (a.visibility == 1).all()


def test_lsp_joint_order_matches_cpm_orderings():
    # CPM genJSON.m: MPII-16 slot k (1-based) <- LSP joint ordering[k] (15, 16 are dummies), then
    # data_transformer.cpp MPI_to_ours; composing them must give our by-name mapping
    ordering = [1, 2, 3, 4, 5, 6, 15, 16, 13, 14, 7, 8, 9, 10, 11, 12]
    mpi_to_ours = [9, 8, 12, 11, 10, 13, 14, 15, 2, 1, 0, 3, 4, 5]
    for channel, slot in enumerate(mpi_to_ours):
        assert LSP_TO_NETWORK[ordering[slot] - 1] == channel
    assert MPII_TO_NETWORK == [10, 9, 8, 11, 12, 13, None, None, 1, 0, 4, 3, 2, 5, 6, 7]
    for channel, src in enumerate(mpi_to_ours):
        assert MPII_TO_NETWORK[src] == channel
    assert MPII_JOINTS[8] == "upper_neck" and MPII_TO_NETWORK[8] == SKELETON.index("neck")


def test_lsp_malformed_files_are_named(tmp_path):
    write_lsp(tmp_path / "ext", 2, extended=True)
    with pytest.raises(InputError, match="lsp-extended") as e:
        LSP(tmp_path / "ext", "train")
    assert "joints.mat" in str(e.value)
    write_lsp(tmp_path / "ori", 2)
    with pytest.raises(InputError, match=r"expected \(14, 3, N\)"):
        LSP(tmp_path / "ori", extended=True)
    (tmp_path / "ori/images/im0002.jpg").unlink()
    with pytest.raises(InputError, match="im0002.jpg"):
        LSP(tmp_path / "ori", "all")
    (tmp_path / "images_only/images").mkdir(parents=True)
    with pytest.raises(InputError, match="joints.mat not found") as e:
        LSP(tmp_path / "images_only", "train")
    assert e.value.path == str(tmp_path / "images_only/joints.mat")
    (tmp_path / "bad").mkdir()
    sio.savemat(tmp_path / "bad/joints.mat", {"joints": np.zeros((3, 13, 2))})
    with pytest.raises(InputError, match=r"\(3, 13, 2\)"):
        LSP(tmp_path / "bad")
    sio.savemat(tmp_path / "bad/joints.mat", {"other": np.zeros((3, 14, 2))})
    with pytest.raises(InputError, match="'joints'"):
        LSP(tmp_path / "bad")
    (tmp_path / "bad/joints.mat").write_bytes(b"not a mat file")
    with pytest.raises(InputError, match="unreadable"):
        LSP(tmp_path / "bad")


# ------------------------------------------------------------------ MPII
def struct_array(rows: list[dict], fields: list[str]) -> np.ndarray:
    """A 1×N MATLAB struct array; loadmat(squeeze_me) gives an array, or a bare struct if N=1."""
    a = np.empty((1, len(rows)), dtype=[(f, object) for f in fields])
    for k, r in enumerate(rows):
        for f in fields:
            a[0, k][f] = r.get(f, E)
    return a


POINT = ["id", "x", "y", "is_visible"]
RECT = ["annopoints", "objpos", "scale", "x1", "y1", "x2", "y2"]


def points(rows, fields=POINT):
    return {"point": struct_array([dict(zip(fields, r)) for r in rows], list(fields))}


def write_mpii(root: Path, img_train=(1, 1, 1, 0, 1, 1), release_extra=None) -> None:
    """Six images, as the official file lays them out:

    a.jpg  train, 3 people: two annotated (array of points), one with annopoints = []
    b.jpg  train, one person as a bare struct; is_visible [], '0', '1', 0; neck and thorax
    c.jpg  train, annorect without an annopoints field at all
    d.jpg  test (img_train 0): objpos and scale only
    e.jpg  train, annorect = []
    f.jpg  train, one person with a single point (a bare struct, no is_visible), no objpos
    """
    p1 = [(9, 30.0, 10.0, 1), (8, 31.0, 20.0, 1), (12, 20.0, 30.0, 1), (0, 25.0, 90.0, 0)]
    p2 = [(9, 80.0, 12.0, "1"), (13, 90.0, 30.0, "0"), (15, 100.0, 60.0, E)]
    a = struct_array(
        [
            dict(
                annopoints=points(p1),
                objpos={"x": 31.0, "y": 50.0},
                scale=0.4,
                x1=25.0,
                y1=5.0,
                x2=36.0,
                y2=18.0,
            ),
            dict(annopoints=points(p2), objpos={"x": 90.0, "y": 40.0}, scale=0.3),
            dict(annopoints=E, objpos={"x": 10.0, "y": 10.0}, scale=0.2),
        ],
        RECT,
    )
    pb = [(9, 60.0, 5.0, E), (8, 61.0, 15.0, "0"), (7, 61.0, 25.0, "1"), (6, 60.0, 60.0, 0)]
    b = struct_array([dict(annopoints=points(pb), objpos={"x": 60.0, "y": 40.0}, scale=0.5)], RECT)
    c = struct_array([dict(objpos={"x": 50.0, "y": 50.0}, scale=1.0)], ["objpos", "scale"])
    d = struct_array([dict(objpos={"x": 50.0, "y": 50.0}, scale=1.0)], ["objpos", "scale"])
    pf = points([(5, 40.0, 70.0)], POINT[:3])  # one point, and no is_visible field at all
    f = struct_array([dict(annopoints=pf, scale=0.4)], RECT)
    images = [("a.jpg", a), ("b.jpg", b), ("c.jpg", c), ("d.jpg", d), ("e.jpg", E), ("f.jpg", f)]
    annolist = struct_array(
        [{"image": {"name": n}, "annorect": r} for n, r in images], ["image", "annorect"]
    )
    single = np.empty((len(images), 1), dtype=object)
    for k, s in enumerate([np.array([[1.0], [2.0]]), 1.0, E, E, E, 1.0]):
        single[k, 0] = s
    release = {
        "annolist": annolist,
        "img_train": np.array([img_train], np.uint8),
        "single_person": single,
        "version": "12",
        **(release_extra or {}),
    }
    folder = root / "mpii_human_pose_v1_u12_2"
    folder.mkdir(parents=True, exist_ok=True)
    sio.savemat(folder / "mpii_human_pose_v1_u12_1.mat", {"RELEASE": release})
    for n, _ in images:
        write_image(root / "images" / n)


def test_mpii_official_struct_every_person_one_video(tmp_path):
    write_mpii(tmp_path)
    raw = sio.loadmat(
        tmp_path / "mpii_human_pose_v1_u12_2/mpii_human_pose_v1_u12_1.mat",
        struct_as_record=False,
        squeeze_me=True,
    )["RELEASE"]
    # the shapes the real file has under these loadmat options
    assert isinstance(raw.annolist[0].annorect, np.ndarray)  # several people: an array
    assert hasattr(raw.annolist[1].annorect, "_fieldnames")  # one person: a bare struct
    assert raw.annolist[4].annorect.size == 0  # []
    assert hasattr(raw.annolist[5].annorect.annopoints.point, "_fieldnames")  # one point

    ds = MPII(tmp_path)
    assert [v.video_id for v in ds] == ["mpii/a/1", "mpii/a/2", "mpii/b/1", "mpii/f/1"]
    assert ds.skipped == 2  # a.jpg person 3 (annopoints []), c.jpg (no annopoints field)
    assert [v.attrs["single_person"] for v in ds] == [True, True, True, True]
    assert ds[1].attrs["annolist_index"] == 1 and ds[1].attrs["person_index"] == 2
    J = SKELETON.index
    a1 = ds[0].annotations
    np.testing.assert_allclose(a1.keypoints[0, J("head")], [29.0, 9.0])  # head top, 1-based -> 0
    np.testing.assert_allclose(a1.keypoints[0, J("neck")], [30.0, 19.0])  # upper neck
    np.testing.assert_allclose(a1.keypoints[0, J("right_shoulder")], [19.0, 29.0])
    np.testing.assert_allclose(a1.keypoints[0, J("right_ankle")], [24.0, 89.0])
    expected = np.full(14, -1)
    expected[[J("head"), J("neck"), J("right_shoulder")]] = 1
    expected[J("right_ankle")] = 0
    np.testing.assert_array_equal(a1.visibility[0], expected)
    # box: a 200·scale square around objpos (0-based); the head box is kept for PCKh
    np.testing.assert_allclose(a1.bbox[0], [30.0 - 40, 49.0 - 40, 30.0 + 40, 49.0 + 40])
    np.testing.assert_allclose(a1.flags["head_box"][0], [24.0, 4.0, 35.0, 17.0])
    # is_visible as '1', '0' and []
    a2 = ds[1].annotations
    assert a2.visibility[0, J("head")] == 1
    assert a2.visibility[0, J("left_shoulder")] == 0
    assert a2.visibility[0, J("left_wrist")] == 1
    assert np.isnan(a2.flags["head_box"]).all()  # no x1..y2 for this person
    # the neck comes from the upper neck, never from the thorax; pelvis and thorax stay in flags
    b = ds[2].annotations
    np.testing.assert_allclose(b.keypoints[0, J("neck")], [60.0, 14.0])
    assert b.visibility[0, J("head")] == 1 and b.visibility[0, J("neck")] == 0
    np.testing.assert_allclose(b.flags["mpii_keypoints"][0, 7], [60.0, 24.0])  # thorax
    assert b.flags["mpii_visibility"][0, 6] == 0 and b.flags["mpii_visibility"][0, 7] == 1
    assert (b.visibility[0] >= 0).sum() == 2
    # one point, no objpos: the joints' extent box
    f = ds[3].annotations
    np.testing.assert_allclose(f.keypoints[0, J("left_ankle")], [39.0, 69.0])
    assert f.visibility[0, J("left_ankle")] == 1  # no is_visible: visible, as CPM
    np.testing.assert_allclose(f.bbox[0], [39.0, 69.0, 39.0, 69.0])
    assert ds[0].frame(0).shape == (H, W, 3)


def test_mpii_source_strings_and_malformed_files(tmp_path):
    write_mpii(tmp_path / "m")
    assert len(open_source(f"mpii:{tmp_path / 'm'}")) == 4
    assert len(open_source(f"mpii:{tmp_path / 'm'}:train")) == 4
    with pytest.raises(InputError, match="training images only"):
        open_source(f"mpii:{tmp_path / 'm'}:test")
    with pytest.raises(InputError, match="mpii_human_pose_v1_u12_1.mat"):
        MPII(tmp_path / "empty_root")
    write_mpii(tmp_path / "n", img_train=(1, 1, 0))
    with pytest.raises(InputError, match="img_train has 3 entries for 6 images"):
        MPII(tmp_path / "n")
    (tmp_path / "m/images/b.jpg").unlink()
    with pytest.raises(InputError, match="b.jpg"):
        MPII(tmp_path / "m")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "images").mkdir()
    sio.savemat(bad / "mpii_human_pose_v1_u12_1.mat", {"annolist": np.zeros(3)})
    with pytest.raises(InputError, match="RELEASE"):
        MPII(bad)
    sio.savemat(bad / "mpii_human_pose_v1_u12_1.mat", {"RELEASE": {"img_train": np.ones(2)}})
    with pytest.raises(InputError, match="annolist"):
        MPII(bad)
    write_mpii(tmp_path / "t", img_train=(0, 0, 0, 0, 0, 0))
    with pytest.raises(InputError, match="no annotated person"):
        MPII(tmp_path / "t")


# ------------------------------------------------------------------ lists, repeats, training
def test_source_lists_and_repeats(tmp_path):
    write_lsp(tmp_path / "lsp", 4)
    write_lsp(tmp_path / "lspet", 3, extended=True)
    write_mpii(tmp_path / "mp+ii")  # a "+" inside a path does not split the list
    spec = (
        f"lsp:{tmp_path / 'lsp'}:test+lsp-extended:{tmp_path / 'lspet'}+mpii:{tmp_path / 'mp+ii'}"
    )
    assert len(split_sources(spec)) == 3
    videos = open_source(spec)
    assert isinstance(videos, ConcatVideos) and len(videos) == 2 + 3 + 4
    assert videos.parts == [("lsp", 2), ("lsp-extended", 3), ("mpii", 4)]
    rep = open_source(f"repeat:3:{spec}")
    assert len(rep) == 9 and rep.parts == videos.parts
    v = rep[0]
    assert v.num_frames == 3 and v.video_id == "lsp/im0003"
    np.testing.assert_array_equal(v.frame(2), videos[0].frame(0))
    assert v.annotations.keypoints.shape == (3, 14, 2)
    np.testing.assert_array_equal(v.annotations.bbox[2], videos[0].annotations.bbox[0])
    with pytest.raises(InputError, match="repeat:T:SPEC"):
        open_source(f"repeat:x:{spec}")
    with pytest.raises(InputError, match="only stills repeat"):
        open_source("repeat:2:synthetic:test:1:4")
    # the clip pipeline cuts T-frame clips of identical crops from a repeated still
    policy = CropPolicy(input_size=64, scale_mode="fit", fit_fraction=0.6365, flip_prob=1.0)
    ds = ClipDataset(rep, 3, policy, HeatmapCodec(64, sigma=7.0 * 64 / 368), num_samples=4)
    s = ds[0]
    assert s["image"].shape == (3, 3, 64, 64)
    assert torch.equal(s["image"][0], s["image"][2]) and torch.equal(s["target"][0], s["target"][1])


def test_single_image_config_trains_and_initialises_lstm_pm(tmp_path):
    from lstm_probe.checkpoint import load_checkpoint
    from lstm_probe.config import load_config
    from lstm_probe.engine.train import init_from_checkpoint, train
    from lstm_probe.models import build_model_from_config

    write_lsp(tmp_path / "lsp", 4)
    write_lsp(tmp_path / "lspet", 2, extended=True)
    write_mpii(tmp_path / "mpii")
    config = ROOT / "training/configs/single_image_lsp_mpii_368.yaml"
    paper = load_config(config)
    assert paper["run"]["pretrain_single_image"] is True
    assert paper["model"] == {"name": "lstm_pm", "preset": "paper"}
    assert paper["data"]["source"].startswith(f"repeat:{paper['data']['clip_length']}:")
    assert {p.partition(":")[0] for p in split_sources(paper["data"]["source"][9:])} == {
        "mpii",
        "lsp-extended",
        "lsp",
    }
    source = (
        f"repeat:3:mpii:{tmp_path / 'mpii'}:train+lsp-extended:{tmp_path / 'lspet'}"
        f"+lsp:{tmp_path / 'lsp'}:train"
    )
    cfg = load_config(
        config,
        [
            "--model.preset=tiny",
            f"--data.source={source}",
            "--data.clip_length=3",
            "--data.sigma=1.2",
            "--optim.batch_size=2",
            "--optim.steps=2",
            "--run.workers=0",
        ],
    )
    summary = train(cfg, tmp_path / "single", progress=False, device="cpu", max_steps=2)
    assert summary["steps"] == 2 and np.isfinite(summary["loss"])
    ckpt = tmp_path / "single/checkpoint.pt"
    src, _ = load_checkpoint(ckpt)
    video = build_model_from_config(load_config(None, ["--model.preset=tiny"])["model"])
    copied = init_from_checkpoint(video, ckpt)
    theirs, own = src.state_dict(), video.state_dict()
    shared = {k for k in own if k in theirs and own[k].shape == theirs[k].shape}
    assert set(copied) == shared == set(own)  # the same graph: every layer carries over
    assert {k.split(".")[0] for k in copied} >= {"initial", "encoder", "lstm"}
    for k in copied:
        assert torch.equal(video.state_dict()[k], theirs[k]), k
