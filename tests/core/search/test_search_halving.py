"""Successive halving in the coarse round: cheap looks first, full cost for the best, and a cheap
score never compared with a full one."""

import math

import pytest

from mleng.errors import SearchError
from mleng.search.engine import (
    EarlyStopping,
    Trial,
    TrialResult,
    count_spent,
    full_cost,
    plan_stages,
    run_search,
    select_best,
)
from mleng.search.halving import Halving, choose_promotions, plan_halving
from tests.search_helpers import float_param

SPACES = {
    "a": {"x": float_param(0.0, 1.0), "y": float_param(0.0, 1.0)},
    "b": {"x": float_param(0.0, 1.0)},
}
HALVING = EarlyStopping(halving=Halving())


def peak(trial: Trial) -> float:
    """A known optimum at x = 0.7 (family a scores 0.1 higher than b at the same x)."""
    bonus = 0.1 if trial.family == "a" else 0.0
    return bonus - (trial.params["x"] - 0.7) ** 2


def evaluate_with(score):
    seen: list[Trial] = []

    def evaluate(trials: list[Trial]) -> list[TrialResult]:
        seen.extend(trials)
        return [TrialResult(t, score(t), 0.0, t.fidelity) for t in trials]

    return evaluate, seen


@pytest.mark.parametrize("n_coarse,n_families", [(6, 1), (10, 3), (25, 2), (7, 3)])
def test_both_rungs_cost_no_more_than_the_coarse_round(n_coarse, n_families):
    halving = Halving()
    plan = plan_halving(n_coarse, n_families, halving)
    assert plan is not None
    candidates, promoted = plan
    assert candidates * halving.fraction + promoted <= n_coarse + 1e-9
    assert n_families <= promoted < candidates
    assert candidates > n_coarse


def test_a_coarse_round_too_small_to_gain_is_run_plainly():
    assert plan_halving(3, 3, Halving()) is None
    evaluate, seen = evaluate_with(peak)
    results = run_search(SPACES, 2, evaluate, seed=0, stopping=HALVING)
    assert len(results) == 2 and all(t.fidelity == 1 for t in seen)


def test_halving_looks_at_more_coarse_configurations_for_the_same_budget():
    candidates, promoted = plan_halving(10, 2, Halving())
    assert (candidates, promoted) == (15, 5)


def test_cheap_looks_are_fitted_at_their_fraction_and_the_best_promoted_at_full_cost():
    evaluate, seen = evaluate_with(peak)
    results = run_search(SPACES, 24, evaluate, seed=3, stopping=HALVING)
    coarse = [r for r in results if r.trial.round == 0]
    cheap = [r for r in coarse if r.trial.fidelity < 1]
    promoted = [r for r in coarse if r.trial.fidelity == 1]
    assert all(math.isclose(r.trial.fidelity, 1 / 3) for r in cheap)
    assert {r.trial.family for r in promoted} == {"a", "b"}  # every family reaches the fine stage
    cheap_scores = {repr(sorted(r.trial.params.items())): r.score for r in cheap}
    best_cheap = sorted(cheap_scores.values(), reverse=True)[: len(promoted)]
    assert min(cheap_scores[repr(sorted(r.trial.params.items()))] for r in promoted) <= max(
        best_cheap
    )
    assert [t.index for t in seen] == list(range(len(seen)))
    assert all(r.trial.fidelity == 1 for r in results if r.trial.stage == "fine")


def test_the_budget_counts_a_cheap_look_as_its_fraction_of_a_trial():
    evaluate, _ = evaluate_with(peak)
    results = run_search(SPACES, 24, evaluate, seed=3, stopping=HALVING)
    assert count_spent(results) == pytest.approx(24, abs=1)
    assert len(full_cost(results)) < len(results)
    assert len(results) > 24  # more configurations looked at than the budget's trials


def test_a_cheap_score_is_never_selected_even_when_it_is_the_highest():
    def flattering(trial: Trial) -> float:  # cheap looks score far above any full trial
        return 10.0 if trial.fidelity < 1 else peak(trial)

    evaluate, _ = evaluate_with(flattering)
    results = run_search(SPACES, 24, evaluate, seed=0, stopping=HALVING)
    best = select_best(results)
    assert best.trial.fidelity == 1 and best.score < 1.0


def test_fine_rounds_refine_full_scores_and_find_the_known_optimum():
    evaluate, _ = evaluate_with(peak)
    best = select_best(run_search(SPACES, 30, evaluate, seed=1, stopping=HALVING))
    assert best.trial.family == "a"
    assert abs(best.trial.params["x"] - 0.7) < 0.1


def test_halving_is_reproducible_from_the_seed():
    runs = []
    for _ in range(2):
        evaluate, seen = evaluate_with(peak)
        run_search(SPACES, 20, evaluate, seed=7, stopping=HALVING)
        runs.append([(t.family, t.params, t.fidelity) for t in seen])
    assert runs[0] == runs[1]


def test_without_halving_every_trial_is_full_cost():
    evaluate, seen = evaluate_with(peak)
    results = run_search(SPACES, 16, evaluate, seed=0)
    assert len(results) == 16 == count_spent(results)
    assert all(t.fidelity == 1 for t in seen)
    assert plan_stages(16, 2)[0] == len([t for t in seen if t.stage == "coarse"])


def test_promotions_take_each_familys_best_then_the_best_overall_and_failures_last():
    looks = [
        ("a", {"x": 1}, 0.5),
        ("a", {"x": 2}, 0.9),
        ("b", {"x": 3}, float("nan")),
        ("a", {"x": 4}, 0.8),
        ("b", {"x": 5}, 0.1),
    ]
    assert choose_promotions(looks, 3) == [("a", {"x": 2}), ("a", {"x": 4}), ("b", {"x": 5})]


def test_halving_settings_out_of_range_name_the_values():
    with pytest.raises(SearchError, match="fraction 1.5"):
        Halving(fraction=1.5)
