"""Report statistics on small hand-computable samples."""

from __future__ import annotations

import numpy as np
import pytest

from pmarl_bench.report import stats


def test_iqm_is_the_mean_of_the_middle_half():
    assert stats.iqm(np.arange(1.0, 9.0)) == pytest.approx(4.5)  # mean of 3, 4, 5, 6
    assert stats.aggregate([np.array([1.0, 2.0, 3.0, 4.0])], "iqm").value == pytest.approx(2.5)
    assert stats.aggregate([np.array([1.0, 2.0, 3.0, 100.0])], "mean").value == 26.5


def test_aggregate_pools_tasks_of_different_sizes():
    est = stats.aggregate([np.array([0.0, 1.0]), np.array([2.0, 3.0, 4.0])], "mean", reps=500)
    assert est.value == pytest.approx(2.0)
    assert est.low < est.value < est.high


def test_intervals_are_reproducible_and_contain_the_estimate():
    rng = np.random.default_rng(3)
    scores = [rng.normal(size=10), rng.normal(1.0, size=7)]
    a = stats.aggregate(scores, "iqm", reps=500)
    b = stats.aggregate(scores, "iqm", reps=500)
    assert a == b
    assert a.low <= a.value <= a.high
    other = stats.aggregate(scores, "iqm", seed=1, reps=500)
    assert (other.low, other.high) != (a.low, a.high)


def test_one_run_has_no_interval_and_constant_runs_a_point_interval():
    one = stats.aggregate([np.array([3.0])], "mean")
    assert one.value == 3.0 and np.isnan(one.low) and np.isnan(one.high)
    flat = stats.aggregate([np.array([2.0, 2.0, 2.0])], "iqm")
    assert (flat.low, flat.value, flat.high) == (2.0, 2.0, 2.0)


def test_probability_of_improvement_of_identical_and_disjoint_samples():
    x = np.array([1.0, 2.0, 3.0])
    same = stats.probability_of_improvement([x], [x.copy()], reps=500)
    assert same.value == pytest.approx(0.5)
    assert same.low < 0.5 < same.high
    better = stats.probability_of_improvement([x + 10], [x], reps=500)
    assert (better.value, better.low, better.high) == (1.0, 1.0, 1.0)
    worse = stats.probability_of_improvement([x], [x + 10], reps=500)
    assert worse.value == 0.0 and worse.high == 0.0
    # ties count half: P(X > Y) = 3/9, P(X = Y) = 3/9 for x = [1, 2, 3], y = [1, 2, 3]
    half = stats.probability_of_improvement([np.array([2.0])], [np.array([1.0, 2.0, 3.0])])
    assert half.value == pytest.approx((1 + 0.5) / 3)


def test_probability_of_improvement_averages_over_tasks():
    up, down = np.array([5.0, 6.0]), np.array([0.0, 1.0])
    est = stats.probability_of_improvement([up, down], [down, up], reps=200)
    assert est.value == pytest.approx(0.5)  # wins one task, loses the other


def test_seeds_to_separate():
    assert stats.seeds_to_separate(stats.Estimate(0.7, 0.4, 1.0), 5) == 12  # 5 x 1.5^2
    assert stats.seeds_to_separate(stats.Estimate(0.5, 0.2, 0.8), 5) is None


def test_performance_profile_counts_runs_above_each_threshold():
    taus = np.array([-1.0, 1.5, 3.0])
    np.testing.assert_allclose(
        stats.performance_profile([np.array([0.0, 1.0, 2.0, 3.0])], taus), [1.0, 0.5, 0.0]
    )
    # tasks weigh equally, whatever their number of runs
    two = stats.performance_profile([np.array([0.0]), np.array([2.0, 2.0, 2.0])], taus)
    np.testing.assert_allclose(two, [1.0, 0.5, 0.0])


def test_gap_closed_scales_by_the_controls_and_widens_with_their_spread():
    agent = np.array([2.0, 2.0, 2.0])
    tight = stats.gap_closed([(agent, np.array([1.0, 1.0]), np.array([3.0, 3.0]))], "mean")
    assert tight.value == pytest.approx(0.5) and tight.low == tight.high == 0.5
    loose = stats.gap_closed(
        [(agent, np.array([0.8, 1.0, 1.2]), np.array([2.8, 3.0, 3.2]))], "mean", reps=500
    )
    assert loose.value == pytest.approx(0.5) and loose.low < 0.5 < loose.high


def test_optimality_gap_and_median():
    x = np.array([0.5, 1.2, 0.9, 0.0])
    assert stats.optimality_gap(x) == pytest.approx((0.5 + 0.0 + 0.1 + 1.0) / 4)
    assert stats.AGGREGATES["median"](x) == pytest.approx(0.7)


def test_holm_adjusts_in_order_and_keeps_nan():
    adjusted = stats.holm([0.01, 0.04, float("nan"), 0.03])
    assert adjusted[0] == pytest.approx(0.03)  # smallest of 3: x3
    assert adjusted[3] == pytest.approx(0.06)  # next: x2
    assert adjusted[1] == pytest.approx(0.06)  # last: x1, but never below the one before
    assert np.isnan(adjusted[2])


def test_welch_p_and_difference():
    a, b = np.array([1.0, 1.1, 0.9, 1.0]), np.array([2.0, 2.1, 1.9, 2.0])
    assert stats.welch_p(a, b) < 1e-4 and stats.welch_p(a, a) == 1.0
    assert stats.welch_p(np.ones(3), 2 * np.ones(3)) == 0.0
    d = stats.difference(b, a, reps=500)
    assert d.value == pytest.approx(1.0) and 0.8 < d.low < 1.0 < d.high < 1.2


def test_profile_band_contains_the_profile():
    taus = np.linspace(0, 1, 11)
    scores = [np.array([0.1, 0.5, 0.9, 0.3]), np.array([0.2, 0.8])]
    low, high = stats.profile_band(scores, taus, reps=300)
    point = stats.performance_profile(scores, taus)
    assert np.all(low <= point + 1e-12) and np.all(point <= high + 1e-12)
    assert np.any(high - low > 0)


def test_cross_play_gap_is_self_play_minus_cross_play_with_a_seed_bootstrap():
    conventions = np.full((4, 4), 1.0) + np.eye(4)  # own partners 2, others' 1
    gap = stats.cross_play_gap(conventions, reps=300)
    assert (gap.value, gap.low, gap.high) == (1.0, 1.0, 1.0)
    # no conventions: partners are interchangeable, only noise between seeds
    rng = np.random.default_rng(0)
    seeds = rng.normal(size=6)  # each focal seed's skill, whoever its partners are
    interchangeable = np.repeat(seeds[:, None], 6, axis=1)
    gap = stats.cross_play_gap(interchangeable, reps=500)
    assert abs(gap.value) < 0.5 and gap.low < 0.0 < gap.high
    assert np.isnan(stats.cross_play_gap(np.ones((1, 1))).low)
