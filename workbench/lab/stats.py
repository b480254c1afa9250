"""Uncertainty for evaluation figures: intervals, paired tests, non-inferiority bounds.

Questions are the sampling unit for quality, so its intervals are bootstraps over questions and its tests
are paired by question. Latency also depends on the machine at the time of the run, so its intervals come
from repeats when there are two or more. Every bootstrap is seeded: the same runs give the same intervals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

RESAMPLES = 2000
LEVEL = 0.95
SEED = 20240601

Statistic = Callable[..., np.ndarray]  # called as statistic(matrix, axis=1): one value per resample row


def _clean(values: Sequence[float]) -> np.ndarray:
    x = np.asarray(values, dtype=float)
    return x[~np.isnan(x)]


def quantile_of(q: float) -> Statistic:
    return lambda m, axis: np.quantile(m, q, axis=axis)


def _rows(n: int) -> np.ndarray:
    """RESAMPLES bootstrap samples of n indices, drawn with replacement (seeded)."""
    return np.random.default_rng(SEED).integers(0, n, (RESAMPLES, n))


def bootstrap_ci(values: Sequence[float], statistic: Statistic = np.mean, level: float = LEVEL) -> tuple[float, float]:
    """Percentile bootstrap interval; NaN when fewer than two values are known (one value has no spread to sample)."""
    x = _clean(values)
    if len(x) < 2:
        return math.nan, math.nan
    low, high = np.quantile(statistic(x[_rows(len(x))], axis=1), [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def t_interval(values: Sequence[float], level: float = LEVEL) -> tuple[float, float]:
    """Student t interval of the mean: for a handful of repeats, where a bootstrap would be too narrow."""
    from scipy import stats

    x = _clean(values)
    if len(x) < 2:
        return math.nan, math.nan
    half = stats.t.ppf((1 + level) / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return float(x.mean() - half), float(x.mean() + half)


@dataclass(frozen=True)
class Paired:
    """Candidate minus baseline over the questions both answered."""

    n: int
    diff: float
    ci_low: float
    ci_high: float
    p_value: float
    test: str
    effect_size: float  # matched-pairs rank-biserial correlation, in [-1, 1]


def paired_test(baseline: Sequence[float], candidate: Sequence[float], hit: bool = False, level: float = LEVEL) -> Paired:
    """Mean paired difference with a bootstrap interval, and a test that suits the metric.

    A hit-type metric (its scorer says so) whose every value is still 0 or 1 (repeats that disagree average to a
    fraction): McNemar's test, exact (a binomial test on the discordant questions). Otherwise: Wilcoxon's
    signed-rank test. The effect size is the rank-biserial correlation of the differences,
    which for hit-type values is (gained - lost) / (gained + lost).
    """
    from scipy import stats

    a, b = np.asarray(baseline, dtype=float), np.asarray(candidate, dtype=float)
    keep = ~np.isnan(a) & ~np.isnan(b)
    a, b = a[keep], b[keep]
    d = b - a
    if not len(d):
        return Paired(0, math.nan, math.nan, math.nan, math.nan, "none", math.nan)
    low, high = bootstrap_ci(d, level=level)
    nonzero = d[d != 0]
    binary = hit and bool(np.isin(np.concatenate([a, b]), (0.0, 1.0)).all())
    if not len(nonzero):
        return Paired(len(d), 0.0, 0.0, 0.0, 1.0, "mcnemar-exact" if binary else "wilcoxon", 0.0)
    ranks = stats.rankdata(np.abs(nonzero))
    effect = float((ranks[nonzero > 0].sum() - ranks[nonzero < 0].sum()) / ranks.sum())
    if binary:
        gained = int((nonzero > 0).sum())
        p = stats.binomtest(gained, len(nonzero), 0.5).pvalue
        return Paired(len(d), float(d.mean()), low, high, float(p), "mcnemar-exact", effect)
    p = stats.wilcoxon(nonzero).pvalue
    return Paired(len(d), float(d.mean()), low, high, float(p), "wilcoxon", effect)


def paired_draws(baseline: Sequence[float], candidate: Sequence[float], statistic: Statistic = np.mean) -> np.ndarray:
    """Bootstrap draws of statistic(candidate) - statistic(baseline), the same questions drawn for both."""
    a, b = np.asarray(baseline, dtype=float), np.asarray(candidate, dtype=float)
    keep = ~np.isnan(a) & ~np.isnan(b)
    a, b = a[keep], b[keep]
    if not len(a):
        return np.empty(0)
    rows = _rows(len(a))
    return statistic(b[rows], axis=1) - statistic(a[rows], axis=1)


def lower_bound(draws: np.ndarray, level: float = LEVEL) -> float:
    """One-sided bound: the difference is above it with confidence `level` (NaN without draws)."""
    return float(np.quantile(draws, 1 - level)) if len(draws) else math.nan


def bootstrap_p(draws: np.ndarray) -> float:
    """Two-sided bootstrap p-value of "the difference is zero": twice the smaller tail, at least 1/resamples."""
    if not len(draws):
        return math.nan
    tail = min((draws <= 0).mean(), (draws >= 0).mean())
    return float(min(1.0, max(2 * tail, 1 / len(draws))))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values: several comparisons at once keep the chance of any false call at alpha."""
    p = np.asarray(p_values, dtype=float)
    known = np.flatnonzero(~np.isnan(p))
    out = p.copy()
    running = 0.0
    for rank, i in enumerate(known[np.argsort(p[known], kind="stable")]):
        running = max(running, min(1.0, (len(known) - rank) * p[i]))
        out[i] = running
    return out.tolist()
