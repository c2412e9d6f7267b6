"""Traffic shared among model versions by the rewards their feedback brought (multi-armed bandits).

The prediction service keeps, per arm (a model version), how many requests got a reward and the
sum of those rewards in [0, 1]. It holds no policy state between requests: it calls `choose_arm`
with the current statistics and a numpy Generator, so the policies here are pure functions of
those counts (plus the Generator's draws).

`choose_indices` is the one per-request decision rule. It works on arrays whose last axis is the
arm, so `choose_arm` applies it to one service's counts and `simulate_regrets` to many simulated
runs at once: the simulation measures exactly the rule the service uses.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

BANDIT_POLICIES = ("thompson", "epsilon_greedy", "ucb1")
SIMULATED_POLICIES = (*BANDIT_POLICIES, "uniform")  # "uniform": the fixed even split to beat
REWARD_TOLERANCE = 1e-9  # relative slack for float sums of rewards that are each exactly 1.0


@dataclass(frozen=True)
class ArmStats:
    """One arm's feedback so far."""

    pulls: int  # requests with a reward recorded
    reward_sum: float  # sum of rewards in [0, 1]


def choose_arm(
    stats: Mapping[str, ArmStats],
    rng: np.random.Generator,
    policy: str = "thompson",
    epsilon: float = 0.1,
    total_pulls: int | None = None,
) -> str:
    """The arm for the next request.

    - thompson: draw each arm's mean from its Beta(1 + reward_sum, 1 + pulls - reward_sum)
      posterior (uniform prior) and take the largest draw. Fractional rewards enter the Beta as
      pseudo-counts: exact for 0/1 conversions, the usual extension for rewards in [0, 1]
      (the posterior mean stays the smoothed average reward).
    - epsilon_greedy: with probability `epsilon` a uniform arm, else the best mean reward; arms
      never pulled come first, and ties are broken at random so no arm is favoured by its name.
    - ucb1: every arm once, then the largest mean + sqrt(2 ln t / n) (Auer et al., 2002), with
      t = `total_pulls` (default: the sum of the arms' pulls). `total_pulls` lets the service
      pass the requests it has served when some have no reward recorded yet.
    """
    check_policy(policy, BANDIT_POLICIES)
    check_epsilon(epsilon)
    pulls, reward_sums = arrays_from_stats(stats)
    if total_pulls is not None and total_pulls < pulls.sum():
        raise ValueError(
            f"total_pulls={total_pulls} is below the {int(pulls.sum())} pulls the arms report"
        )
    index = choose_indices(pulls, reward_sums, rng, policy, epsilon, total_pulls)
    return list(stats)[int(index)]


def check_policy(policy: str, known: Sequence[str]) -> None:
    if policy not in known:
        raise ValueError(f"unknown bandit policy {policy!r}; expected one of {', '.join(known)}")


def check_epsilon(epsilon: float) -> None:
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"epsilon must lie in [0, 1], got {epsilon}")


def arrays_from_stats(stats: Mapping[str, ArmStats]) -> tuple[np.ndarray, np.ndarray]:
    """Pulls and reward sums as float arrays in the mapping's order, after checking them."""
    if not stats:
        raise ValueError("choose_arm needs at least one arm's statistics, got none")
    pulls = np.empty(len(stats))
    reward_sums = np.empty(len(stats))
    for i, (arm, arm_stats) in enumerate(stats.items()):
        pulls[i], reward_sums[i] = checked_stats(arm, arm_stats)
    return pulls, reward_sums


def checked_stats(arm: str, stats: ArmStats) -> tuple[int, float]:
    """The arm's pulls and reward sum, the sum clipped into [0, pulls] within float slack."""
    pulls, reward_sum = stats.pulls, float(stats.reward_sum)
    if int(pulls) != pulls or pulls < 0:
        raise ValueError(f"arm {arm!r}: pulls must be a non-negative integer, got {pulls}")
    slack = REWARD_TOLERANCE * max(1, pulls)
    if not (math.isfinite(reward_sum) and -slack <= reward_sum <= pulls + slack):
        raise ValueError(
            f"arm {arm!r}: reward_sum={reward_sum} must lie in [0, pulls={pulls}] "
            "(rewards are in [0, 1])"
        )
    return int(pulls), min(max(reward_sum, 0.0), float(pulls))


def choose_indices(
    pulls: np.ndarray,
    reward_sums: np.ndarray,
    rng: np.random.Generator,
    policy: str,
    epsilon: float,
    total_pulls: int | np.ndarray | None = None,
) -> np.ndarray:
    """The chosen arm's index along the last axis, for one service or a batch of simulated runs.

    `pulls` and `reward_sums` have shape (..., arms); the result has shape (...). Inputs are
    assumed valid (`choose_arm` and `simulate_regrets` check them).
    """
    shape = pulls.shape[:-1]
    n_arms = pulls.shape[-1]
    if policy == "thompson":
        # Continuous draws tie with probability zero, so argmax needs no tie-breaking.
        return rng.beta(1.0 + reward_sums, 1.0 + pulls - reward_sums).argmax(axis=-1)
    if policy == "uniform":
        return rng.integers(n_arms, size=shape)
    pulled = pulls > 0
    means = np.divide(reward_sums, pulls, out=np.full(pulls.shape, np.inf), where=pulled)
    if policy == "epsilon_greedy":
        greedy = argmax_random_ties(means, rng)
        explore = rng.random(shape) < epsilon
        return np.where(explore, rng.integers(n_arms, size=shape), greedy)
    t = pulls.sum(axis=-1) if total_pulls is None else np.asarray(total_pulls, dtype=float)
    log_t = np.log(np.maximum(t, 1.0))[..., None]
    bonus = np.sqrt(np.divide(2.0 * log_t, pulls, out=np.zeros(pulls.shape), where=pulled))
    return argmax_random_ties(np.where(pulled, means + bonus, np.inf), rng)


def argmax_random_ties(scores: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Index of the largest score along the last axis, uniform among tied arms."""
    best = scores == scores.max(axis=-1, keepdims=True)
    return np.where(best, rng.random(scores.shape), -1.0).argmax(axis=-1)


def simulate_regrets(
    rates: Sequence[float],
    n_rounds: int,
    policy: str,
    seed: int,
    n_runs: int = 1,
    epsilon: float = 0.1,
) -> np.ndarray:
    """Cumulative expected regret of each of `n_runs` independent runs on Bernoulli arms.

    Expected regret counts best_rate - rate of the chosen arm per round: the cost of the choices
    without the noise of which conversions happened. All runs advance together (one call of
    `choose_indices` per round for the whole batch). The environment draws every arm's outcome
    every round from its own stream, so for one seed all policies meet the same outcomes (common
    random numbers), which makes their regrets' ratios far less noisy than independent runs.
    """
    check_policy(policy, SIMULATED_POLICIES)
    check_epsilon(epsilon)
    arm_rates = checked_rates(rates)
    if n_rounds < 0 or n_runs < 1:
        raise ValueError(f"need n_rounds >= 0 and n_runs >= 1, got {n_rounds} and {n_runs}")
    environment, chooser = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    pulls = np.zeros((n_runs, len(arm_rates)))
    reward_sums = np.zeros_like(pulls)
    runs = np.arange(n_runs)
    for _ in range(n_rounds):
        chosen = choose_indices(pulls, reward_sums, chooser, policy, epsilon)
        outcomes = environment.random(pulls.shape) < arm_rates
        pulls[runs, chosen] += 1.0
        reward_sums[runs, chosen] += outcomes[runs, chosen]
    return pulls @ (arm_rates.max() - arm_rates)


def checked_rates(rates: Sequence[float]) -> np.ndarray:
    arm_rates = np.asarray(rates, dtype=float)
    if (
        arm_rates.ndim != 1
        or arm_rates.size == 0
        or not np.all((0 <= arm_rates) & (arm_rates <= 1))
    ):
        raise ValueError(f"rates must be a non-empty sequence of probabilities, got {rates}")
    return arm_rates


def simulate_regret(
    rates: Sequence[float], n_rounds: int, policy: str, seed: int, epsilon: float = 0.1
) -> float:
    """Cumulative expected regret (sum over rounds of best_rate - rate of chosen arm) of `policy`
    on Bernoulli arms with `rates`; policy "uniform" means a uniform random split."""
    return float(simulate_regrets(rates, n_rounds, policy, seed, 1, epsilon)[0])


def compare_policies(
    rates: Sequence[float],
    n_rounds: int,
    n_runs: int,
    seed: int,
    policies: Sequence[str] = BANDIT_POLICIES,
    epsilon: float = 0.1,
) -> dict[str, float]:
    """Mean regret of each policy divided by the uniform split's mean regret, over n_runs runs.

    Every policy, uniform included, runs the same `n_runs` seeded runs (the same outcomes), so
    the ratios compare policies rather than luck.
    """
    uniform = simulate_regrets(rates, n_rounds, "uniform", seed, n_runs).mean()
    if uniform <= 0:
        raise ValueError("the uniform split has no regret to compare with (all rates equal?)")
    return {
        policy: float(simulate_regrets(rates, n_rounds, policy, seed, n_runs, epsilon).mean())
        / float(uniform)
        for policy in policies
    }
