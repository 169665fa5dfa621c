"""Frame masks: which frames a temporal stream drops, by motion and at random.

Frame motion is PSTL's: the mean over channels, joints and persons of the squared difference to
the next frame (the last frame scores 0). Every function works on the whole batch at once and
returns sorted indices of the kept frames, (N, T_keep), so the stream stays in time order.
"""
from __future__ import annotations

import torch

from asma.config.schema import FrameMaskConfig
from asma.masking.sampling import gumbel_top_k, mask_from_indices


def frame_motion(x: torch.Tensor) -> torch.Tensor:
    """(N, C, T, V, M) -> (N, T) motion energy of each frame."""
    diff = torch.zeros_like(x)
    diff[:, :, :-1] = x[:, :, 1:] - x[:, :, :-1]
    return diff.pow(2).mean(dim=(1, 3, 4))


def dropped_frame_counts(cfg: FrameMaskConfig, t: int) -> tuple[int, int]:
    """(frames dropped by motion, frames dropped at random) for a clip of T frames."""
    if cfg.mode == "none":
        return 0, 0
    by_motion = int(round(cfg.ratio * t)) if cfg.mode in ("motion", "matm") else 0
    at_random = int(round(cfg.random_ratio * t))
    if cfg.mode == "random":
        at_random += int(round(cfg.ratio * t))
    return by_motion, min(at_random, t - by_motion - 1)


def motion_drop_mask(motion: torch.Tensor, k: int, target: str, percentile: float | None,
                     generator: torch.Generator | None) -> torch.Tensor:
    """(N, T) True for the k frames dropped by motion.

    Without a percentile: the k most (target=high) or least (low) moving frames.
    With one: k frames drawn uniformly among those past the percentile (motion at or above it for
    high; at or below the (100 - percentile)-th for low); if fewer qualify, the most extreme
    others fill in.
    """
    score = motion if target == "high" else -motion
    if percentile is None:
        return mask_from_indices(torch.topk(score, k, dim=1).indices, motion.shape[1])
    # on the signed score both targets read the same: the top (100 - percentile)% of frames
    eligible = score >= torch.quantile(score, percentile / 100.0, dim=1, keepdim=True)
    # rank eligible frames first (in random order), then the rest by how extreme they are
    rank_in_rest = score.argsort(dim=1).argsort(dim=1).float() / score.shape[1]
    noise = torch.rand(score.shape, generator=generator, device=score.device)
    key = torch.where(eligible, 2.0 + noise, rank_in_rest)
    return mask_from_indices(torch.topk(key, k, dim=1).indices, motion.shape[1])


def frames_to_keep(x: torch.Tensor, cfg: FrameMaskConfig, generator: torch.Generator | None) -> torch.Tensor:
    """(N, T_keep) sorted indices of the frames that stay, T_keep = T - dropped."""
    n, t = x.shape[0], x.shape[2]
    by_motion, at_random = dropped_frame_counts(cfg, t)
    dropped = torch.zeros(n, t, dtype=torch.bool, device=x.device)
    if by_motion:
        target = "high" if cfg.mode == "matm" else cfg.target
        percentile = None if cfg.mode == "matm" else cfg.percentile
        dropped |= motion_drop_mask(frame_motion(x), by_motion, target, percentile, generator)
    if at_random:
        log_w = torch.where(dropped, float("-inf"), 0.0)
        dropped |= mask_from_indices(gumbel_top_k(log_w, at_random, generator), t)
    keep = ~dropped
    # every row keeps the same count, so the kept positions reshape to (N, T_keep) in time order
    return keep.nonzero()[:, 1].view(n, -1)


def gather_frames(x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """(N, C, T, V, M) and (N, T_keep) indices -> (N, C, T_keep, V, M)."""
    n, c, _, v, m = x.shape
    index = keep[:, None, :, None, None].expand(n, c, keep.shape[1], v, m)
    return x.gather(2, index)
