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


@pytest.mark.parametrize("stream", ["bone", "motion", "bone_motion"])
def test_configured_stream_reaches_the_clips(tiny_set, stream):
    def clip(stream_name):
        cfg = load_config("smoke", [f"data.stream={stream_name}", "data.window=12"])
        return build_run_data(cfg, tiny_set).test[0][0]

    joint, other = clip("joint"), clip(stream)
    layout = tiny_set.layout
    parents = torch.as_tensor(layout.bone_parents)
    bone = joint - joint[:, :, parents]
    source = bone if stream == "bone_motion" else joint
    if stream == "bone":
        expected = bone
    else:  # motion of the joints or of the bones: next frame minus this one, zero at the last
        expected = torch.zeros_like(joint)
        expected[:, :-1] = source[:, 1:] - source[:, :-1]
    assert torch.allclose(other, expected)
    assert not torch.allclose(other, joint)


def test_uniform_sampling_draws_sorted_frames_of_the_whole_sample():
    from asma.data.clips import uniform_indices

    rng = np.random.default_rng(0)
    drawn = [uniform_indices(20, 8, rng) for _ in range(200)]
    assert all((np.diff(d) >= 0).all() and d.min() >= 0 and d.max() < 20 for d in drawn)
    assert len(np.unique(np.concatenate(drawn))) == 20  # every frame can be drawn, first and last too
    short = uniform_indices(3, 8, rng)  # a short sample repeats frames, in order
    assert sorted(short.tolist()) == short.tolist() and set(short.tolist()) <= {0, 1, 2}
    assert uniform_indices(20, 5, None).tolist() == [0, 5, 10, 14, 19]  # evaluation: evenly spaced


def test_uniform_sampling_and_normalisation_reach_the_clips(tiny_set):
    cfg = load_config("smoke", ["data.window=8", "data.sampling=uniform", "data.normalise.centre=first_frame",
                                  "data.normalise.scale=minmax"])
    data = build_run_data(cfg, tiny_set)
    frames = np.asarray(tiny_set.sample(int(data.test.indices[0])))
    centred = frames - frames[0, 0, tiny_set.layout.origin]
    low, high = centred.min(axis=(0, 1, 2)), centred.max(axis=(0, 1, 2))
    expected = ((centred - low) / (high - low) * 2 - 1)[[0, 2, 3, 5, 6, 8, 9, 11]]  # linspace(0, 11, 8) rounded
    assert torch.allclose(data.test[0][0], torch.from_numpy(expected.transpose(3, 0, 2, 1)), atol=1e-6)
    first, again = data.pretrain[0][0], data.pretrain[0][0]
    assert torch.equal(first, again)  # seeded by (seed, epoch, index)
    data.pretrain.set_epoch(1)
    assert not torch.equal(first, data.pretrain[0][0])
