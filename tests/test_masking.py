"""Masking: counts match ratios, ASMa's views are complementary, seeds reproduce masks, and CSM /
MATM reproduce PSTL's `central_spacial_mask` / `motion_att_temp_mask` (model.py) on fixed inputs."""
import math
import random

import pytest
import torch

from asma.config.schema import FrameMaskConfig, JointMaskConfig, MaskingConfig
from asma.masking.frames import frame_motion, frames_to_keep, gather_frames
from asma.masking.joints import csm_pool, joints_to_keep
from asma.masking.sampling import gumbel_top_k
from asma.skeleton.layout import load_layout

DEGREES = torch.as_tensor(load_layout("ntu25").degrees)
# PSTL model.py, central_spacial_mask: `degree_centrality`, hard-coded for NTU's 25 joints
PSTL_DEGREE_CENTRALITY = [3, 2, 2, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 1, 4, 1, 2, 1, 2]
SPECS = MaskingConfig().specs


def seeded(seed=0):
    return torch.Generator().manual_seed(seed)


def clips(n=6, t=50, v=25, m=2, seed=0):
    g = seeded(seed)
    return (torch.randn(n, 3, t, v, m, generator=g) * 0.1).cumsum(2)


# ---- joints ---------------------------------------------------------------------------------

@pytest.mark.parametrize("mode, target", [("random", "high"), ("degree", "high"), ("degree", "low"),
                                          ("threshold", "high"), ("threshold", "low")])
def test_masked_joint_count_matches_ratio(mode, target):
    cfg = JointMaskConfig(mode=mode, target=target, ratio=0.32, degree_threshold=2)
    keep = joints_to_keep(cfg, DEGREES, 200, seeded())
    masked = (~keep).sum(1)
    pool = (DEGREES >= 2) if target == "high" else (DEGREES < 2)
    expected = min(round(0.32 * 25), int(pool.sum())) if mode == "threshold" else round(0.32 * 25)
    assert masked.eq(expected).all()


def test_csm_masks_at_most_k_distinct_joints():
    keep = joints_to_keep(JointMaskConfig(mode="csm", ratio=0.32), DEGREES, 500, seeded())
    masked = (~keep).sum(1)
    assert masked.max() == 8 and masked.min() >= 4 and masked.float().mean() < 8  # repeats collapse


def test_none_masks_nothing():
    keep = joints_to_keep(JointMaskConfig(mode="none", ratio=0.0), DEGREES, 3, seeded())
    assert keep.all()


def test_view_a_favours_high_degree_joints_and_view_b_low_degree():
    a = ~joints_to_keep(SPECS["a"].joints, DEGREES, 4000, seeded(1))
    b = ~joints_to_keep(SPECS["b"].joints, DEGREES, 4000, seeded(2))
    mean_degree = lambda masked: (masked.float() * DEGREES).sum() / masked.sum()  # noqa: E731
    assert mean_degree(a) > DEGREES.float().mean() > mean_degree(b)
    # the hub (spine, degree 4) is A's most masked joint; B masks every leaf more often than it
    assert a.float().mean(0).argmax() == DEGREES.argmax()
    leaves = DEGREES == 1
    assert (b.float().mean(0)[leaves] > b.float().mean(0)[DEGREES.argmax()]).all()


def test_threshold_pools_are_disjoint_and_cover_all_joints():
    high = JointMaskConfig(mode="threshold", target="high", degree_threshold=3, ratio=0.05)
    low = JointMaskConfig(mode="threshold", target="low", degree_threshold=3, ratio=0.9)
    ever_high = (~joints_to_keep(high, DEGREES, 2000, seeded(3))).any(0)
    ever_low = (~joints_to_keep(low, DEGREES, 2000, seeded(4))).any(0)
    assert not (ever_high & ever_low).any()
    assert (ever_high | ever_low).all()
    assert torch.equal(ever_high, DEGREES >= 3)


def test_degree_weights_give_first_draw_probabilities_proportional_to_degree_power():
    log_w = 2.0 * torch.log(DEGREES.float())
    first = gumbel_top_k(log_w.expand(40000, -1), 1, seeded(5))[:, 0]
    empirical = torch.bincount(first, minlength=25).float() / 40000
    exact = DEGREES.float() ** 2 / (DEGREES.float() ** 2).sum()
    assert torch.allclose(empirical, exact, atol=0.01)


@pytest.mark.parametrize("view", ["a", "b", "pstl", "random"])
def test_joint_masks_are_deterministic_under_a_seed(view):
    cfg = SPECS[view].joints
    first = joints_to_keep(cfg, DEGREES, 16, seeded(7))
    assert torch.equal(first, joints_to_keep(cfg, DEGREES, 16, seeded(7)))
    assert not torch.equal(first, joints_to_keep(cfg, DEGREES, 16, seeded(8)))


def test_csm_pool_is_pstls_all_joint_list():
    all_joint = [i for i in range(25) for _ in range(PSTL_DEGREE_CENTRALITY[i])]
    assert DEGREES.tolist() == PSTL_DEGREE_CENTRALITY
    assert csm_pool(DEGREES).tolist() == all_joint


def test_csm_masking_frequencies_match_pstls_random_sample():
    """P(joint masked) = 1 - C(50 - d, 8) / C(50, 8) for `random.sample(all_joint, 8)`; our draws
    and a Monte-Carlo run of PSTL's own call must both give it."""
    keep = joints_to_keep(JointMaskConfig(mode="csm", ratio=0.32), DEGREES, 20000, seeded(9))
    ours = (~keep).float().mean(0)
    pool_size = sum(PSTL_DEGREE_CENTRALITY)
    exact = torch.tensor([1 - math.comb(pool_size - d, 8) / math.comb(pool_size, 8) for d in PSTL_DEGREE_CENTRALITY])
    rng = random.Random(0)
    all_joint = [i for i in range(25) for _ in range(PSTL_DEGREE_CENTRALITY[i])]
    pstl = torch.zeros(25)
    for _ in range(5000):
        pstl[list(set(rng.sample(all_joint, 8)))] += 1
    pstl /= 5000
    assert torch.allclose(ours, exact, atol=0.015)
    assert torch.allclose(pstl, exact, atol=0.025)


# ---- frames ---------------------------------------------------------------------------------

def test_frame_motion_is_pstls_motion_attention():
    x = clips(n=3)
    motion = torch.zeros_like(x)
    motion[:, :, :-1] = x[:, :, 1:] - x[:, :, :-1]
    temporal_att = (-(motion ** 2)).mean((1, 3, 4))  # PSTL: the negated energy
    assert torch.allclose(frame_motion(x), -temporal_att)


@pytest.mark.parametrize("mode, target", [("motion", "low"), ("motion", "high"), ("matm", "high"), ("random", "high")])
def test_kept_frame_count_matches_ratios_and_stays_in_time_order(mode, target):
    cfg = FrameMaskConfig(mode=mode, target=target, ratio=0.2, random_ratio=0.2)
    keep = frames_to_keep(clips(), cfg, seeded())
    assert keep.shape == (6, 30)
    assert (keep.diff(dim=1) > 0).all()


def motion_ranks(x):
    """(N, T) rank of each frame's motion, 0 = least."""
    return frame_motion(x).argsort(1).argsort(1)


def dropped(keep, t):
    mask = torch.ones(keep.shape[0], t, dtype=torch.bool)
    return mask.scatter_(1, keep, False)


def test_view_a_drops_the_lowest_motion_frames_and_view_b_the_highest():
    x = clips()
    ranks = motion_ranks(x)
    k = round(0.2 * 50)
    only_motion = {"random_ratio": 0.0}
    drop_a = dropped(frames_to_keep(x, SPECS["a"].frames.model_copy(update=only_motion), seeded()), 50)
    drop_b = dropped(frames_to_keep(x, SPECS["b"].frames.model_copy(update=only_motion), seeded()), 50)
    assert torch.equal(drop_a, ranks < k)
    assert torch.equal(drop_b, ranks >= 50 - k)
    # with the random extra frames (the defaults), the motion-chosen frames are still all dropped
    drop_a = dropped(frames_to_keep(x, SPECS["a"].frames, seeded()), 50)
    assert drop_a[ranks < k].all() and drop_a.sum(1).eq(2 * k).all()


def test_motion_percentile_draws_among_frames_past_it():
    x = clips(n=32)
    cfg = FrameMaskConfig(mode="motion", target="high", ratio=0.1, random_ratio=0.0, percentile=70)
    drop = dropped(frames_to_keep(x, cfg, seeded()), 50)
    assert drop[motion_ranks(x) < 35].sum() == 0  # only frames in the top 30% of motion
    assert drop.sum(1).eq(5).all()
    assert not torch.equal(drop, motion_ranks(x) >= 45)  # drawn, not the 5 extremes every time


def pstl_matm_kept_before_random(x, mask_frame):
    """PSTL motion_att_temp_mask up to the random step: the T - k frames of least motion, in time order."""
    n, c, t, v, m = x.shape
    motion = torch.zeros_like(x)
    motion[:, :, :-1] = x[:, :, 1:] - x[:, :, :-1]
    temporal_att = (-(motion ** 2)).mean((1, 3, 4))
    _, temp_list = torch.topk(temporal_att, t - mask_frame)
    temp_list, _ = torch.sort(temp_list)
    return temp_list


def test_matm_deterministic_part_reproduces_pstl():
    x = clips()
    cfg = FrameMaskConfig(mode="matm", ratio=0.2, random_ratio=0.0)
    assert torch.equal(frames_to_keep(x, cfg, seeded()), pstl_matm_kept_before_random(x, 10))


def test_matm_random_part_keeps_t_minus_2k_of_pstls_frames():
    x = clips()
    keep = frames_to_keep(x, SPECS["pstl"].frames, seeded())  # 10 by motion, then 10 at random
    reference = pstl_matm_kept_before_random(x, 10)
    assert keep.shape == (6, 30)
    for row, ref in zip(keep, reference):
        assert set(row.tolist()) <= set(ref.tolist())
    clip = gather_frames(x, keep)
    assert torch.equal(clip[1, :, 3], x[1, :, keep[1, 3]])


@pytest.mark.parametrize("view", ["a", "b", "pstl", "random"])
def test_frame_masks_are_deterministic_under_a_seed(view):
    x, cfg = clips(), SPECS[view].frames
    first = frames_to_keep(x, cfg, seeded(3))
    assert torch.equal(first, frames_to_keep(x, cfg, seeded(3)))
    assert not torch.equal(first, frames_to_keep(x, cfg, seeded(4)))
