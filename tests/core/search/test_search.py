"""The search engine: bounds, exact budgets, family coverage, refinement and failure handling."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np
import pytest

from mleng.card import ParamSpec
from mleng.errors import SearchError
from mleng.search.candidates import fine_box
from mleng.search.engine import (
    MIN_COARSE,
    STRATEGIES,
    EarlyStopping,
    Trial,
    TrialResult,
    plan_stages,
    run_search,
    select_best,
)
from mleng.search.fine import FineSettings, fine_progress
from mleng.search.space import encode_params
from tests.search_helpers import SIX_PARAMETERS, float_param, int_param

MIXED_SPACES = {
    "boosting": {
        "learning_rate": float_param(1e-3, 1.0, log=True),
        "max_leaf_nodes": int_param(2, 256, log=True),
        "subsample": float_param(0.1, 1.0),
        "depth": int_param(1, 12),
        "loss": ParamSpec(type="categorical", choices=["squared", "absolute", "huber"]),
        "fixed": float_param(0.5, 0.5),
    },
    "linear": {
        "C": float_param(1e-4, 1e4, log=True),
        "penalty": ParamSpec(type="categorical", choices=["l1", "l2"]),
    },
    "forest": {
        "n_estimators": int_param(10, 500, log=True),
        "min_samples_leaf": int_param(1.5, 7.5),
    },
}

QUADRATIC_SPACE = SIX_PARAMETERS
QUADRATIC_OPTIMUM = np.array([0.7, 0.3, 0.6, 0.8, 0.25, 0.45])


def quadratic_score(params: dict[str, Any]) -> float:
    """A shifted, unevenly weighted quadratic in unit (log) space: higher is better, max 0."""
    position = encode_params(QUADRATIC_SPACE, params)
    return -float(np.sum((position - QUADRATIC_OPTIMUM) ** 2 * np.arange(1, 7)))


def distance_to_optimum(params: dict[str, Any]) -> float:
    return float(np.linalg.norm(encode_params(QUADRATIC_SPACE, params) - QUADRATIC_OPTIMUM))


def scorer(score_of: Any) -> Any:
    """An evaluator that scores each trial with `score_of(trial)` and counts its calls."""

    def evaluate(trials: list[Trial]) -> list[TrialResult]:
        evaluate.batches.append(len(trials))
        return [TrialResult(trial, score_of(trial), 0.0, 0.0) for trial in trials]

    evaluate.batches = []
    return evaluate


def noisy_scores(seed: int) -> Any:
    rng = np.random.default_rng(seed)
    return scorer(lambda trial: float(rng.normal()))


def assert_inside(spaces: dict[str, dict[str, ParamSpec]], trial: Trial) -> None:
    space = spaces[trial.family]
    assert set(trial.params) == set(space)
    for name, value in trial.params.items():
        spec = space[name]
        if spec.type == "categorical":
            assert value in spec.choices
        elif spec.type == "int":
            assert type(value) is int and spec.low <= value <= spec.high, (name, value)
        else:
            assert type(value) is float and spec.low <= value <= spec.high, (name, value)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_proposed_value_lies_inside_its_bounds_or_choices(strategy: str) -> None:
    for seed in range(25):
        results = run_search(
            MIXED_SPACES, 3 + 2 * seed, noisy_scores(seed), seed=seed, strategy=strategy
        )
        for result in results:
            assert_inside(MIXED_SPACES, result.trial)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_search_evaluates_exactly_the_budget_in_proposal_order(strategy: str) -> None:
    for n_families in (1, 2, 3):
        spaces = dict(list(MIXED_SPACES.items())[:n_families])
        for budget in range(n_families, 45, 7):
            evaluate = noisy_scores(budget)
            results = run_search(spaces, budget, evaluate, seed=budget, strategy=strategy)
            assert [r.trial.index for r in results] == list(range(budget))
            assert sum(evaluate.batches) == budget


def test_coarse_to_fine_evaluates_one_batch_per_planned_round() -> None:
    evaluate = noisy_scores(0)
    results = run_search(MIXED_SPACES, 40, evaluate, seed=0)
    assert evaluate.batches == plan_stages(40, 3)
    assert [r.trial.round for r in results] == [
        i for i, size in enumerate(evaluate.batches) for _ in range(size)
    ]
    assert {r.trial.stage for r in results if r.trial.round == 0} == {"coarse"}
    assert {r.trial.stage for r in results if r.trial.round > 0} == {"fine"}


@pytest.mark.parametrize("strategy", ["random", "grid"])
def test_single_batch_strategies_name_their_stage_after_themselves(strategy: str) -> None:
    results = run_search(MIXED_SPACES, 12, noisy_scores(0), strategy=strategy)
    assert {(r.trial.stage, r.trial.round) for r in results} == {(strategy, 0)}


def test_plan_stages_puts_coarse_first_and_sums_to_the_budget() -> None:
    for n_families in range(1, 5):
        for budget in range(n_families, 130):
            sizes = plan_stages(budget, n_families)
            assert sum(sizes) == budget
            assert all(size > 0 for size in sizes)
            assert sizes[0] >= n_families
            assert sizes[0] <= max(n_families, MIN_COARSE, math.ceil(0.5 * budget))


def test_plan_stages_gives_a_large_budget_several_fine_rounds() -> None:
    assert len(plan_stages(64, 1)) >= 3
    assert plan_stages(3, 3) == [3]


def test_coarse_round_evaluates_every_family_evenly() -> None:
    spaces = {f"family_{i}": {"x": float_param(0.0, 1.0)} for i in range(4)}
    for budget in range(4, 41, 3):
        results = run_search(spaces, budget, noisy_scores(budget), seed=budget)
        coarse = Counter(r.trial.family for r in results if r.trial.stage == "coarse")
        assert set(coarse) == set(spaces)
        assert max(coarse.values()) - min(coarse.values()) <= 1


def test_coarse_round_interleaves_families_so_any_prefix_covers_them() -> None:
    results = run_search(MIXED_SPACES, 30, noisy_scores(1), seed=1)
    assert [r.trial.family for r in results[:3]] == list(MIXED_SPACES)


def test_random_strategy_is_prefix_stable_so_one_long_run_covers_shorter_budgets() -> None:
    long = run_search(MIXED_SPACES, 30, noisy_scores(0), seed=4, strategy="random")
    short = run_search(MIXED_SPACES, 12, noisy_scores(0), seed=4, strategy="random")
    assert [r.trial.params for r in short] == [r.trial.params for r in long[:12]]


def test_fine_stage_never_proposes_a_configuration_twice() -> None:
    results = run_search(
        {"model": QUADRATIC_SPACE}, 60, scorer(lambda t: quadratic_score(t.params)), seed=1
    )
    keys = [repr(sorted(r.trial.params.items())) for r in results]
    assert len(set(keys)) == len(keys)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_same_seed_gives_the_same_trials_and_another_seed_does_not(strategy: str) -> None:
    def params(seed: int) -> list[tuple[str, dict[str, Any]]]:
        results = run_search(
            MIXED_SPACES, 30, scorer(lambda t: -len(repr(t.params))), seed=seed, strategy=strategy
        )
        return [(r.trial.family, r.trial.params) for r in results]

    assert params(7) == params(7)
    if strategy != "grid":  # a grid that fits the budget exactly has nothing random left
        assert params(7) != params(8)


def test_failed_trials_are_never_selected_and_refinement_still_runs() -> None:
    def score(trial: Trial) -> float:
        return math.nan if trial.params["learning_rate"] > 0.01 else quadratic_score(trial.params)

    for seed in range(10):
        results = run_search({"model": QUADRATIC_SPACE}, 30, scorer(score), seed=seed)
        best = select_best(results)
        assert math.isfinite(best.score)
        assert best.trial.params["learning_rate"] <= 0.01
        assert len(results) == 30


def test_family_whose_fits_all_fail_gets_no_fine_trials() -> None:
    spaces = {"broken": {"x": float_param(0.0, 1.0)}, "working": {"x": float_param(0.0, 1.0)}}
    evaluate = scorer(lambda t: math.nan if t.family == "broken" else -abs(t.params["x"] - 0.3))
    results = run_search(spaces, 30, evaluate, seed=0)
    fine = Counter(r.trial.family for r in results if r.trial.stage == "fine")
    assert fine == {"working": 30 - plan_stages(30, 2)[0]}


def test_search_survives_every_trial_failing_but_select_best_refuses() -> None:
    results = run_search(MIXED_SPACES, 20, scorer(lambda t: math.nan), seed=0)
    assert len(results) == 20
    with pytest.raises(SearchError, match="all 20 search trials failed"):
        select_best(results)


def test_select_best_takes_the_highest_score_and_the_earlier_trial_on_ties() -> None:
    trials = [Trial("m", {"x": i}, "coarse", 0, i) for i in range(4)]
    results = [
        TrialResult(t, s, 0.0, 0.0) for t, s in zip(trials, [0.5, math.nan, 0.9, 0.9], strict=True)
    ]
    assert select_best(results).trial.index == 2


def test_fine_trials_land_closer_to_the_optimum_than_coarse_ones() -> None:
    coarse_distance, fine_distance = [], []
    for seed in range(10):
        results = run_search(
            {"model": QUADRATIC_SPACE}, 40, scorer(lambda t: quadratic_score(t.params)), seed=seed
        )
        for result in results:
            group = coarse_distance if result.trial.stage == "coarse" else fine_distance
            group.append(distance_to_optimum(result.trial.params))
    assert np.mean(fine_distance) < 0.6 * np.mean(coarse_distance)


def test_fine_box_shrinks_from_the_first_to_the_last_round() -> None:
    first_width, last_width = [], []
    for seed in range(8):
        results = run_search(
            {"model": QUADRATIC_SPACE}, 60, scorer(lambda t: quadratic_score(t.params)), seed=seed
        )
        rounds = sorted({r.trial.round for r in results if r.trial.stage == "fine"})
        for round_number, widths in ((rounds[0], first_width), (rounds[-1], last_width)):
            before = [
                ("model", r.trial.params, r.score) for r in results if r.trial.round < round_number
            ]
            progress = fine_progress(round_number, len(rounds))
            lower, upper = fine_box(QUADRATIC_SPACE, before, progress, FineSettings())
            widths.append(np.mean(upper - lower))
    assert np.mean(last_width) < 0.5 * np.mean(first_width)


def test_fine_trials_stay_inside_their_round_box_except_for_exploration() -> None:
    results = run_search(
        {"model": QUADRATIC_SPACE}, 60, scorer(lambda t: quadratic_score(t.params)), seed=0
    )
    inside = []
    rounds = sorted({r.trial.round for r in results if r.trial.stage == "fine"})
    for round_number in rounds:
        before = [
            ("model", r.trial.params, r.score) for r in results if r.trial.round < round_number
        ]
        progress = fine_progress(round_number, len(rounds))
        lower, upper = fine_box(QUADRATIC_SPACE, before, progress, FineSettings())
        for result in results:
            if result.trial.round == round_number:
                point = encode_params(QUADRATIC_SPACE, result.trial.params)
                inside.append(bool(np.all((point >= lower - 0.02) & (point <= upper + 0.02))))
    assert 0.75 <= np.mean(inside) < 1.0  # a small share explores the whole space


def test_coarse_to_fine_beats_random_search_on_a_six_parameter_objective() -> None:
    evaluate = scorer(lambda t: quadratic_score(t.params))
    ours = [
        select_best(run_search({"model": QUADRATIC_SPACE}, 40, evaluate, seed=s)).score
        for s in range(20)
    ]
    baseline = [
        select_best(
            run_search({"model": QUADRATIC_SPACE}, 40, evaluate, seed=s, strategy="random")
        ).score
        for s in range(20)
    ]
    assert np.mean(ours) > np.mean(baseline)
    assert np.mean(np.array(ours) > np.array(baseline)) >= 0.75


def test_fine_rounds_spend_most_trials_on_the_better_family() -> None:
    spaces = {"strong": {"x": float_param(0.0, 1.0)}, "weak": {"x": float_param(0.0, 1.0)}}
    evaluate = scorer(lambda t: -abs(t.params["x"] - 0.5) - (0.0 if t.family == "strong" else 1.0))
    results = run_search(spaces, 40, evaluate, seed=3)
    fine = Counter(r.trial.family for r in results if r.trial.stage == "fine")
    assert fine["strong"] > 3 * fine["weak"]


def test_fine_rounds_favour_the_categorical_choice_seen_in_the_best_results() -> None:
    space = {
        "x": float_param(0.0, 1.0),
        "kernel": ParamSpec(type="categorical", choices=["linear", "rbf", "poly"]),
    }
    evaluate = scorer(
        lambda t: -abs(t.params["x"] - 0.4) + (1.0 if t.params["kernel"] == "rbf" else 0.0)
    )
    kernels: Counter[str] = Counter()
    for seed in range(5):
        results = run_search({"svc": space}, 30, evaluate, seed=seed)
        kernels.update(r.trial.params["kernel"] for r in results if r.trial.stage == "fine")
    assert kernels["rbf"] > 0.6 * sum(kernels.values())
    assert kernels["linear"] + kernels["poly"] > 0  # other choices keep a small chance


def test_budget_below_the_number_of_families_is_refused() -> None:
    with pytest.raises(SearchError, match="budget 2 is below the number of model families \\(3\\)"):
        run_search(MIXED_SPACES, 2, noisy_scores(0))
    with pytest.raises(SearchError, match="below the number of model families"):
        plan_stages(1, 2)


def test_unknown_strategy_is_refused() -> None:
    with pytest.raises(SearchError, match="unknown search strategy 'bayes'"):
        run_search(MIXED_SPACES, 5, noisy_scores(0), strategy="bayes")


def test_evaluator_that_drops_a_trial_is_reported() -> None:
    def evaluate(trials: list[Trial]) -> list[TrialResult]:
        return [TrialResult(t, 0.0, 0.0, 0.0) for t in trials[1:]]

    with pytest.raises(SearchError, match="must return exactly one TrialResult per trial"):
        run_search(MIXED_SPACES, 5, evaluate)


def test_results_come_back_in_trial_order_even_if_the_evaluator_reorders_them() -> None:
    def evaluate(trials: list[Trial]) -> list[TrialResult]:
        return [TrialResult(t, float(t.index), 0.0, 0.0) for t in reversed(trials)]

    results = run_search(MIXED_SPACES, 12, evaluate)
    assert [r.trial.index for r in results] == list(range(12))


def test_patience_stops_coarse_to_fine_once_fine_rounds_stop_gaining() -> None:
    stages = plan_stages(40, 1)
    flat_after_coarse = scorer(
        lambda trial: 1.0 if trial.stage == "coarse" and trial.index == 0 else 0.0
    )
    results = run_search(
        {"m": QUADRATIC_SPACE}, 40, flat_after_coarse, seed=0, stopping=EarlyStopping(2)
    )
    assert flat_after_coarse.batches == stages[:3]  # coarse, then two fine rounds without a gain
    assert len(results) == sum(stages[:3]) < 40


def test_patience_keeps_searching_while_rounds_gain_more_than_the_minimum() -> None:
    # Each round's trials beat every earlier one, so no round is ever stale.
    rising = scorer(lambda trial: float(trial.round))
    assert len(run_search({"m": QUADRATIC_SPACE}, 40, rising, stopping=EarlyStopping(1))) == 40
    # The same gains of 1.0 do not count when the card asks for more than that.
    rising = scorer(lambda trial: float(trial.round))
    results = run_search(
        {"m": QUADRATIC_SPACE}, 40, rising, seed=0, stopping=EarlyStopping(1, min_improvement=1.5)
    )
    assert len(results) == sum(plan_stages(40, 1)[:2])
