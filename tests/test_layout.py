"""Layouts: degrees from bones, flips that undo themselves."""
import numpy as np
import pytest

from asma.skeleton.layout import available_layouts, load_layout


def test_ntu25_degrees_match_the_kinect_v2_body():
    degrees = load_layout("ntu25").degrees
    one_based = {v + 1: int(d) for v, d in enumerate(degrees)}
    assert one_based[21] == 4
    assert one_based[1] == 3
    assert {v for v, d in one_based.items() if d == 1} == {4, 16, 20, 22, 24}
    assert all(d == 2 for v, d in one_based.items() if v not in {21, 1, 4, 16, 20, 22, 24})


@pytest.mark.parametrize("name", available_layouts())
def test_degrees_count_bones(name):
    layout = load_layout(name)
    counted = np.zeros(layout.num_joints, dtype=int)
    for a, b in layout.bones:
        counted[a] += 1
        counted[b] += 1
    assert np.array_equal(layout.degrees, counted)
    assert layout.degrees.sum() == 2 * len(layout.bones)


@pytest.mark.parametrize("name", available_layouts())
def test_flip_is_an_involution_that_maps_bones_to_bones(name):
    layout = load_layout(name)
    perm = layout.flip_permutation
    assert np.array_equal(perm[perm], np.arange(layout.num_joints))
    bones = {frozenset(b) for b in layout.bones}
    assert {frozenset((perm[a], perm[b])) for a, b in layout.bones} == bones


@pytest.mark.parametrize("name", available_layouts())
def test_view_a_and_view_b_joint_classes_are_complementary(name):
    """On every layout: with a degree threshold the two views' joint pools split the joints in two;
    with degree weights view A's most likely joint has the highest degree and view B's the lowest."""
    import torch

    from asma.config.schema import JointMaskConfig
    from asma.masking.joints import joint_weights

    layout = load_layout(name)
    degrees = torch.as_tensor(layout.degrees)
    high = torch.isfinite(joint_weights(JointMaskConfig(mode="threshold", target="high"), degrees))
    low = torch.isfinite(joint_weights(JointMaskConfig(mode="threshold", target="low"), degrees))
    assert not (high & low).any() and (high | low).all()
    assert high.any() and low.any()
    weight_a = joint_weights(JointMaskConfig(mode="degree", target="high"), degrees)
    weight_b = joint_weights(JointMaskConfig(mode="degree", target="low"), degrees)
    assert degrees[weight_a.argmax()] == degrees.max() and degrees[weight_b.argmax()] == degrees.min()
