"""Weighted sampling without replacement for a whole batch at once (Gumbel top-k)."""
from __future__ import annotations

import torch


def gumbel_top_k(log_weights: torch.Tensor, k: int, generator: torch.Generator | None) -> torch.Tensor:
    """(N, K) indices drawn without replacement with probability proportional to exp(log_weights).

    log_weights: (N, D) or (D,) broadcast to N rows; -inf excludes an entry.
    Adding Gumbel noise and keeping the top k is exactly sequential weighted sampling without
    replacement (Vieira 2014), vectorised over the batch.
    """
    u = torch.rand(log_weights.shape, generator=generator, device=log_weights.device)
    gumbel = -torch.log(-torch.log(u.clamp_min(1e-20)))
    return torch.topk(log_weights + gumbel, k, dim=-1).indices


def mask_from_indices(indices: torch.Tensor, size: int) -> torch.Tensor:
    """(N, K) indices -> (N, size) bool, True where an index was drawn."""
    mask = torch.zeros(indices.shape[0], size, dtype=torch.bool, device=indices.device)
    return mask.scatter_(1, indices, True)
