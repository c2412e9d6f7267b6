"""Always-valid online A/B comparison of two arms' mean outcomes: the mixture SPRT (mSPRT).

`mleng ab-test` compares arms from logged outcomes, and the user may look at the result as often
as they like. A fixed-horizon z-test rechecked at every look declares a difference far more often
than its alpha (about 19% at 5% after ten looks of an A/A test). The mSPRT of Johari, Pekelis and
Walsh ("Always valid inference: continuous monitoring of A/B tests", Operations Research 2022;
KDD 2017 "Peeking at A/B tests") keeps the chance of *ever* declaring a false difference below
alpha however often one looks, and its confidence sequence covers the true difference at every
look at once with probability at least 1 - alpha.

With the observed difference d of the two means, its variance V = s_a^2 / n_a + s_b^2 / n_b
(normal approximation, per-arm sample variances) and a N(0, tau^2) mixture over the true
difference theta, the mixture likelihood ratio against theta = theta_0 is

    Lambda(theta_0) = sqrt(V / (V + tau^2)) * exp(tau^2 (d - theta_0)^2 / (2 V (V + tau^2))),

a martingale under theta_0 (for normal data with known V), so by Ville's inequality
P(Lambda_n >= 1/alpha at any n) <= alpha. Hence

- the p-value at a look is min(1, 1 / Lambda(0)); the always-valid p-value over looks is its
  running minimum (`running_p_value`), and "significant at this look" (p <= alpha) is
  already an always-valid decision: it stops the test the first time it happens;
- the confidence sequence is {theta_0 : Lambda(theta_0) < 1 / alpha}, that is
  d +- sqrt(V (V + tau^2) / tau^2 * (ln((V + tau^2) / V) + 2 ln(1 / alpha))).
  Each look's interval is valid on its own; intersecting them over looks stays valid.

The mixing variance tau^2 sets the effect sizes the test is fastest for (Johari et al., section
on choosing tau: it should match the spread of effects one expects). Without a history of
experiments to fit it from, the default is a standardized effect of 0.1 standard deviations,
tau^2 = 0.01 * the pooled variance of the outcomes: a small effect by Cohen's scale, typical of
online tests (10% vs 13% conversion is 0.1 sd), and scale-free, so rescaling the outcomes does
not change any decision.

`look_statistics` is the one computation, on arrays of per-arm moments: `compare_sequentially`
applies it to one look's outcomes and the simulations to many simulated looks at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

SEQUENTIAL_METHODS = ("msprt", "naive")
DEFAULT_STANDARDIZED_EFFECT = 0.1  # default tau = 0.1 pooled standard deviations


@dataclass(frozen=True)
class SequentialComparison:
    """One look at an arm against the baseline."""

    arm: str
    baseline: str
    n_arm: int
    n_baseline: int
    mean_arm: float
    mean_baseline: float
    difference: float  # mean_arm - mean_baseline
    p_value: float  # always-valid p-value at this look; `running_p_value` takes the min over looks
    ci_low: float  # always-valid (1 - alpha) confidence sequence for the difference, this look
    ci_high: float
    significant: bool  # p_value <= alpha
    alpha: float


@dataclass(frozen=True)
class Moments:
    """An arm's count, mean and sample variance (ddof=1): scalars, or arrays of many looks."""

    n: np.ndarray
    mean: np.ndarray
    variance: np.ndarray


@dataclass(frozen=True)
class LookStatistics:
    """The mSPRT and naive z-test at one or many looks (arrays broadcast like the moments)."""

    difference: np.ndarray
    p_value: np.ndarray  # mSPRT, this look
    ci_low: np.ndarray
    ci_high: np.ndarray
    naive_p_value: np.ndarray  # fixed-horizon two-sided z-test, valid only at a single look


@dataclass(frozen=True)
class LookPlan:
    """When a simulated experiment is looked at: `n_looks` times, every `rows_per_look` new rows
    per arm (the first look after `rows_per_look` rows)."""

    n_looks: int
    rows_per_look: int


def compare_sequentially(
    arm: str,
    outcomes_arm: np.ndarray,
    baseline: str,
    outcomes_baseline: np.ndarray,
    alpha: float = 0.05,
    tau2: float | None = None,
) -> SequentialComparison:
    """The always-valid comparison of `arm` against `baseline` from all outcomes logged so far.

    Edge cases: an arm with fewer than 2 outcomes, or a non-finite outcome, raises ValueError
    (no variance can be estimated). If the outcomes' variance is zero in both arms, the
    difference's variance falls back to the pooled variance of all outcomes (so 0/1 outcomes
    that are constant but differ between arms still count as evidence); if every outcome is the
    same value there is no evidence either way: p_value 1, not significant, and an unbounded
    interval, since the normal approximation cannot bound a difference from constant data.
    """
    check_alpha(alpha)
    if tau2 is not None and not (np.isfinite(tau2) and tau2 > 0):
        raise ValueError(f"tau2 must be a positive number, got {tau2}")
    arm_moments = moments_of(arm, outcomes_arm)
    baseline_moments = moments_of(baseline, outcomes_baseline)
    look = look_statistics(arm_moments, baseline_moments, alpha, tau2)
    p_value = float(look.p_value)
    return SequentialComparison(
        arm=arm,
        baseline=baseline,
        n_arm=int(arm_moments.n),
        n_baseline=int(baseline_moments.n),
        mean_arm=float(arm_moments.mean),
        mean_baseline=float(baseline_moments.mean),
        difference=float(look.difference),
        p_value=p_value,
        ci_low=float(look.ci_low),
        ci_high=float(look.ci_high),
        significant=p_value <= alpha,
        alpha=alpha,
    )


def running_p_value(previous: float | None, current: float) -> float:
    """The always-valid p-value after this look: the smallest p-value seen at any look so far.

    Pass None at the first look. Over looks, p <= alpha first happens when the running minimum
    first drops to alpha, so stopping then keeps the false-positive rate below alpha.
    """
    return current if previous is None else min(previous, current)


def check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha}")


def moments_of(name: str, outcomes: np.ndarray) -> Moments:
    values = np.asarray(outcomes, dtype=float).ravel()
    if values.size < 2:
        raise ValueError(
            f"arm {name!r} has {values.size} outcome(s); a sequential comparison needs at least 2"
        )
    if not np.all(np.isfinite(values)):
        raise ValueError(f"arm {name!r} has non-finite outcomes")
    return Moments(
        np.asarray(values.size), np.asarray(values.mean()), np.asarray(values.var(ddof=1))
    )


def pooled_variance(arm: Moments, baseline: Moments) -> np.ndarray:
    """The sample variance (ddof=1) of both arms' outcomes taken together."""
    n = arm.n + baseline.n
    between = arm.n * baseline.n / n * (arm.mean - baseline.mean) ** 2
    within = (arm.n - 1) * arm.variance + (baseline.n - 1) * baseline.variance
    return (within + between) / (n - 1)


def look_statistics(
    arm: Moments, baseline: Moments, alpha: float, tau2: float | None = None
) -> LookStatistics:
    """mSPRT p-value and confidence sequence (and the naive z-test) at each look; see module doc."""
    difference = arm.mean - baseline.mean
    pooled = pooled_variance(arm, baseline)
    separate = arm.variance / arm.n + baseline.variance / baseline.n
    variance = np.where(separate > 0, separate, pooled * (1 / arm.n + 1 / baseline.n))
    mixing = DEFAULT_STANDARDIZED_EFFECT**2 * pooled if tau2 is None else np.asarray(tau2)
    informative = (variance > 0) & (mixing > 0)
    v = np.where(informative, variance, 1.0)  # placeholders keep the arithmetic finite
    t2 = np.where(informative, mixing, 1.0)
    log_ratio = 0.5 * np.log(v / (v + t2)) + t2 * difference**2 / (2 * v * (v + t2))
    p_value = np.where(informative, np.minimum(1.0, np.exp(-log_ratio)), 1.0)
    half = np.sqrt(v * (v + t2) / t2 * (np.log((v + t2) / v) - 2 * np.log(alpha)))
    half = np.where(informative, half, np.inf)
    naive = np.where(variance > 0, special.erfc(np.abs(difference) / np.sqrt(2 * v)), 1.0)
    return LookStatistics(difference, p_value, difference - half, difference + half, naive)


def simulate_looks(
    plan: LookPlan, n_simulations: int, seed: int, rates: tuple[float, float]
) -> tuple[Moments, Moments]:
    """Moments of (arm, baseline) Bernoulli outcomes at every look, shape (simulations, looks).

    Only the number of conversions matters for Bernoulli outcomes, so each look's new rows are
    one binomial draw and the looks are their cumulative sums: exact, and cheap enough for
    tens of thousands of simulated experiments.
    """
    if plan.n_looks < 1 or plan.rows_per_look < 2 or n_simulations < 1:
        raise ValueError(f"need n_looks >= 1, rows_per_look >= 2, n_simulations >= 1: {plan}")
    rng = np.random.default_rng(seed)
    n = plan.rows_per_look * np.arange(1, plan.n_looks + 1, dtype=float)
    shape = (n_simulations, plan.n_looks)
    moments = []
    for rate in rates:
        successes = rng.binomial(plan.rows_per_look, rate, size=shape).cumsum(axis=1)
        moments.append(Moments(n, successes / n, successes * (n - successes) / (n * (n - 1))))
    return moments[0], moments[1]


def simulate_rejection_rate(
    method: str,
    plan: LookPlan,
    n_simulations: int,
    seed: int,
    rates: tuple[float, float] = (0.1, 0.1),
    alpha: float = 0.05,
) -> float:
    """Share of simulated experiments with Bernoulli(rates) arms in which `method` ("msprt" or
    "naive" repeated z-test) declares a difference at any look of `plan`."""
    if method not in SEQUENTIAL_METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {SEQUENTIAL_METHODS}")
    check_alpha(alpha)
    look = look_statistics(*simulate_looks(plan, n_simulations, seed, rates), alpha)
    p_values = look.p_value if method == "msprt" else look.naive_p_value
    return float(np.mean((p_values <= alpha).any(axis=1)))


def simulate_false_positive_rate(
    method: str,
    plan: LookPlan,
    n_simulations: int,
    seed: int,
    rate: float = 0.1,
    alpha: float = 0.05,
) -> float:
    """Share of A/A simulations (both arms Bernoulli(rate)) in which `method` ("msprt" or
    "naive" repeated z-test) declares a difference at any of the plan's equally spaced looks."""
    return simulate_rejection_rate(method, plan, n_simulations, seed, (rate, rate), alpha)


def simulate_coverage(
    plan: LookPlan, n_simulations: int, seed: int, rates: tuple[float, float], alpha: float = 0.05
) -> float:
    """Share of simulated experiments whose confidence sequence holds the true difference
    rates[0] - rates[1] at every look of `plan` at once."""
    check_alpha(alpha)
    look = look_statistics(*simulate_looks(plan, n_simulations, seed, rates), alpha)
    truth = rates[0] - rates[1]
    covered = (look.ci_low <= truth) & (truth <= look.ci_high)
    return float(np.mean(covered.all(axis=1)))
