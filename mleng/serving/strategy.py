"""How the service shares requests among model versions: single, shadow, canary, bandit.

The strategy is stored on the registered model (tag `mleng.serving.strategy`), beside the aliases
it refers to, so `mleng deploy`, the admin endpoint and every service replica read one truth and a
restart changes nothing. Routing is a pure function of the strategy, the caller and (for the
bandit) the rewards so far: the same caller always lands in the same canary or holdout group.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import Field

from mleng.card.base import StrictModel
from mleng.serving.bandit import ArmStats, choose_arm

CHAMPION_ARM = "champion"
CHALLENGER_ARM = "challenger"
HOLDOUT_ARM = "holdout"
STRATEGIES = ("single", "shadow", "canary", "bandit")


class ServingStrategy(StrictModel):
    """What `mleng deploy` sets and the service follows."""

    kind: Literal["single", "shadow", "canary", "bandit"] = "single"
    fraction: float = Field(
        default=0.1, gt=0.0, lt=1.0, description="canary: share of callers sent to the challenger"
    )
    bandit_policy: Literal["thompson", "epsilon_greedy", "ucb1"] = "thompson"
    epsilon: float = Field(default=0.1, ge=0.0, le=1.0)
    max_error_rate: float = Field(
        default=0.05,
        ge=0.0,
        le=1.0,
        description="canary: the challenger's error share that rolls the canary back",
    )
    max_reward_drop: float | None = Field(
        default=0.05,
        ge=0.0,
        description="canary: how far the challenger's mean reward may fall below the champion's",
    )
    min_requests: int = Field(
        default=50, ge=1, description="canary: requests the challenger answers before judging it"
    )
    holdout_fraction: float = Field(default=0.0, ge=0.0, lt=1.0)
    holdout_serves: Literal["baseline", "nothing"] = "baseline"
    rolled_back: str | None = Field(
        default=None, description="why the service ended the last canary, if it did"
    )

    @property
    def needs_challenger(self) -> bool:
        return self.kind != "single"


@dataclass(frozen=True)
class Route:
    """Where one request goes: the arm that answers and the version scoring in its shadow."""

    arm: str
    version: str | None
    shadow_version: str | None = None

    @property
    def holdout(self) -> bool:
        return self.arm == HOLDOUT_ARM


def caller_share(caller: str, salt: str) -> float:
    """A stable number in [0, 1) for a caller: the same caller always gets the same group."""
    digest = hashlib.sha256(f"{salt}:{caller}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def route_request(
    strategy: ServingStrategy,
    caller: str,
    versions: dict[str, str],
    rewards: dict[str, ArmStats],
    rng: np.random.Generator,
) -> Route:
    """The arm for a request from `caller`, given the versions the aliases hold.

    `versions` maps `champion` (always) and `challenger` (when one is loaded) to versions.
    Holdout is decided first, by its own salt, so holdout and canary groups are independent.
    Without a distinct challenger every strategy serves the champion alone.
    """
    champion = versions[CHAMPION_ARM]
    if strategy.holdout_fraction and caller_share(caller, "holdout") < strategy.holdout_fraction:
        return Route(HOLDOUT_ARM, None)
    challenger = versions.get(CHALLENGER_ARM)
    if challenger is None or challenger == champion or strategy.kind == "single":
        return Route(CHAMPION_ARM, champion)
    if strategy.kind == "shadow":
        return Route(CHAMPION_ARM, champion, shadow_version=challenger)
    if strategy.kind == "canary":
        if caller_share(caller, "canary") < strategy.fraction:
            return Route(CHALLENGER_ARM, challenger)
        return Route(CHAMPION_ARM, champion)
    stats = {arm: rewards.get(arm, ArmStats(0, 0.0)) for arm in (CHAMPION_ARM, CHALLENGER_ARM)}
    arm = choose_arm(stats, rng, strategy.bandit_policy, strategy.epsilon)
    return Route(arm, versions[arm])


@dataclass(frozen=True)
class ArmHealth:
    """What the service saw of one arm since the strategy was set."""

    requests: int
    errors: int
    rewards: ArmStats


def judge_canary(
    strategy: ServingStrategy, champion: ArmHealth, challenger: ArmHealth
) -> str | None:
    """Why the canary must end now, or None while the challenger is within its limits."""
    if strategy.kind != "canary" or challenger.requests < strategy.min_requests:
        return None
    error_rate = challenger.errors / challenger.requests
    if error_rate > strategy.max_error_rate:
        return (
            f"the challenger failed {challenger.errors} of {challenger.requests} requests "
            f"({error_rate:.1%} > max_error_rate {strategy.max_error_rate:.1%})"
        )
    limit = strategy.max_reward_drop
    minimum = strategy.min_requests
    if limit is None or challenger.rewards.pulls < minimum or champion.rewards.pulls < minimum:
        return None
    mine = challenger.rewards.reward_sum / challenger.rewards.pulls
    theirs = champion.rewards.reward_sum / champion.rewards.pulls
    if theirs - mine > limit:
        return (
            f"the challenger's mean reward {mine:.4f} is {theirs - mine:.4f} below the "
            f"champion's {theirs:.4f} (max_reward_drop {limit})"
        )
    return None
