"""Layouts: degrees as the published skeletons have them, flips that undo themselves, user
layouts whose joints do not all reach the centre refused."""
import numpy as np
import pytest
import yaml

from asma.errors import InputFileError
from asma.skeleton.layout import available_layouts, load_layout

# Bones per joint, 1-based, written out from each skeleton's published definition (not from the
# layout files): Kinect v2 / NTU as ST-GCN's `ntu-rgb+d` graph joins them (hand tip - thumb - hand);
# the Kinect v1 SDK body (hip centre with the spine and two hips, shoulder centre with the spine,
# head and two shoulders); MSR Action3D's bone list in data/README.md (centre 7, neck 3 with the
# spine, head and two shoulders); COCO-17 as pyskl's `coco` graph joins it (nose with both eyes and
# both shoulders, each shoulder with the nose, its elbow and its hip).
PUBLISHED_DEGREES = {
    "ntu25": [3, 2, 2, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 1, 4, 1, 2, 1, 2],
    "kinect_v1": [3, 2, 4, 1, 2, 2, 2, 1, 2, 2, 2, 1, 2, 2, 2, 1, 2, 2, 2, 1],
    "msr_action3d": [2, 2, 4, 2, 2, 2, 3, 2, 2, 2, 2, 1, 1, 2, 2, 2, 2, 1, 1, 1],
    "coco17": [4, 2, 2, 1, 1, 3, 3, 2, 2, 1, 1, 2, 2, 2, 2, 1, 1],
}


def test_every_builtin_layout_has_published_degrees():
    assert sorted(PUBLISHED_DEGREES) == available_layouts()


@pytest.mark.parametrize("name", sorted(PUBLISHED_DEGREES))
def test_degrees_match_the_published_skeleton(name):
    assert load_layout(name).degrees.tolist() == PUBLISHED_DEGREES[name]


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


def test_a_user_layout_with_joints_off_the_centre_is_refused_naming_them(tmp_path):
    """Joints 4 and 5 are joined to each other but to nothing that reaches the centre: they would
    train with zero bones. The error names the file and both joints."""
    path = tmp_path / "split.yaml"
    path.write_text(yaml.safe_dump({"name": "split", "joints": ["hip", "spine", "head", "left_hand", "right_hand"],
                                    "bones": [[1, 2], [2, 3], [4, 5]], "center": 1}))
    with pytest.raises(InputFileError, match=r"split\.yaml.*joints 4 left_hand, 5 right_hand are not connected"):
        load_layout(str(path))
    path.write_text(path.read_text().replace("- 4\n  - 5", "- 3\n  - 4\n- - 3\n  - 5"))
    assert load_layout(str(path)).degrees.tolist() == [1, 2, 3, 1, 1]
