"""Augmentations of skeleton SSL, batched: every sample gets its own random parameters.

Tensors are (N, C, T, V, M); only the first `coord_dims` channels are coordinates (a 2D layout's
third channel is a confidence score and is left alone). All randomness comes from a
`torch.Generator`, so a seed reproduces the views exactly.
"""
from __future__ import annotations

import math

import torch

from asma.config.schema import AugmentConfig
from asma.skeleton.layout import Layout


def _uniform(shape, low, high, generator, device) -> torch.Tensor:
    return torch.rand(shape, generator=generator, device=device) * (high - low) + low


def random_shear(x: torch.Tensor, amplitude: float, coord_dims: int, generator) -> torch.Tensor:
    """Each sample's coordinates times its own matrix with unit diagonal and off-diagonal in ±amp."""
    n, d = x.shape[0], coord_dims
    shear = _uniform((n, d, d), -amplitude, amplitude, generator, x.device)
    shear = shear * (1 - torch.eye(d, device=x.device)) + torch.eye(d, device=x.device)
    coords = torch.einsum("nctvm,ncd->ndtvm", x[:, :d], shear)
    return torch.cat([coords, x[:, d:]], dim=1)


def rotation_matrices(angles: torch.Tensor) -> torch.Tensor:
    """(N, 3) angles in radians about x, y, z -> (N, 3, 3) rotation matrices Rz @ Ry @ Rx."""
    cx, cy, cz = torch.cos(angles).unbind(1)
    sx, sy, sz = torch.sin(angles).unbind(1)
    one, zero = torch.ones_like(cx), torch.zeros_like(cx)
    rx = torch.stack([one, zero, zero, zero, cx, -sx, zero, sx, cx], 1).view(-1, 3, 3)
    ry = torch.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], 1).view(-1, 3, 3)
    rz = torch.stack([cz, -sz, zero, sz, cz, zero, zero, zero, one], 1).view(-1, 3, 3)
    return rz @ ry @ rx


def random_rotate(x: torch.Tensor, max_degrees: float, coord_dims: int, generator,
                  axes: str = "main") -> torch.Tensor:
    """axes='main': PSTL's rotation, up to `max_degrees` about one random main axis, up to 1 degree
    about the others; axes='all': CTR-GCN's, uniform in ±max_degrees about each axis."""
    n = x.shape[0]
    if axes == "all":
        angles = _uniform((n, 3), -math.radians(max_degrees), math.radians(max_degrees), generator, x.device)
        main = angles[:, 2]
    else:
        small = _uniform((n, 3), 0.0, math.radians(1.0), generator, x.device)
        main = _uniform((n,), 0.0, math.radians(max_degrees), generator, x.device)
        axis = torch.randint(0, 3, (n,), generator=generator, device=x.device)
        angles = torch.where(torch.nn.functional.one_hot(axis, 3).bool(), main[:, None], small)
    if coord_dims == 2:  # in-plane rotation only
        angles = torch.stack([torch.zeros_like(main), torch.zeros_like(main), main], 1)
    rot = rotation_matrices(angles)[:, :coord_dims, :coord_dims]
    coords = torch.einsum("nctvm,ndc->ndtvm", x[:, :coord_dims], rot)
    return torch.cat([coords, x[:, coord_dims:]], dim=1)


def random_scale(x: torch.Tensor, amplitude: float, coord_dims: int, generator) -> torch.Tensor:
    """Each sample's coordinates times its own factor in [1 - amplitude, 1 + amplitude]."""
    factor = _uniform((x.shape[0], 1, 1, 1, 1), 1 - amplitude, 1 + amplitude, generator, x.device)
    return torch.cat([x[:, :coord_dims] * factor, x[:, coord_dims:]], dim=1)


def mirror(x: torch.Tensor, layout: Layout) -> torch.Tensor:
    """Left/right mirror of every sample: swap paired joints and negate x. An involution."""
    perm = torch.as_tensor(layout.flip_permutation, device=x.device)
    out = x.index_select(3, perm).clone()
    out[:, 0] = -out[:, 0]
    return out


def random_flip(x: torch.Tensor, prob: float, layout: Layout, generator) -> torch.Tensor:
    if prob <= 0:
        return x
    chosen = torch.rand(x.shape[0], generator=generator, device=x.device) < prob
    return torch.where(chosen[:, None, None, None, None], mirror(x, layout), x)


def random_shift_crop(x: torch.Tensor, ratio: float, generator) -> torch.Tensor:
    """PSTL's temporal crop: pad T*ratio reflected frames at both ends, cut T at a random start."""
    n, _, t = x.shape[:3]
    pad = int(t * ratio)
    if pad == 0:
        return x
    padded = torch.cat([x[:, :, :pad].flip(2), x, x[:, :, -pad:].flip(2)], dim=2)
    start = torch.randint(0, 2 * pad + 1, (n,), generator=generator, device=x.device)
    index = start[:, None] + torch.arange(t, device=x.device)[None, :]
    index = index[:, None, :, None, None].expand(-1, x.shape[1], -1, x.shape[3], x.shape[4])
    return padded.gather(2, index)


def augment(x: torch.Tensor, cfg: AugmentConfig, layout: Layout, generator) -> torch.Tensor:
    """One augmented view: shift crop, shear, rotation, scale, left/right flip."""
    x = random_shift_crop(x, cfg.shift_ratio, generator)
    if cfg.shear > 0:
        x = random_shear(x, cfg.shear, layout.coord_dims, generator)
    if cfg.rotate_deg > 0:
        x = random_rotate(x, cfg.rotate_deg, layout.coord_dims, generator, cfg.rotate_axes)
    if cfg.scale > 0:
        x = random_scale(x, cfg.scale, layout.coord_dims, generator)
    return random_flip(x, cfg.flip_prob, layout, generator)
