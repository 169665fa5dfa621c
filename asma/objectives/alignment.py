"""The alignment loss between the encoders' aligned features, added to the downstream loss.

We use the mean cosine distance over encoder pairs, 1 - cos(a_i, a_j), and not a Barlow-Twins
cross-correlation: the loss is trained with the downstream head, where batches can be tiny (a
1% semi-supervised set has a few clips; a D x D cross-correlation of a few samples is mostly
noise), and a cosine works per sample at any batch size. Collapse, the usual risk of a pure
similarity loss, is held off by the classification loss it is added to.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def alignment_loss(aligned: torch.Tensor) -> torch.Tensor:
    """aligned (N, E, D) -> mean over pairs i < j and samples of 1 - cos(a_i, a_j); 0 when E < 2."""
    e = aligned.shape[1]
    if e < 2:
        return aligned.new_zeros(())
    unit = F.normalize(aligned, dim=-1)
    cos = torch.einsum("nid,njd->nij", unit, unit)  # (N, E, E)
    i, j = torch.triu_indices(e, e, offset=1, device=aligned.device)
    return (1 - cos[:, i, j]).mean()
