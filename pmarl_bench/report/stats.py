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
            return f"{self.value:.3g}"
        return f"{self.value:.3g} [{self.low:.3g}, {self.high:.3g}]"


def iqm(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Interquartile mean: the mean of the middle 50% of the values."""
    return stats.trim_mean(x, 0.25, axis=axis)


def _mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


AGGREGATES = {"iqm": iqm, "mean": _mean}


def _bootstrap(samples: tuple[np.ndarray, ...], statistic, seed: int, reps: int) -> Estimate:
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
