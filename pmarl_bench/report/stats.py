"""Statistics over score samples, after Agarwal et al. (2021), "Deep RL at the edge of the
statistical precipice": interquartile mean, stratified bootstrap confidence intervals,
probability of improvement and performance profiles.

Scores of one method come as a list of 1-D arrays, one per task, each holding that task's
runs (seeds); tasks may have different numbers of runs. Bootstrapping resamples the runs of
each task independently (a stratified bootstrap) with scipy's ``bootstrap`` and a fixed
random state, so the same scores always give the same intervals.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats

SEED = 0
REPS = 2000
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its confidence interval (NaN bounds: too few runs)."""

    value: float
    low: float
    high: float

    def __str__(self) -> str:
        if math.isnan(self.low):
            return _short(self.value)
        return f"{_short(self.value)} [{_short(self.low)}, {_short(self.high)}]"


def _short(x: float) -> str:
    """3 significant digits; rounding noise around 0 (e.g. 2e-17 from a mean of
    differences) reads 0."""
    return f"{0.0 if abs(x) < 1e-12 else x:.3g}"


def iqm(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Interquartile mean: the mean of the middle 50% of the values."""
    return stats.trim_mean(x, 0.25, axis=axis)


def _mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


def _median(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.median(x, axis=axis)


def optimality_gap(x: np.ndarray, axis: int = -1, target: float = 1.0) -> np.ndarray:
    """How far runs fall short of ``target`` on average (scores above it count as 0)."""
    return np.mean(np.maximum(target - x, 0.0), axis=axis)


AGGREGATES = {"iqm": iqm, "mean": _mean, "median": _median, "optimality gap": optimality_gap}


def _bootstrap(
    samples: tuple[np.ndarray, ...], statistic, seed: int, reps: int, undefined_ok: bool = False
) -> Estimate:
    """Percentile bootstrap; ``undefined_ok``: draws where the statistic is undefined (NaN,
    e.g. a ratio whose denominator a draw made 0) are left out of the interval instead of
    blanking it."""
    point = float(statistic(*samples, axis=-1))
    if min(len(s) for s in samples) < 2:
        return Estimate(point, math.nan, math.nan)
    if all(np.all(s == s[0]) for s in samples):  # no spread: every resample is the point
        return Estimate(point, point, point)
    res = stats.bootstrap(
        samples,
        statistic,
        n_resamples=reps,
        confidence_level=CONFIDENCE,
        method="percentile",
        vectorized=True,
        paired=False,
        random_state=np.random.default_rng(seed),
    )
    ci = res.confidence_interval
    if undefined_ok and not np.isfinite([ci.low, ci.high]).all():
        draws = res.bootstrap_distribution
        draws = draws[np.isfinite(draws)]
        if len(draws) < 0.9 * reps:  # mostly undefined: no interval worth the name
            return Estimate(point, math.nan, math.nan)
        tail = 100 * (1 - CONFIDENCE) / 2
        return Estimate(point, *map(float, np.percentile(draws, [tail, 100 - tail])))
    return Estimate(point, float(ci.low), float(ci.high))


def mean_band(x: np.ndarray, reps: int = 1000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``x [runs, points]`` (e.g. seeds x steps) -> the mean over runs at each point and a
    95% percentile-bootstrap band around it (runs resampled; the mean itself where the runs
    give no spread)."""
    mean = x.mean(0)
    if x.shape[0] < 2 or np.all(x == x[:1]):
        return mean, mean, mean
    rng = np.random.default_rng(SEED)
    res = stats.bootstrap((x,), np.mean, axis=0, n_resamples=reps, confidence_level=CONFIDENCE,
                          method="percentile", random_state=rng)  # fmt: skip
    low, high = res.confidence_interval.low, res.confidence_interval.high
    return mean, np.where(np.isnan(low), mean, low), np.where(np.isnan(high), mean, high)


def aggregate(
    scores: list[np.ndarray], kind: str = "iqm", seed: int = SEED, reps: int = REPS
) -> Estimate:
    """IQM or mean over all runs of all tasks, with a stratified bootstrap CI."""
    fn = AGGREGATES[kind]
    statistic = lambda *xs, axis=-1: fn(np.concatenate(xs, axis=axis), axis=axis)
    return _bootstrap(tuple(np.asarray(s, float) for s in scores), statistic, seed, reps)


def _improvement(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """P(X > Y) + P(X = Y) / 2 over all pairs of one run of X and one of Y."""
    x = np.moveaxis(x, axis, -1)[..., :, None]
    y = np.moveaxis(y, axis, -1)[..., None, :]
    return (x > y).mean((-2, -1)) + 0.5 * (x == y).mean((-2, -1))


def probability_of_improvement(
    x: list[np.ndarray], y: list[np.ndarray], seed: int = SEED, reps: int = REPS
) -> Estimate:
    """The probability that a run of X scores above a run of Y on a task drawn at random
    (ties count half), with a stratified bootstrap CI. 0.5 means no difference."""
    if len(x) != len(y):
        raise ValueError("X and Y need scores on the same tasks")
    n = len(x)

    def statistic(*samples, axis=-1):
        return np.mean([_improvement(samples[t], samples[n + t], axis) for t in range(n)], axis=0)

    samples = tuple(np.asarray(s, float) for s in (*x, *y))
    return _bootstrap(samples, statistic, seed, reps)


def seeds_to_separate(estimate: Estimate, seeds: int) -> int | None:
    """A rough count of seeds per method that would make a probability-of-improvement CI
    exclude 0.5, assuming its half-width shrinks as 1/sqrt(seeds). None: the point estimate is
    0.5 (no sign of a difference) or there is no interval."""
    gap = abs(estimate.value - 0.5)
    if gap == 0 or math.isnan(estimate.low):
        return None
    half = (estimate.high - estimate.low) / 2
    return max(seeds + 1, math.ceil(seeds * (half / gap) ** 2))


def performance_profile(scores: list[np.ndarray], taus: np.ndarray) -> np.ndarray:
    """The fraction of runs (over all tasks, each task weighted equally) scoring above each
    threshold in ``taus``."""
    per_task = [(np.asarray(s)[:, None] > taus[None, :]).mean(0) for s in scores]
    return np.mean(per_task, axis=0)


def gap_closed(
    tasks: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    kind: str = "iqm",
    seed: int = SEED,
    reps: int = REPS,
) -> Estimate:
    """The share of the gap between two controls an agent closes, aggregated over tasks:
    ``tasks`` holds per task ``(agent runs, low control runs, high control runs)``; each run
    is scored ``(x - mean(low)) / (mean(high) - mean(low))``. The stratified bootstrap
    resamples the controls' runs too, so the interval includes their uncertainty; a draw in
    which a task's gap vanishes (the controls' means equal) is left out of the interval (at
    most a tenth of them, else there is none)."""
    fn = AGGREGATES[kind]
    n = len(tasks)

    def statistic(*samples, axis=-1):
        parts = []
        for t in range(n):
            x, lo, hi = samples[3 * t : 3 * t + 3]
            low = np.mean(lo, axis=axis, keepdims=True)
            span = np.mean(hi, axis=axis, keepdims=True) - low
            parts.append((x - low) / np.where(np.abs(span) > 1e-12, span, np.nan))
        return fn(np.concatenate(parts, axis=axis), axis=axis)

    samples = tuple(np.asarray(s, float) for task in tasks for s in task)
    return _bootstrap(samples, statistic, seed, reps, undefined_ok=True)


def difference(x: np.ndarray, y: np.ndarray, seed: int = SEED, reps: int = REPS) -> Estimate:
    """mean(x) - mean(y), with a bootstrap CI (each sample resampled on its own)."""
    statistic = lambda a, b, axis=-1: np.mean(a, axis=axis) - np.mean(b, axis=axis)
    return _bootstrap((np.asarray(x, float), np.asarray(y, float)), statistic, seed, reps)


def welch_p(x: np.ndarray, y: np.ndarray) -> float:
    """Two-sided p-value of Welch's t-test (means differ; variances need not be equal). 1 for
    samples without spread and equal means, 0 without spread and different means."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 2 or len(y) < 2:
        return math.nan
    if np.ptp(x) == 0 and np.ptp(y) == 0:
        return 1.0 if x[0] == y[0] else 0.0
    with warnings.catch_warnings():  # near-constant samples: scipy warns, the p is still right
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_ind(x, y, equal_var=False).pvalue)


def holm(pvalues: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (NaN stays NaN and is not counted): a claim is kept
    when its adjusted p is below the level, for the family of all the claims at once."""
    p = np.asarray(pvalues, float)
    ok = np.flatnonzero(~np.isnan(p))
    out = np.full(len(p), np.nan)
    m = len(ok)
    running = 0.0
    for rank, i in enumerate(ok[np.argsort(p[ok], kind="stable")]):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out.tolist()


def profile_band(
    scores: list[np.ndarray], taus: np.ndarray, seed: int = SEED, reps: int = 1000
) -> tuple[np.ndarray, np.ndarray]:
    """A 95% stratified-bootstrap band around ``performance_profile`` (each task's runs
    resampled); the profile itself where no task has two runs."""
    rng = np.random.default_rng(seed)
    scores = [np.asarray(s, float) for s in scores]
    if all(len(s) < 2 for s in scores):
        point = performance_profile(scores, taus)
        return point, point
    draws = np.stack(
        [
            performance_profile([s[rng.integers(0, len(s), len(s))] for s in scores], taus)
            for _ in range(reps)
        ]
    )
    alpha = (1 - CONFIDENCE) / 2
    return np.quantile(draws, alpha, axis=0), np.quantile(draws, 1 - alpha, axis=0)


def cross_play_gap(matrix: np.ndarray, seed: int = SEED, reps: int = REPS) -> Estimate:
    """Self-play minus cross-play: the mean of a cross-play matrix's diagonal (each seed with
    its own partners) minus the mean of the rest (with another seed's), and a 95% percentile
    CI from resampling the seeds (a resample's pairs of one seed count as self-play; resamples
    of a single seed, with no cross-play pair, are left out)."""
    m = np.asarray(matrix, float)
    n = len(m)
    off = ~np.eye(n, dtype=bool)
    point = float(np.diag(m).mean() - m[off].mean()) if n > 1 else math.nan
    if n < 2:
        return Estimate(point, math.nan, math.nan)
    rng = np.random.default_rng(seed)
    idx = rng.integers(n, size=(reps, n))
    sub = m[idx[:, :, None], idx[:, None, :]]  # [reps, n, n]
    same = idx[:, :, None] == idx[:, None, :]
    cross = (~same).sum((1, 2))
    keep = cross > 0
    self_mean = np.where(same, sub, 0.0).sum((1, 2)) / same.sum((1, 2))
    cross_mean = np.where(same, 0.0, sub).sum((1, 2))[keep] / cross[keep]
    gaps = self_mean[keep] - cross_mean
    low, high = np.percentile(gaps, [50 * (1 - CONFIDENCE), 50 * (1 + CONFIDENCE)])
    return Estimate(point, float(low), float(high))
