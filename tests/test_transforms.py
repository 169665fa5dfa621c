"""Augmentations: shapes kept, a mirror twice is the identity, rotations keep bone lengths."""
import pytest
import torch

from asma.config.schema import AugmentConfig
from asma.data.transforms import (augment, mirror, random_flip, random_rotate, random_shear,
                                  random_shift_crop, rotation_matrices)
from asma.skeleton.layout import available_layouts, load_layout

NTU = load_layout("ntu25")


def clips(n=5, c=3, t=16, v=25, m=2, seed=0):
    return torch.randn(n, c, t, v, m, generator=torch.Generator().manual_seed(seed))


def bone_lengths(x, layout):
    a = torch.tensor([i for i, _ in layout.bones])
    b = torch.tensor([j for _, j in layout.bones])
    return (x[:, :3, :, a] - x[:, :3, :, b]).norm(dim=1)


@pytest.mark.parametrize("name", available_layouts())
def test_augment_keeps_shape_and_is_seeded(name):
    layout = load_layout(name)
    x = clips(v=layout.num_joints)
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    out = augment(x, AugmentConfig(), layout, g())
    assert out.shape == x.shape and torch.isfinite(out).all()
    assert torch.equal(out, augment(x, AugmentConfig(), layout, g()))
    if layout.coord_dims == 2:  # the confidence channel is not a coordinate: shear and rotation leave it
        geometric = augment(x, AugmentConfig(flip_prob=0.0, shift_ratio=0.0), layout, g())
        assert torch.equal(geometric[:, 2], x[:, 2]) and not torch.allclose(geometric[:, :2], x[:, :2])


@pytest.mark.parametrize("name", available_layouts())
def test_mirror_twice_is_the_identity(name):
    layout = load_layout(name)
    x = clips(v=layout.num_joints)
    assert torch.equal(mirror(mirror(x, layout), layout), x)


def test_mirror_negates_x_and_swaps_left_and_right():
    x = clips()
    out = mirror(x, NTU)
    left, right = NTU.flip_pairs[0]
    assert torch.equal(out[:, 0, :, left], -x[:, 0, :, right])
    assert torch.equal(out[:, 1:, :, left], x[:, 1:, :, right])
    # the mirror maps left bones to right bones: the same lengths, in swapped places
    assert torch.allclose(bone_lengths(out, NTU).sort(2).values, bone_lengths(x, NTU).sort(2).values)


def test_random_flip_picks_whole_samples():
    x = clips(n=64)
    out = random_flip(x, 0.5, NTU, torch.Generator().manual_seed(0))
    flipped = torch.tensor([torch.equal(o, mirror(s[None], NTU)[0]) for o, s in zip(out, x)])
    kept = torch.tensor([torch.equal(o, s) for o, s in zip(out, x)])
    assert (flipped ^ kept).all() and 10 < flipped.sum() < 54


def test_rotation_matrices_are_rotations():
    r = rotation_matrices(torch.rand(8, 3) * 6.28)
    assert torch.allclose(r @ r.transpose(1, 2), torch.eye(3).expand(8, 3, 3), atol=1e-5)
    assert torch.allclose(torch.linalg.det(r), torch.ones(8), atol=1e-5)


def test_rotation_preserves_bone_lengths_and_moves_points():
    x = clips()
    out = random_rotate(x, 30.0, 3, torch.Generator().manual_seed(1))
    assert torch.allclose(bone_lengths(out, NTU), bone_lengths(x, NTU), atol=1e-4)
    assert not torch.allclose(out, x, atol=1e-3)


def test_shear_has_unit_diagonal_and_zero_amplitude_is_identity():
    x = clips()
    assert torch.allclose(random_shear(x, 0.0, 3, torch.Generator()), x)
    e = torch.zeros(1, 3, 1, 1, 1)
    e[0, 0] = 1.0  # a point on the x axis keeps x = 1 and gets y, z from the off-diagonal
    out = random_shear(e, 0.5, 3, torch.Generator().manual_seed(0))
    assert out[0, 0].item() == pytest.approx(1.0) and out[0, 1:].abs().max() <= 0.5


def test_shift_crop_is_a_window_of_the_reflect_padded_clip():
    t, pad = 12, 2
    x = torch.arange(t, dtype=torch.float32).view(1, 1, t, 1, 1).expand(40, 1, t, 1, 1).contiguous()
    out = random_shift_crop(x, pad / t, torch.Generator().manual_seed(0))
    padded = torch.cat([x[:, :, :pad].flip(2), x, x[:, :, -pad:].flip(2)], dim=2)
    starts = set()
    for row, full in zip(out[:, 0, :, 0, 0], padded[:, 0, :, 0, 0]):
        start = next(s for s in range(2 * pad + 1) if torch.equal(full[s:s + t], row))
        starts.add(start)
    assert starts == set(range(2 * pad + 1))  # every shift of PSTL's crop occurs
    assert torch.equal(random_shift_crop(x, 0.0, torch.Generator()), x)


def test_all_axes_rotation_turns_about_every_axis_within_the_range():
    from asma.data.transforms import random_rotate

    x = torch.randn(64, 3, 4, 5, 1)
    out = random_rotate(x, 20.0, 3, torch.Generator().manual_seed(0), axes="all")
    norms = lambda a: a.norm(dim=1)
    assert torch.allclose(norms(out), norms(x), atol=1e-5)  # a rotation
    # about each axis: the coordinate along it changes for some sample (main-axis mode leaves two of
    # them within 1 degree for most samples), and no point turns by more than the bound allows
    cos = (out * x).sum(1) / (norms(out) * norms(x))
    assert cos.min() > 0.5 - 1e-5  # three turns of at most 20 degrees: at most 60 degrees in all
    assert all((out[:, axis] - x[:, axis]).abs().amax() > 0.1 for axis in range(3))


def test_random_scale_scales_coordinates_only_within_the_range():
    from asma.data.transforms import random_scale

    x = torch.randn(32, 3, 4, 5, 1)
    x[:, 2] = 1.0  # a confidence channel of a 2D layout
    out = random_scale(x, 0.3, 2, torch.Generator().manual_seed(0))
    factor = out[:, :2] / x[:, :2]
    per_sample = factor.flatten(1)
    assert torch.allclose(per_sample, per_sample[:, :1].expand_as(per_sample), atol=1e-5)
    assert per_sample.min() >= 0.7 - 1e-6 and per_sample.max() <= 1.3 + 1e-6 and per_sample.std() > 0.05
    assert torch.equal(out[:, 2], x[:, 2])
