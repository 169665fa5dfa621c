"""Barlow Twins (Zbontar et al. 2021) as PSTL uses it: BN without affine, then the
cross-correlation pushed toward the identity, off-diagonal terms weighted by lambda.

With several workers the batch statistics and the cross-correlation are summed over all of them
(differentiable all-reduce), so the loss is that of the global batch, as in the official code.
"""
from __future__ import annotations

import torch
import torch.distributed as dist


def _all_reduce_sum(x: torch.Tensor) -> torch.Tensor:
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        from torch.distributed.nn.functional import all_reduce

        return all_reduce(x, op=dist.ReduceOp.SUM)
    return x


def _global_batch(n: int, device) -> int:
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        size = torch.tensor([n], device=device, dtype=torch.long)
        dist.all_reduce(size)
        return int(size.item())
    return n


def batch_standardize(z: torch.Tensor, total: int, eps: float = 1e-5) -> torch.Tensor:
    """BatchNorm1d(affine=False) in training mode, over the global batch of `total` rows."""
    mean = _all_reduce_sum(z.sum(0)) / total
    centered = z - mean
    var = _all_reduce_sum(centered.pow(2).sum(0)) / total
    return centered / torch.sqrt(var + eps)


def off_diagonal(c: torch.Tensor) -> torch.Tensor:
    n = c.shape[0]
    return c.flatten()[:-1].view(n - 1, n + 1)[:, 1:].flatten()


def barlow_twins_loss(z1: torch.Tensor, z2: torch.Tensor, off_diagonal_weight: float) -> torch.Tensor:
    """z1, z2 (N, D) projections of two views -> scalar loss over the global batch."""
    total = _global_batch(z1.shape[0], z1.device)
    c = _all_reduce_sum(batch_standardize(z1, total).T @ batch_standardize(z2, total)) / total
    on = (torch.diagonal(c) - 1).pow(2).sum()
    off = off_diagonal(c).pow(2).sum()
    return on + off_diagonal_weight * off
