"""Per-sequence normalisation (asma/data/normalise.py), checked against quantities written out by hand."""
import math

import numpy as np
import pytest

from asma.config.schema import NormaliseConfig
from asma.data.normalise import normalise_sequence
from asma.errors import ConfigError
from asma.skeleton.layout import load_layout

LAYOUT = load_layout("msr_action3d")  # origin: hip centre (joint 7); y is up
LEFT, RIGHT = LAYOUT.joint_index("left_shoulder"), LAYOUT.joint_index("right_shoulder")


def body(frames=6, persons=1, seed=0, offset=(1.0, 0.5, 2.5)):
    rng = np.random.default_rng(seed)
    x = rng.normal(scale=0.3, size=(frames, persons, LAYOUT.num_joints, 3)).astype(np.float32)
    return x + np.asarray(offset, np.float32)


def test_defaults_change_nothing_and_first_frame_centring_is_a_no_op_on_a_prepared_sample():
    x = body()
    assert normalise_sequence(x, LAYOUT, NormaliseConfig()) is x  # imported coordinates kept as they are
    x -= x[0, 0, LAYOUT.origin]  # what `asma data prepare` stores
    assert np.array_equal(normalise_sequence(x, LAYOUT, NormaliseConfig(centre="first_frame")), x)


def test_every_frame_centre_puts_the_origin_joint_at_zero_in_each_frame():
    x = body()
    out = normalise_sequence(x, LAYOUT, NormaliseConfig(centre="every_frame"))
    assert np.allclose(out[:, 0, LAYOUT.origin], 0, atol=1e-6)
    # relative positions within a frame are untouched
    assert np.allclose(out[:, 0, 3] - out[:, 0, 5], x[:, 0, 3] - x[:, 0, 5], atol=1e-6)


def test_body_scale_gives_unit_mean_bone_length_and_keeps_the_aspect_ratio():
    x = body()
    out = normalise_sequence(x, LAYOUT, NormaliseConfig(centre="first_frame", scale="body"))
    parents = LAYOUT.bone_parents
    child = [v for v in range(LAYOUT.num_joints) if parents[v] != v]
    lengths = np.linalg.norm(out[:, 0, child] - out[:, 0, parents[child]], axis=-1)
    assert lengths.mean() == pytest.approx(1.0, rel=1e-5)
    centred = x - x[0, 0, LAYOUT.origin]
    ratio = out[..., 0] / np.where(centred[..., 0] == 0, 1, centred[..., 0])
    assert np.allclose(ratio[centred[..., 0] != 0], ratio.flat[1], rtol=1e-4)  # one factor for every axis


def test_minmax_maps_each_axis_onto_minus_one_to_one():
    out = normalise_sequence(body(), LAYOUT, NormaliseConfig(scale="minmax"))
    flat = out.reshape(-1, 3)
    assert np.allclose(flat.min(0), -1, atol=1e-6) and np.allclose(flat.max(0), 1, atol=1e-6)


def test_face_front_turns_the_shoulders_onto_x_and_keeps_distances():
    x = body()
    angle = math.radians(40)  # shoulders along a direction 40 degrees off x in the x-z plane
    x[0, 0, LEFT] = x[0, 0, RIGHT] - 0.4 * np.array([math.cos(angle), 0, math.sin(angle)], np.float32)
    out = normalise_sequence(x, LAYOUT, NormaliseConfig(face_front=True))
    across = out[0, 0, RIGHT] - out[0, 0, LEFT]
    assert across[0] == pytest.approx(0.4, abs=1e-5) and abs(across[2]) < 1e-5
    assert across[1] == pytest.approx(0.0, abs=1e-5)  # the vertical axis is not touched
    pairwise = lambda a: np.linalg.norm(a[:, 0, :, None] - a[:, 0, None, :], axis=-1)
    assert np.allclose(pairwise(out), pairwise(x), atol=1e-5)


def test_absent_bodies_stay_zero():
    x = body(persons=2)
    x[:, 1] = 0.0          # second person absent throughout
    x[4:, 0] = 0.0         # first person leaves after frame 3
    cfg = NormaliseConfig(centre="every_frame", scale="body", face_front=True)
    out = normalise_sequence(x, LAYOUT, cfg)
    assert not out[:, 1].any() and not out[4:, 0].any()
    assert np.isfinite(out).all() and out[:4, 0].any()


def test_face_front_needs_shoulders_and_3d():
    with pytest.raises(ConfigError, match="face_front"):
        normalise_sequence(np.ones((4, 1, 17, 3), np.float32), load_layout("coco17"), NormaliseConfig(face_front=True))
