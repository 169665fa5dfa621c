"""Joint masks: which joints a spatial stream removes from the graph.

Returns a keep mask (N, V) (True = joint stays). With `scope: batch` in mind the caller may use
one row for the whole batch, which lets the encoder drop the joints' columns outright as PSTL does.
"""
from __future__ import annotations

import torch

from asma.config.schema import JointMaskConfig
from asma.masking.sampling import gumbel_top_k, mask_from_indices


def masked_joint_count(cfg: JointMaskConfig, num_joints: int) -> int:
    return int(round(cfg.ratio * num_joints)) if cfg.mode != "none" else 0


def joint_weights(cfg: JointMaskConfig, degrees: torch.Tensor) -> torch.Tensor:
    """(V,) log sampling weights of each joint for `degree` and `threshold` modes.

    degree, target high: w = degree^p (p = 0 is uniform); target low: w = degree^-p.
    threshold, high: uniform over degree >= t; low: uniform over degree < t (-inf elsewhere).
    """
    deg = degrees.float().clamp_min(1.0)
    if cfg.mode == "degree":
        sign = 1.0 if cfg.target == "high" else -1.0
        return sign * cfg.degree_power * torch.log(deg)
    if cfg.mode == "threshold":
        pool = degrees >= cfg.degree_threshold if cfg.target == "high" else degrees < cfg.degree_threshold
        return torch.where(pool, 0.0, float("-inf"))
    return torch.zeros_like(deg)


def csm_pool(degrees: torch.Tensor) -> torch.Tensor:
    """PSTL's central spatial masking pool: joint v appears degree(v) times."""
    return torch.repeat_interleave(torch.arange(len(degrees), device=degrees.device), degrees.long())


def joints_to_keep(cfg: JointMaskConfig, degrees: torch.Tensor, batch: int,
                   generator: torch.Generator | None) -> torch.Tensor:
    """(N, V) bool keep mask for `batch` samples."""
    v = len(degrees)
    k = masked_joint_count(cfg, v)
    keep = torch.ones(batch, v, dtype=torch.bool, device=degrees.device)
    if k == 0:
        return keep
    if cfg.mode == "csm":
        # k draws without replacement from the multiset: a joint drawn twice is masked once,
        # exactly as `random.sample(all_joint, mask_joint)` in PSTL.
        pool = csm_pool(degrees)
        draws = gumbel_top_k(torch.zeros(batch, len(pool), device=degrees.device), k, generator)
        return ~mask_from_indices(pool[draws], v)
    log_w = joint_weights(cfg, degrees)
    k = min(k, int(torch.isfinite(log_w).sum()))
    drawn = gumbel_top_k(log_w.expand(batch, v), k, generator)
    return ~mask_from_indices(drawn, v)
