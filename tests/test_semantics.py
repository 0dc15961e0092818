"""Dataset-level channel labels: planted meanings are recovered, the same for any video order."""

import numpy as np
import pytest
from planted import DEAD, NOISE, PLANTED, write_planted_dump

from lstm_probe.probe.semantics import (
    SemanticsOptions,
    channel_semantics,
    classify,
    format_semantics,
    label_power,
    poisson_weights,
    spatial_extent,
)
from lstm_probe.skeleton import SKELETON
from lstm_probe.utils import InputError

OPT = SemanticsOptions(bootstrap=60)


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    return write_planted_dump(tmp_path_factory.mktemp("planted") / "d")


@pytest.fixture(scope="module")
def semantics(planted):
    return channel_semantics(planted, OPT, workers=1)


def test_planted_labels_are_recovered(semantics):
    by = {c.channel: c for c in semantics.channels}
    for channel, label in PLANTED.items():
        assert by[channel].label == label, format_semantics(semantics)
        assert by[channel].stable and by[channel].stability >= 0.8
        assert by[channel].p_value < 0.05
    assert by[NOISE].category in ("inactive", "global")
    assert by[DEAD].category == "inactive"
    # the joint channels: the planted joint has a lift far above its interval's null of 1
    wrist = SKELETON.index("right_wrist")
    assert semantics.lift_ci[0, wrist, 0] > 2
    assert semantics.lift[NOISE].max() < 1.5


def test_labels_do_not_depend_on_video_order_or_workers(tmp_path, semantics):
    reordered = write_planted_dump(tmp_path / "d", order=[4, 1, 5, 0, 3, 2])
    other = channel_semantics(reordered, OPT, workers=2)
    assert other.to_dict() == semantics.to_dict()
    ids = [f"planted_{v:03d}" for v in (2, 0, 5, 1, 3, 4)]
    again = channel_semantics(reordered, OPT, workers=1, video_ids=ids)
    assert again.to_dict() == semantics.to_dict()


def test_fewer_videos_are_less_certain(planted, semantics):
    two = channel_semantics(planted, OPT, workers=1, video_ids=["planted_000", "planted_001"])
    assert two.videos == 2
    # with two videos the t-test over videos has one degree of freedom: nothing survives the
    # correction, so no label is a part label
    assert two.share_part_labels() < semantics.share_part_labels()


def test_classify_rules():
    J = SKELETON.num_joints
    j = SKELETON.index
    lift = np.ones(J)
    att = np.zeros(J, bool)

    def with_(*names, value=3.0):
        li, at = lift.copy(), att.copy()
        for n in names:
            li[j(n)], at[j(n)] = value, True
        return li, at

    assert classify(*with_("right_wrist"), False, False, 1.25) == ("joint", (j("right_wrist"),))
    # two adjacent top joints of one chain are a limb (the rule that used to call them global)
    li, at = with_("right_elbow", "right_wrist")
    li[j("right_elbow")] = 2.6
    assert classify(li, at, False, False, 1.25)[0] == "limb"
    # not adjacent along the chain: shoulder and wrist without the elbow
    assert classify(*with_("right_shoulder", "right_wrist"), False, False, 1.25)[0] == "side"
    assert classify(*with_("neck", "left_hip", "right_hip"), False, False, 1.25)[0] == "trunk"
    assert classify(*with_("left_wrist", "left_ankle"), False, False, 1.25) == (
        "side",
        (j("left_wrist"), j("left_ankle")),
    )
    assert classify(*with_("left_wrist", "right_wrist"), False, False, 1.25)[0] == "global"
    assert classify(lift, att, False, True, 1.25) == ("background", ())
    assert classify(lift, att, False, False, 1.25) == ("global", ())
    assert classify(*with_("head"), True, False, 1.25) == ("inactive", ())


def test_bootstrap_weights_are_seeded_per_video():
    a = poisson_weights(0, "v1", 50)
    assert a[0] == 1 and np.array_equal(a, poisson_weights(0, "v1", 50))
    assert not np.array_equal(a, poisson_weights(0, "v2", 50))


def test_bad_input_names_the_problem(planted):
    with pytest.raises(InputError, match="no finished video 'nope'"):
        channel_semantics(planted, OPT, workers=1, video_ids=["nope"])
    with pytest.raises(InputError, match="alpha"):
        SemanticsOptions(alpha=2)


def test_power_and_extent_reports(planted):
    text = label_power(planted, counts=(2, 6, 99), options=OPT, workers=1)
    rows = [r for r in text.splitlines() if r.startswith("| 2 ") or r.startswith("| 6 ")]
    assert len(rows) == 2 and "| 99 " not in text  # more videos than the dump: left out
    assert rows[1].endswith(f"| {channel_semantics(planted, OPT, 1).share_part_labels():.0%} |")
    ext = spatial_extent(planted, videos=2)
    # a planted Gaussian of σ = 1 cell is at half maximum within r = 1.18 cells (≈ 4.4 cells):
    # the single-joint channels make the lower quartile, the two-joint ones the median
    assert "grid 24×24" in ext and "a median 10 cells (quartiles 5–" in ext
