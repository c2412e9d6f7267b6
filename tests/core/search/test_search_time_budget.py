"""A time budget stops the search from proposing once the wall time is spent."""

from __future__ import annotations

import time

import pytest

from mleng.card import load_card
from mleng.errors import CardError
from mleng.search.engine import EarlyStopping, Trial, TrialResult, run_search
from tests.helpers import ROOT
from tests.search_helpers import float_param

SPACES = {
    "slow": {"x": float_param(0.0, 1.0)},
    "slower": {"y": float_param(0.0, 1.0)},
}


def timed_evaluator(seconds_per_trial: float):
    """Every trial takes real time: the deadline is met against a real clock, not a mock."""

    def evaluate(trials: list[Trial]) -> list[TrialResult]:
        results = []
        for trial in trials:
            time.sleep(seconds_per_trial)
            score = -abs(next(iter(trial.params.values())) - 0.3)
            results.append(TrialResult(trial, score, 0.0, seconds_per_trial))
        return results

    return evaluate


@pytest.mark.parametrize("strategy", ["coarse_to_fine", "random"])
def test_the_search_stops_within_a_trial_of_its_time_budget(strategy):
    started = time.monotonic()
    results = run_search(
        SPACES,
        budget=60,
        evaluate=timed_evaluator(0.05),
        strategy=strategy,
        stopping=EarlyStopping(time_budget_s=0.6),
    )
    elapsed = time.monotonic() - started
    assert len(results) < 60
    assert {r.trial.family for r in results} == {"slow", "slower"}  # the first round always runs
    first_round = sum(1 for r in results if r.trial.round == 0)
    assert elapsed < max(0.6, first_round * 0.05) + 0.2  # one trial past the deadline at most
    assert [r.trial.index for r in results] == list(range(len(results)))


def test_without_a_time_budget_the_whole_budget_is_spent():
    results = run_search(SPACES, budget=12, evaluate=timed_evaluator(0.0))
    assert len(results) == 12


def test_the_cards_time_budget_is_overridden_and_checked_like_the_file():
    card = load_card(ROOT / "configs" / "adult.yaml")
    assert card.with_overrides(time_budget_s=30).search.time_budget_s == 30
    with pytest.raises(CardError, match="--time-budget -5"):
        card.with_overrides(time_budget_s=-5)
