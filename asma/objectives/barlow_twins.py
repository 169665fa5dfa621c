"""Barlow Twins (Zbontar et al. 2021) as PSTL uses it: BN without affine, then the
cross-correlation pushed toward the identity, off-diagonal terms weighted by lambda.

With several workers the batch statistics are summed over all of them and the standardised
projections gathered (differentiable), so the loss is that of the global batch, as in the
official code.

The (D, D) cross-correlation C = A^T B / N is never formed when N < D (PSTL: D = 6144, N = 128):
its diagonal is a column-wise dot product and its squared Frobenius norm equals
sum((A A^T) * (B B^T)) / N^2, two (N, N) Gram matrices, so the loss costs O(N^2 D), not O(N D^2).
The off-diagonal sum is ||C||^2 minus the diagonal's squares: the same loss, exactly.
"""
from __future__ import annotations

import torch
import torch.distributed as dist


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _all_reduce_sum(x: torch.Tensor) -> torch.Tensor:
    if _distributed():
        from torch.distributed.nn.functional import all_reduce

        return all_reduce(x, op=dist.ReduceOp.SUM)
    return x


def _gather_rows(z: torch.Tensor) -> torch.Tensor:
    """(n, D) on each worker -> (W * n, D) on every worker, differentiable.

    Built on the differentiable all-reduce (each worker fills its own slot of a zero buffer)
    because gloo has no all-to-all, which torch's differentiable all_gather needs backward.
    """
    if not _distributed():
        return z
    world, rank = dist.get_world_size(), dist.get_rank()
    zeros = z.new_zeros(z.shape)
    slots = [z if i == rank else zeros for i in range(world)]
    return _all_reduce_sum(torch.cat(slots, dim=0))


def _global_batch(n: int, device) -> int:
    if _distributed():
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


def cross_correlation_terms(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Standardised (N, D) a, b -> (diag(C) (D,), ||C||_F^2) for C = a^T b / N, by the cheaper route."""
    n, d = a.shape
    diagonal = (a * b).sum(0) / n
    if n < d:
        squared_norm = ((a @ a.T) * (b @ b.T)).sum() / (n * n)
    else:
        squared_norm = (a.T @ b).div(n).pow(2).sum()
    return diagonal, squared_norm


def barlow_twins_loss(z1: torch.Tensor, z2: torch.Tensor, off_diagonal_weight: float) -> torch.Tensor:
    """z1, z2 (N, D) projections of two views -> scalar loss over the global batch."""
    total = _global_batch(z1.shape[0], z1.device)
    a = _gather_rows(batch_standardize(z1, total))
    b = _gather_rows(batch_standardize(z2, total))
    diagonal, squared_norm = cross_correlation_terms(a, b)
    on = (diagonal - 1).pow(2).sum()
    off = squared_norm - diagonal.pow(2).sum()
    return on + off_diagonal_weight * off
