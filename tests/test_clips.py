"""Clips: the configured input stream (joint, bone, motion) is what the encoders receive."""
import numpy as np
import pytest
import torch

from asma.config.loading import load_config
from asma.data.format import SkeletonSet, write_skeleton_set
from asma.training.data import build_run_data


@pytest.fixture
def tiny_set(tmp_path):
    rng = np.random.default_rng(0)
    samples = [(f"s{i}", i % 2, rng.normal(size=(12, 1, 25, 3)).astype(np.float32)) for i in range(4)]
    write_skeleton_set(tmp_path / "set", samples, splits={"xsub": {"train": [0, 1], "test": [2, 3]}},
                       meta={"dataset": "tiny", "layout": "ntu25", "num_classes": 2},
                       num_persons=1, num_joints=25, channels=3)
    return SkeletonSet.open(tmp_path / "set")


@pytest.mark.parametrize("stream", ["bone", "motion"])
def test_configured_stream_reaches_the_clips(tiny_set, stream):
    def clip(stream_name):
        cfg = load_config("smoke", [f"data.stream={stream_name}", "data.window=12"])
        return build_run_data(cfg, tiny_set).test[0][0]

    joint, other = clip("joint"), clip(stream)
    layout = tiny_set.layout
    if stream == "bone":
        parents = torch.as_tensor(layout.bone_parents)
        expected = joint - joint[:, :, parents]
    else:
        expected = torch.zeros_like(joint)
        expected[:, :-1] = joint[:, 1:] - joint[:, :-1]
    assert torch.allclose(other, expected)
    assert not torch.allclose(other, joint)
