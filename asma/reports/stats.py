"""Summaries over seeds and paired significance tests between a variant and the default."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MIN_PAIRED_SEEDS = 3
TESTS = ("t", "wilcoxon")
ADJUSTMENTS = ("holm", "none")


@dataclass(frozen=True)
class Summary:
    mean: float
    std: float | None  # sample std (ddof=1); None with one seed
    n: int


def summarize(values: list[float]) -> Summary | None:
    if not values:
        return None
    arr = np.asarray(values, dtype=float)
    return Summary(float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else None, int(arr.size))


def paired_p_value(variant: dict[int, float], default: dict[int, float], test: str = "t") -> float | None:
    """Two-sided p of `variant` vs `default` over the seeds both have; None under 3 matched seeds.

    t: scipy.stats.ttest_rel; wilcoxon: scipy.stats.wilcoxon (signed-rank). Identical scores on
    every seed give p = 1; a constant non-zero difference gives p = 0 for the t-test (no variance).
    """
    from scipy import stats

    if test not in TESTS:
        raise ValueError(f"unknown test {test!r}; choose from {', '.join(TESTS)}")
    seeds = sorted(set(variant) & set(default))
    if len(seeds) < MIN_PAIRED_SEEDS:
        return None
    a = np.array([variant[s] for s in seeds], dtype=float)
    b = np.array([default[s] for s in seeds], dtype=float)
    diff = a - b
    if np.allclose(diff, 0):
        return 1.0
    if test == "t":
        if np.allclose(diff, diff[0]):
            return 0.0
        return float(stats.ttest_rel(a, b).pvalue)
    p = float(stats.wilcoxon(a, b).pvalue)
    return p if not math.isnan(p) else None


@dataclass(frozen=True)
class Difference:
    """Mean paired difference (variant - default) over matched seeds, with its 95% confidence
    interval from the t distribution with n - 1 degrees of freedom."""

    mean: float
    low: float
    high: float
    n: int


def paired_difference(variant: dict[int, float], default: dict[int, float]) -> Difference | None:
    """The paired difference to the default over the seeds both have; None under 3 matched seeds."""
    from scipy import stats

    seeds = sorted(set(variant) & set(default))
    if len(seeds) < MIN_PAIRED_SEEDS:
        return None
    diff = np.array([variant[s] - default[s] for s in seeds], dtype=float)
    mean, n = float(diff.mean()), len(diff)
    half = float(stats.t.ppf(0.975, n - 1) * diff.std(ddof=1) / math.sqrt(n))
    return Difference(mean, mean - half, mean + half, n)


def holm_adjust(p_values: list[float | None]) -> list[float | None]:
    """Holm-Bonferroni adjusted p-values of one family of tests, in the given order.

    The m tests (None: no test, left out of the family) are sorted by p; the k-th smallest
    (k = 1..m) gets min(1, (m - k + 1) p), raised to the largest adjusted p before it so the order
    is kept. Rejecting where the adjusted p < alpha holds the family-wise error rate at alpha.
    """
    tested = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m = len(tested)
    out: list[float | None] = [None] * len(p_values)
    running = 0.0
    for k, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (m - k) * p))
        out[i] = running
    return out
