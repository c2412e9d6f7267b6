"""Finalists confirmed on more rows: when the search saw a small share of the training rows, a
model whose learning curve overtakes the search's winner is the one refit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mleng.card import ParamSpec
from mleng.data.loading import FeatureColumns
from mleng.search.engine import Trial, TrialResult
from mleng.training.confirm import (
    RETUNE_DRAWS,
    Retune,
    confirm_finalists,
    draw_retune_trials,
    needs_confirmation,
    pick_finalists,
)
from mleng.training.cv import FoldSetup, build_pipeline, fit_pipeline
from mleng.training.ensemble_selection import EnsembleRows, build_final_ensemble
from tests.corpus import synthetic_card

REGRESSION = synthetic_card(task="regression", metric="rmse")
COLUMNS = FeatureColumns(["a", "b"], [])


def quadratic_rows(seed: int, rows: int) -> tuple[pd.DataFrame, pd.Series]:
    """A target quadratic in `a` and linear in `b`: a linear model cannot fit it, trees can."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-3, 3, size=(rows, 2))
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1]})
    return frame, pd.Series(x[:, 0] ** 2 + 0.5 * x[:, 1] + rng.normal(0, 0.3, rows))


def result(family: str, score: float, index: int, params: dict | None = None) -> TrialResult:
    return TrialResult(Trial(family, params or {}, "coarse", 0, index), score, 0.0, 0.0)


def test_confirmation_runs_only_when_the_search_saw_a_small_share_of_the_rows():
    assert needs_confirmation(260_000, 10_000, 50_000)
    assert not needs_confirmation(39_000, 10_000, 50_000)  # Adult: 3.9x, the search's ranking
    assert not needs_confirmation(260_000, 10_000, None)
    assert not needs_confirmation(260_000, 60_000, 50_000)


def test_finalists_are_each_familys_best_for_the_best_three_families():
    boosting = "hist_gradient_boosting"
    results = [
        result("ridge", -1.0, 0), result("ridge", -0.9, 1), result(boosting, -1.1, 2),
        result("random_forest", -2.0, 3), result("mlp", float("nan"), 4), result("sgd", -3.0, 5),
    ]  # fmt: skip
    finalists = pick_finalists(results)
    assert [(f.trial.family, f.trial.index) for f in finalists] == [
        ("ridge", 1), ("hist_gradient_boosting", 2), ("random_forest", 3),
    ]  # fmt: skip


def test_a_nonlinear_model_that_wins_on_many_rows_replaces_the_linear_search_winner():
    frame, target = quadratic_rows(seed=0, rows=12_000)
    card, columns = REGRESSION, COLUMNS
    # the search (on a small sample) ranked ridge first
    finalists = [
        result("ridge", -1.0, 0, {"alpha": 1.0}),
        result("hist_gradient_boosting", -1.2, 1, {"max_iter": 100}),
    ]
    found = confirm_finalists(finalists, columns, (frame, target), FoldSetup(card, 0), 8_000)
    assert found.chosen.trial.family == "hist_gradient_boosting"
    assert found.fit_rows == 8_000 and found.holdout_rows == 2_000
    ridge, boosting = found.scores.values()
    assert boosting > ridge  # negated RMSE: about -0.3 against the quadratic's -2.6


def test_the_confirmation_keeps_each_finalists_held_out_predictions_the_chosen_first():
    frame, target = quadratic_rows(seed=1, rows=6_000)
    card, columns = REGRESSION, COLUMNS
    finalists = [result("ridge", -1.0, 0, {"alpha": 1.0}), result("lightgbm", -1.2, 1)]
    found = confirm_finalists(finalists, columns, (frame, target), FoldSetup(card, 0), 4_000)
    held = found.held_out
    assert [c.trial.family for c in held.candidates] == ["lightgbm", "ridge"]
    assert len(held.target) == found.holdout_rows == 1_000
    for candidate, predicted in zip(held.candidates, held.predictions, strict=True):
        rmse = float(np.sqrt(np.mean((predicted.values - held.target.to_numpy()) ** 2)))
        name = f"coarse-{candidate.trial.index:03d}-{candidate.trial.family}"
        assert rmse == pytest.approx(-found.scores[name])


def test_an_ensemble_after_confirmation_is_weighed_on_the_held_out_rows_not_the_search_sample():
    frame, target = quadratic_rows(seed=2, rows=6_000)
    card, columns = REGRESSION, COLUMNS
    finalists = [result("ridge", -1.0, 0, {"alpha": 1.0}), result("lightgbm", -1.2, 1)]
    setup = FoldSetup(card, 0)
    found = confirm_finalists(finalists, columns, (frame, target), setup, 4_000)
    best = fit_pipeline(build_pipeline(card, columns, "lightgbm", {}, 0), frame, target, setup)
    # no search rows at all: selection can only have read the confirmation's predictions
    empty = frame.iloc[:0]
    rows = EnsembleRows(empty, target.iloc[:0], setup, frame, target, setup, found.held_out)
    _, choice = build_final_ensemble(columns, finalists, best, rows, found.chosen)
    assert choice is not None
    assert [c.trial.family for c in choice.candidates] == ["lightgbm", "ridge"]
    weights = dict(zip([c.trial.family for c in choice.candidates], choice.weights, strict=True))
    assert weights["lightgbm"] > 0.8  # ridge cannot fit the square: it earns little weight


def test_fresh_draws_come_from_the_leading_familys_whole_space_and_repeat_no_trial():
    space = {"num_leaves": ParamSpec(type="int", low=7, high=255, log=True)}
    seen = [result("lightgbm", -1.0, 4, {"num_leaves": 13}), result("ridge", -2.0, 9)]
    drawn = draw_retune_trials(seen, space, [r.trial for r in seen], seed=0)
    assert len(drawn) == RETUNE_DRAWS
    assert {d.trial.family for d in drawn} == {"lightgbm"}
    assert {d.trial.stage for d in drawn} == {"confirm"}
    assert [d.trial.index for d in drawn] == list(range(10, 10 + RETUNE_DRAWS))
    leaves = [d.trial.params["num_leaves"] for d in drawn]
    assert 13 not in leaves and len(set(leaves)) == RETUNE_DRAWS
    assert min(leaves) < 30 and max(leaves) > 100  # spread over the whole range, not near 13


def test_the_fresh_draws_come_from_the_family_that_wins_on_more_rows_not_the_search_winner():
    frame, target = quadratic_rows(seed=3, rows=6_000)
    card, columns = REGRESSION, COLUMNS
    finalists = [result("ridge", -1.0, 0, {"alpha": 1.0}), result("lightgbm", -1.2, 1)]
    spaces = {
        "ridge": {"alpha": ParamSpec(type="float", low=0.1, high=10.0, log=True)},
        "lightgbm": {"num_leaves": ParamSpec(type="int", low=7, high=63, log=True)},
    }
    retune = Retune(spaces, [f.trial for f in finalists])
    setup = FoldSetup(card, 0)
    found = confirm_finalists(finalists, columns, (frame, target), setup, 4_000, retune)
    drawn = [name for name in found.scores if name.startswith("confirm-")]
    assert len(drawn) == RETUNE_DRAWS and all(name.endswith("-lightgbm") for name in drawn)
    assert found.chosen.trial.family == "lightgbm"
    assert len(found.held_out.candidates) == 2 + RETUNE_DRAWS
