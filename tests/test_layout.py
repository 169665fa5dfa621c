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
