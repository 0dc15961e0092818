"""Loaders on fixtures written in the exact official formats, augmentation, codec, synthetic set."""

import json
import struct

import cv2
import numpy as np
import pytest
import scipy.io as sio

from lstm_probe.data import ClipDataset, SubJHMDB, SyntheticVideos, make_sample, open_source
from lstm_probe.data.jhmdb import read_split
from lstm_probe.data.penn_action import PennAction
from lstm_probe.data.video import open_video, read_image
from lstm_probe.skeleton import SKELETON
from lstm_probe.transforms.augment import ClipTransform, CropPolicy, crop_clip
from lstm_probe.transforms.geometric import apply_points, invert
from lstm_probe.transforms.heatmaps import HeatmapCodec
from lstm_probe.utils import InputError


# ------------------------------------------------------------------ fixtures in official formats
def write_penn(root, seq="0001", T=4, H=60, W=80, train=1, drop_last_bbox=False, dims=None):
    rng = np.random.default_rng(int(seq))
    (root / "labels").mkdir(parents=True, exist_ok=True)
    (root / "frames" / seq).mkdir(parents=True, exist_ok=True)
    x = rng.uniform(10, W - 10, (T, 13))
    y = rng.uniform(10, H - 10, (T, 13))
    vis = np.ones((T, 13), bool)
    vis[0, 2] = False  # a shoulder: the synthesised neck becomes floor(2/3) = 0
    x[1, 12], y[1, 12] = 0.0, 0.0  # an unlabelled joint at (0, 0)
    bbox = np.c_[x.min(1), y.min(1), x.max(1), y.max(1)]
    if drop_last_bbox:
        bbox = bbox[:-1]
    sio.savemat(
        root / "labels" / f"{seq}.mat",
        dict(
            action="tennis_serve",
            pose="back",
            x=x,
            y=y,
            visibility=vis,
            train=np.array([[float(train)]]),
            bbox=bbox,
            dimensions=np.array([dims or [H, W, T]], float),
            nframes=np.array([[float(T)]]),
        ),
    )
    for t in range(T):
        img = np.full((H, W, 3), 40 * t, np.uint8)
        cv2.imwrite(str(root / "frames" / seq / f"{t + 1:06d}.jpg"), img)
    return x, y, vis


def test_penn_loader_reads_official_layout_and_defects(tmp_path):
    x, y, _ = write_penn(tmp_path, "0001", train=1)
    write_penn(tmp_path, "1154", train=1, drop_last_bbox=True, dims=[999, 999, 4])
    write_penn(tmp_path, "0002", train=-1)
    train = PennAction(tmp_path, "train")
    assert [v.video_id for v in train] == ["0001", "1154"]
    assert [v.video_id for v in PennAction(tmp_path, "test")] == ["0002"]
    v = train[0]
    ann = v.annotations
    # Penn joint 2 ("left_shoulder") is the network's right shoulder; 1-based -> 0-based
    assert ann.keypoints[0, SKELETON.index("right_shoulder"), 0] == pytest.approx(x[0, 1] - 1)
    assert ann.keypoints[0, SKELETON.index("left_ankle"), 1] == pytest.approx(y[0, 12] - 1)
    neck = ann.keypoints[2, 1]
    assert neck[0] == pytest.approx(0.5 * x[2, 0] + 0.25 * (x[2, 1] + x[2, 2]) - 1)
    assert neck[1] == pytest.approx(0.2 * y[2, 0] + 0.4 * (y[2, 1] + y[2, 2]) - 1)
    assert ann.visibility[1, SKELETON.index("left_ankle")] == -1  # (0, 0) is not on the image
    assert ann.visibility[0, 1] == 0  # floor(mean(1, 1, 0)) of head and shoulders
    d = train[1]
    assert d.annotations.bbox.shape == (4, 4)
    assert np.array_equal(d.annotations.bbox[3], d.annotations.bbox[2])
    assert d.frame(0).shape == (60, 80, 3)  # real size, not 'dimensions'


def test_a_frame_file_keeps_the_bytes_it_was_decoded_from(tmp_path):
    """Streaming a frame folder keeps each file's bytes while its frame is the one yielded last —
    the very bytes it was decoded from, even if the file changes afterwards — and drops them when
    the stream ends; reading frames on their own (training clips) keeps none; generated videos
    have none."""
    write_penn(tmp_path, "0001")
    v = PennAction(tmp_path, "all")[0]
    paths = [tmp_path / "frames" / "0001" / f"{t + 1:06d}.jpg" for t in range(4)]
    data = [p.read_bytes() for p in paths]
    stream = v.frames(1, 3)
    img = next(stream)
    assert np.array_equal(img, cv2.imread(str(paths[1]), cv2.IMREAD_COLOR))
    assert v.encoded_frame(1) == data[1] and v.encoded_frame(2) is None
    paths[1].write_bytes(b"\xff\xd8\xff changed")
    assert v.encoded_frame(1) == data[1]
    next(stream)
    assert v.encoded_frame(2) == data[2] and v.encoded_frame(1) is None
    assert next(stream, None) is None and v.encoded_frame(2) is None  # the stream ended
    v.frame(3)
    assert v.encoded_frame(3) is None  # random access keeps nothing
    stream = v.frames(0, 4)
    next(stream)
    with pytest.raises(InputError, match="000002.jpg: image cannot be decoded"):
        next(stream)
    assert v.encoded_frame(0) is None and v.encoded_frame(1) is None  # a failed read: nothing
    assert SyntheticVideos(split="test", num_videos=1, num_frames=2)[0].encoded_frame(0) is None
    with pytest.raises(InputError, match="missing frame"):
        read_image(tmp_path / "frames")  # a folder is no frame


def test_frame_files_decode_as_imread_does_with_their_exif_orientation(tmp_path):
    img = np.zeros((20, 40, 3), np.uint8)
    img[:5, :10] = 255
    plain = cv2.imencode(".jpg", img)[1].tobytes()
    for orientation in (3, 6):  # turned 180°, and 90° (width and height swap)
        path = tmp_path / f"o{orientation}" / "000001.jpg"
        path.parent.mkdir()
        path.write_bytes(plain[:2] + exif_segment(orientation) + plain[2:])
        frame = open_video(path.parent).frame(0)
        assert np.array_equal(frame, cv2.imread(str(path), cv2.IMREAD_COLOR))
        assert frame.shape == ((20, 40, 3) if orientation == 3 else (40, 20, 3))
        # the white top-left corner: bottom-right turned 180°, top-right turned 90° clockwise
        corner = frame[-1, -1] if orientation == 3 else frame[0, -1]
        assert corner.min() > 200 and frame[0, 0].max() < 50


def exif_segment(orientation: int) -> bytes:
    """A JPEG APP1 segment holding EXIF with one tag: the orientation."""
    ifd = struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0)
    payload = b"Exif\x00\x00" + b"MM\x00\x2a" + struct.pack(">I", 8) + ifd + b"\x00" * 4
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def test_penn_bad_inputs_name_the_file(tmp_path):
    write_penn(tmp_path, "0001")
    (tmp_path / "frames" / "0001" / "000003.jpg").unlink()
    v = PennAction(tmp_path, "all")[0]
    with pytest.raises(InputError, match="000003.jpg: missing frame"):
        v.frame(2)
    (tmp_path / "frames" / "0001" / "000002.jpg").write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(InputError, match="cannot be decoded"):
        v.frame(1)
    (tmp_path / "labels" / "0003.mat").write_bytes(b"MATLAB 5.0 truncated")
    with pytest.raises(InputError, match="0003.mat"):
        PennAction(tmp_path, "all")
    (tmp_path / "labels" / "0003.mat").unlink()
    sio.savemat(tmp_path / "labels" / "0004.mat", dict(x=np.zeros((2, 13))))
    with pytest.raises(InputError, match="missing fields"):
        PennAction(tmp_path, "all")


def write_jhmdb(root, cls="catch", name="vid_a", T=3, H=24, W=32, mask_T=None, flag=1, eol="\n"):
    pos = np.zeros((2, 15, T))
    rng = np.random.default_rng(0)
    pos[0] = rng.uniform(5, W - 5, (15, T))
    pos[1] = rng.uniform(5, H - 5, (15, T))
    d = root / "joint_positions" / cls / name
    d.mkdir(parents=True)
    sio.savemat(
        d / "joint_positions.mat",
        dict(pos_img=pos, pos_world=pos / W, scale=np.ones((1, T)), viewpoint="E"),
    )
    mask = np.zeros((H, W, mask_T or T), np.uint8)
    mask[4:20, 6:25] = 1
    d = root / "puppet_mask" / cls / name
    d.mkdir(parents=True)
    sio.savemat(d / "puppet_mask.mat", dict(part_mask=mask))
    d = root / "Rename_Images" / cls / name
    d.mkdir(parents=True)
    for t in range(T):
        cv2.imwrite(str(d / f"{t + 1:05d}.png"), np.zeros((H, W, 3), np.uint8))
    (root / "sub_splits").mkdir(exist_ok=True)
    with open(root / "sub_splits" / f"{cls}_test_split_1.txt", "a", newline="") as f:
        f.write(f"{name}.avi {flag} {eol}")
    return pos


def test_jhmdb_loader_split_belly_and_boxes(tmp_path):
    pos = write_jhmdb(tmp_path, name="a", flag=1, eol="\r\n")
    write_jhmdb(tmp_path, name="b", flag=2, mask_T=2)
    train, test = SubJHMDB(tmp_path, 1, "train"), SubJHMDB(tmp_path, 1, "test")
    assert [v.video_id for v in train] == ["catch/a"] and [v.video_id for v in test] == ["catch/b"]
    ann = train[0].annotations
    assert ann.keypoints.shape == (3, 14, 2)
    # JHMDB joint 3 (head, index 2) -> network channel 0, 1-based -> 0-based
    assert ann.keypoints[1, 0, 0] == pytest.approx(pos[0, 2, 1] - 1)
    assert ann.flags["jhmdb_keypoints"].shape == (3, 15, 2)  # belly kept for evaluation
    assert np.allclose(ann.bbox[0], [6, 4, 24, 19])
    assert len(test[0].annotations.bbox) == 3  # mask with fewer frames repeats its last box


def test_jhmdb_split_tolerance_and_unknown_video(tmp_path):
    p = tmp_path / "x_test_split_1.txt"
    p.write_bytes(b"v1.avi 1\r\nv2.avi 2  \n\n")
    assert read_split(p) == {"v1": 1, "v2": 2}
    p.write_text("v1.avi 3\n")
    with pytest.raises(InputError, match="line 1"):
        read_split(p)
    write_jhmdb(tmp_path / "j", name="a")
    with open(tmp_path / "j" / "sub_splits" / "catch_test_split_1.txt", "a") as f:
        f.write("ghost.avi 1\n")
    with pytest.raises(InputError, match="ghost"):
        SubJHMDB(tmp_path / "j", 1, "train")


# ------------------------------------------------------------------ own videos
def test_own_video_file_folder_and_keypoints(tmp_path):
    path = tmp_path / "clip.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (48, 32))
    for t in range(5):
        w.write(np.full((32, 48, 3), 50 * t, np.uint8))
    w.release()
    v = open_video(path)
    frames = list(v.frames())
    assert len(frames) == 5 and frames[0].shape == (32, 48, 3)
    folder = tmp_path / "frames"
    folder.mkdir()
    for t in range(3):
        cv2.imwrite(str(folder / f"{t:03d}.png"), np.zeros((8, 8, 3), np.uint8))
    kp = tmp_path / "kp.json"
    kp.write_text(
        json.dumps(
            {
                "joints": ["head", "left_wrist"],
                "frames": [{"index": 1, "keypoints": [[3, 4, 1], [5, 6, 0]]}],
            }
        )
    )
    v = open_video(folder, keypoints=kp)
    assert v.num_frames == 3
    assert v.annotations.keypoints[1, SKELETON.index("left_wrist")].tolist() == [5, 6]
    assert v.annotations.visibility[1, 0] == 1 and v.annotations.visibility[0, 0] == -1
    kp.write_text(json.dumps({"frames": [{"index": 0, "keypoints": [[1, 2]]}]}))
    with pytest.raises(InputError, match="kp.json"):
        open_video(folder, keypoints=kp)
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    with pytest.raises(InputError, match="cannot be decoded"):
        open_video(tmp_path / "broken.mp4")


# ------------------------------------------------------------------ codec and augmentation
def test_codec_round_trip_sub_cell():
    codec = HeatmapCodec(input_size=368)
    rng = np.random.default_rng(0)
    kp = rng.uniform(30, 330, (14, 2))
    maps = codec.encode(kp, np.ones(14, bool))
    assert maps.shape == (15, 46, 46)
    assert np.allclose(maps[14], np.maximum(1 - maps[:14].max(0), 0))
    grid, conf = codec.decode(maps)
    back = codec.grid_to_crop_points(grid)
    assert np.abs(back - kp).max() < 0.5  # input pixels
    assert (conf > 0.7).all()
    masked = codec.encode(kp, np.arange(14) != 3)
    assert masked[3].max() == 0


def test_augmentation_keypoints_survive_the_inverse_affine():
    policy = CropPolicy(input_size=128, scale_mode="fit", rotation=40)
    rng = np.random.default_rng(3)
    kp = rng.uniform(20, 140, (4, 14, 2))
    boxes = np.concatenate([kp.min(1), kp.max(1)], -1)
    for _ in range(5):
        t = policy.sample(rng)
        aff = policy.frame_to_crop(boxes, t)
        frames = [np.zeros((160, 160, 3), np.uint8)] * 4
        out = crop_clip(frames, kp, np.ones((4, 14), np.int8), aff, t.flip, 128)
        k = out["keypoints"]
        if t.flip:  # undo the channel swap before comparing positions
            k = k[:, SKELETON.flip_permutation()]
        back = np.stack([apply_points(invert(a), x) for a, x in zip(aff, k)])
        assert np.abs(back - kp).max() < 0.5
        # the grid -> frame affine sends a grid cell to where its crop pixel came from
        g = np.array([[3.0, 5.0]])
        crop_px = g * 8 + 3.5
        assert np.allclose(
            apply_points(out["grid_to_frame"][0], g),
            apply_points(invert(aff[0]), crop_px),
            atol=1e-3,
        )


def test_flip_twice_is_identity_and_swaps_left_right():
    perm = SKELETON.flip_permutation()
    assert np.array_equal(perm[perm], np.arange(14))
    assert SKELETON.names[perm[SKELETON.index("left_wrist")]] == "right_wrist"
    img = np.zeros((40, 40, 3), np.uint8)
    img[10, 5] = 255  # a marked pixel left of centre
    policy = CropPolicy(input_size=40, scale_mode="raw", scale_range=(1, 1), rotation=0)
    kp = np.zeros((1, 14, 2))
    kp[0, SKELETON.index("left_wrist")] = [5, 10]
    aff = policy.frame_to_crop(np.array([[0, 0, 39, 39]]), ClipTransform(1, 0, True))
    out = crop_clip([img], kp, np.ones((1, 14), np.int8), aff, True, 40)
    # the person's left wrist moves to the right channel and the mirrored position
    assert np.allclose(out["keypoints"][0, SKELETON.index("right_wrist")], [34, 10], atol=1e-6)
    assert out["crops"][0, 10, 34].max() > 200


def test_one_transform_per_clip():
    videos = SyntheticVideos(num_videos=2, num_frames=8, split="train")
    policy = CropPolicy(input_size=64)
    ds = ClipDataset(videos, 4, policy, HeatmapCodec(64), num_samples=4, seed=1)
    s = ds[0]
    assert s["image"].shape == (4, 3, 64, 64) and s["target"].shape == (4, 15, 8, 8)
    a = s["grid_to_frame"].numpy()
    # same scale and rotation in every frame (only the centre follows the person)
    assert np.allclose(a[:, :, :2], a[0, :, :2], atol=1e-5)
    again = ds[0]
    assert all(np.array_equal(s[k], again[k]) for k in s)


# ------------------------------------------------------------------ synthetic set
def test_synthetic_is_deterministic_and_flags_match_the_drawing():
    cfg = dict(num_videos=24, num_frames=16, noise=0.0, occluder_prob=1.0)
    a, b = SyntheticVideos(**cfg), SyntheticVideos(**cfg)
    assert np.array_equal(a[5].frame(7), b[5].frame(7))
    assert not np.array_equal(a[5].frame(7), SyntheticVideos(**cfg, seed=1)[5].frame(7))
    n_occ = 0
    facings = []
    for v in a:
        ann = v.annotations
        facings.append(v.attrs["facing"])
        o = v.scene.occluder
        assert ann.flags["cue_visible"][: v.scene.cue_frames].all()
        assert not ann.flags["cue_visible"][v.scene.cue_frames :].any()
        if o is None:
            continue
        x1, y1, _, _ = o["box"]
        for t in range(v.num_frames):
            occ = ann.flags["occluded"][t]
            if occ.any():
                assert o["start"] <= t < o["stop"]
                img = v.frame(t)
                for j in np.nonzero(occ)[0]:
                    x, y = np.round(ann.keypoints[t, j]).astype(int)
                    # the pixel under an occluded joint is the occluder's texture
                    assert np.array_equal(img[y, x], o["patch"][y - y1, x - x1])
                    assert ann.visibility[t, j] == 0
                n_occ += 1
    assert n_occ > 0
    assert 0 < facings.count("back") < len(facings)


def test_synthetic_cue_drawn_on_the_left_side_only():
    v = SyntheticVideos(num_videos=1, num_frames=6, noise=0.0, subframes=1, occluder_prob=0)[0]
    t = 0
    img = v.frame(t).astype(int)
    lw = np.round(v.annotations.keypoints[t, SKELETON.index("left_wrist")]).astype(int)
    b, g, r = img[lw[1], lw[0]]
    assert r > 180 and g < 80 and b < 80  # the red glove
    late = v.frame(v.num_frames - 1).astype(int)
    lw = np.round(v.annotations.keypoints[-1, SKELETON.index("left_wrist")]).astype(int)
    b, g, r = late[lw[1], lw[0]]
    assert not (r > 180 and g < 80 and b < 80)


def test_open_source_specs(tmp_path):
    vids = open_source("synthetic:test:3:10")
    assert len(vids) == 3 and vids[0].num_frames == 10 and vids[0].attrs["split"] == "test"
    with pytest.raises(InputError, match="no such file"):
        open_source(str(tmp_path / "nope.mp4"))
    s = make_sample(vids[0], 0, 2, CropPolicy(64), ClipTransform(), HeatmapCodec(64))
    assert s["image"].shape == (2, 3, 64, 64)
