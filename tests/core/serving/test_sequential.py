"""mSPRT: false positives under repeated looks, power, coverage, and the per-look comparison."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mleng.serving.sequential import (
    LookPlan,
    Moments,
    compare_sequentially,
    look_statistics,
    running_p_value,
    simulate_coverage,
    simulate_false_positive_rate,
    simulate_rejection_rate,
)

TEN_LOOKS = LookPlan(n_looks=10, rows_per_look=1_000)
N_SIMULATIONS = 20_000  # Monte Carlo standard error 0.0028 at 19%, 0.0015 at 5%


def test_naive_repeated_z_test_inflates_false_positives_after_ten_looks():
    # Armitage et al.: ten equally spaced looks at alpha 5% give about 19%.
    rate = simulate_false_positive_rate("naive", TEN_LOOKS, N_SIMULATIONS, seed=0)
    assert 0.14 <= rate <= 0.25


def test_naive_z_test_at_a_single_look_keeps_its_alpha():
    rate = simulate_false_positive_rate("naive", LookPlan(1, 10_000), N_SIMULATIONS, seed=1)
    assert 0.04 <= rate <= 0.06


def test_msprt_keeps_false_positives_below_alpha_under_the_same_looks():
    assert simulate_false_positive_rate("msprt", TEN_LOOKS, N_SIMULATIONS, seed=0) <= 0.06


def test_msprt_keeps_false_positives_below_alpha_under_near_continuous_monitoring():
    # 200 looks, from 50 rows per arm: the naive test would be wrong in about 4 of 10 runs.
    plan = LookPlan(n_looks=200, rows_per_look=50)
    assert simulate_false_positive_rate("msprt", plan, 5_000, seed=2) <= 0.06
    assert simulate_false_positive_rate("naive", plan, 5_000, seed=2) > 0.3


def test_msprt_detects_a_real_difference():
    # 13% vs 10% with 20k rows per arm is about 9 standard errors.
    single_look = simulate_rejection_rate("msprt", LookPlan(1, 20_000), 2_000, 3, (0.13, 0.10))
    assert single_look >= 0.8
    monitored = simulate_rejection_rate("msprt", LookPlan(10, 2_000), 2_000, 3, (0.13, 0.10))
    assert monitored >= 0.8


@pytest.mark.parametrize("rates", [(0.12, 0.10), (0.10, 0.10), (0.45, 0.50)])
def test_confidence_sequence_covers_the_true_difference_at_every_look(rates):
    assert simulate_coverage(TEN_LOOKS, 10_000, seed=4, rates=rates) >= 0.95
    assert simulate_coverage(LookPlan(100, 100), 5_000, seed=5, rates=rates) >= 0.95


def test_comparison_matches_the_mixture_likelihood_ratio_by_hand():
    rng = np.random.default_rng(6)
    arm = (rng.random(5_000) < 0.13).astype(float)
    base = (rng.random(4_000) < 0.10).astype(float)
    result = compare_sequentially("new", arm, "old", base, tau2=1e-4)
    d = arm.mean() - base.mean()
    v = arm.var(ddof=1) / 5_000 + base.var(ddof=1) / 4_000
    ratio = math.sqrt(v / (v + 1e-4)) * math.exp(1e-4 * d**2 / (2 * v * (v + 1e-4)))
    assert result.p_value == pytest.approx(min(1.0, 1 / ratio))
    half = math.sqrt(v * (v + 1e-4) / 1e-4 * (math.log((v + 1e-4) / v) + 2 * math.log(20)))
    assert (result.ci_low, result.ci_high) == pytest.approx((d - half, d + half))
    assert (result.arm, result.baseline, result.n_arm, result.n_baseline) == (
        "new",
        "old",
        5_000,
        4_000,
    )
    assert result.difference == pytest.approx(d)
    assert result.significant and result.ci_low > 0


def test_significance_agrees_with_the_interval_excluding_zero():
    rng = np.random.default_rng(7)
    for lift in np.linspace(0.0, 0.03, 16):
        arm = rng.normal(1.0 + lift, 1.0, 3_000)
        base = rng.normal(1.0, 1.0, 3_000)
        result = compare_sequentially("b", arm, "a", base)
        assert result.significant == (result.ci_low > 0 or result.ci_high < 0)


def test_decisions_do_not_depend_on_the_outcomes_scale():
    rng = np.random.default_rng(8)
    arm, base = rng.normal(0.1, 1.0, 2_000), rng.normal(0.0, 1.0, 2_000)
    small = compare_sequentially("b", arm, "a", base)
    large = compare_sequentially("b", 1000 * arm + 5, "a", 1000 * base + 5)
    assert small.p_value == pytest.approx(large.p_value)
    assert 1000 * small.ci_low == pytest.approx(large.ci_low)


def test_simulated_bernoulli_moments_match_the_comparison_on_raw_outcomes():
    arm = np.r_[np.ones(130), np.zeros(870)]
    base = np.r_[np.ones(100), np.zeros(900)]
    moments = [
        Moments(np.asarray(1000.0), np.asarray(k / 1000), np.asarray(k * (1000 - k) / 999_000))
        for k in (130, 100)
    ]
    look = look_statistics(*moments, alpha=0.05)
    result = compare_sequentially("b", arm, "a", base)
    assert result.p_value == pytest.approx(float(look.p_value))
    assert result.ci_low == pytest.approx(float(look.ci_low))


def test_running_p_value_is_the_smallest_so_far():
    p = running_p_value(None, 0.4)
    p = running_p_value(p, 0.03)
    assert running_p_value(p, 0.2) == 0.03


def test_constant_outcomes_give_no_evidence():
    result = compare_sequentially("b", np.zeros(50), "a", np.zeros(80))
    assert result.p_value == 1.0 and not result.significant
    assert (result.ci_low, result.ci_high) == (-math.inf, math.inf)


def test_constant_but_different_arms_fall_back_to_the_pooled_variance():
    result = compare_sequentially("b", np.ones(500), "a", np.zeros(500))
    assert result.significant and math.isfinite(result.ci_low) and result.ci_low > 0


@pytest.mark.parametrize(
    ("arm", "kwargs", "message"),
    [
        (np.array([1.0]), {}, "at least 2"),
        (np.array([1.0, np.nan]), {}, "non-finite"),
        (np.array([1.0, 0.0]), {"alpha": 0.0}, "alpha"),
        (np.array([1.0, 0.0]), {"alpha": 1.0}, "alpha"),
        (np.array([1.0, 0.0]), {"tau2": 0.0}, "tau2"),
    ],
)
def test_comparison_rejects_invalid_input(arm, kwargs, message):
    with pytest.raises(ValueError, match=message):
        compare_sequentially("b", arm, "a", np.array([0.0, 1.0, 0.0]), **kwargs)


def test_simulation_rejects_invalid_input():
    with pytest.raises(ValueError, match="unknown method"):
        simulate_false_positive_rate("bayes", TEN_LOOKS, 10, seed=0)
    with pytest.raises(ValueError, match="rows_per_look"):
        simulate_false_positive_rate("msprt", LookPlan(3, 1), 10, seed=0)
