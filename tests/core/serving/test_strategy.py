"""Routing: sticky groups by caller, shares that match the fractions, canary limits."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from mleng.serving.bandit import ArmStats
from mleng.serving.strategy import (
    ArmHealth,
    ServingStrategy,
    caller_share,
    judge_canary,
    route_request,
)

VERSIONS = {"champion": "1", "challenger": "2"}
CALLERS = [f"caller-{i}" for i in range(4000)]


def route(strategy: ServingStrategy, caller: str, rewards=None, seed: int = 0):
    return route_request(strategy, caller, VERSIONS, rewards or {}, np.random.default_rng(seed))


def test_single_serves_the_champion_to_everyone():
    routes = {route(ServingStrategy(), caller).version for caller in CALLERS[:200]}
    assert routes == {"1"}


def test_shadow_answers_with_the_champion_and_scores_the_challenger_aside():
    chosen = route(ServingStrategy(kind="shadow"), "someone")
    assert (chosen.arm, chosen.version, chosen.shadow_version) == ("champion", "1", "2")


def test_canary_sends_about_its_fraction_of_callers_and_each_caller_always_the_same_way():
    canary = ServingStrategy(kind="canary", fraction=0.2)
    first = [route(canary, caller, seed=1).arm for caller in CALLERS]
    again = [route(canary, caller, seed=2).arm for caller in CALLERS]
    assert first == again
    share = first.count("challenger") / len(first)
    assert 0.18 < share < 0.22


def test_holdout_is_sticky_and_independent_of_the_canary_group():
    strategy = ServingStrategy(kind="canary", fraction=0.5, holdout_fraction=0.1)
    arms = [route(strategy, caller).arm for caller in CALLERS]
    held = [c for c, arm in zip(CALLERS, arms, strict=True) if arm == "holdout"]
    assert 0.08 < len(held) / len(CALLERS) < 0.12
    in_canary_group = [caller_share(c, "canary") < 0.5 for c in held]
    assert 0.4 < np.mean(in_canary_group) < 0.6
    assert all(route(strategy, c).holdout for c in held)


def test_without_a_distinct_challenger_every_strategy_serves_the_champion():
    for kind in ("shadow", "canary", "bandit"):
        chosen = route_request(
            ServingStrategy(kind=kind, fraction=0.9),
            "x",
            {"champion": "1", "challenger": "1"},
            {},
            np.random.default_rng(0),
        )
        assert (chosen.arm, chosen.shadow_version) == ("champion", None)


def test_bandit_sends_most_traffic_to_the_arm_with_the_better_rewards():
    rewards = {"champion": ArmStats(500, 50.0), "challenger": ArmStats(500, 150.0)}
    rng = np.random.default_rng(0)
    strategy = ServingStrategy(kind="bandit")
    arms = [route_request(strategy, "c", VERSIONS, rewards, rng).arm for _ in range(500)]
    assert arms.count("challenger") > 490


def test_canary_is_ended_when_the_challenger_errs_too_often_or_loses_reward():
    canary = ServingStrategy(kind="canary", min_requests=20, max_error_rate=0.1)
    calm = ArmHealth(100, 0, ArmStats(100, 50.0))
    assert judge_canary(canary, calm, ArmHealth(19, 19, ArmStats(0, 0.0))) is None
    assert "failed 5 of 20" in judge_canary(canary, calm, ArmHealth(20, 5, ArmStats(0, 0.0)))
    assert judge_canary(canary, calm, ArmHealth(40, 0, ArmStats(40, 19.0))) is None
    losing = judge_canary(canary, calm, ArmHealth(40, 0, ArmStats(40, 16.0)))
    assert "mean reward 0.4000" in losing and "below the champion's 0.5000" in losing


def test_a_strategy_with_a_typo_or_an_impossible_fraction_is_refused():
    with pytest.raises(ValidationError):
        ServingStrategy(kind="canary", fration=0.2)
    with pytest.raises(ValidationError):
        ServingStrategy(kind="canary", fraction=1.5)
