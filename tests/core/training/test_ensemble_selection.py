"""The final ensemble: greedy selection finds a provably better average, refuses one that is not
better than noise, and the fitted ensemble is a normal scikit-learn estimator."""

from __future__ import annotations

import cloudpickle
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from mleng.card import DatasetCard
from mleng.data.loading import FeatureColumns
from mleng.reports.model_card import describe_pipeline
from mleng.search.engine import Trial, TrialResult
from mleng.training.cv import FoldSetup, build_pipeline, fit_pipeline
from mleng.training.ensemble_selection import (
    EnsembleRows,
    OutOfFold,
    Scorer,
    build_final_ensemble,
    choose_ensemble,
    pick_candidates,
    predict_candidates,
    predict_out_of_fold,
    select_weights,
    share_of_error,
)
from mleng.training.threshold import freeze_with_threshold, unwrap_pipeline
from mleng.training.trials import score_trial
from mleng.training.weighted_ensemble import WeightedEnsembleClassifier
from tests.helpers import ADULT, ADULT_CATEGORICAL, ADULT_NUMERIC

COLUMNS = FeatureColumns(ADULT_NUMERIC, ADULT_CATEGORICAL)


def card(task: str = "regression", **changes) -> DatasetCard:
    values = {"name": "a", "path": str(ADULT), "target": "y", "task": task, "model_name": "a"}
    values["metric"] = "rmse" if task == "regression" else "roc_auc"
    if task == "binary":
        values |= {"target": "class", "positive_label": ">50K"}
    return DatasetCard.model_validate(values | changes)


def result(index: int, family: str, score: float, **params) -> TrialResult:
    return TrialResult(Trial(family, params, "coarse", 0, index), score, 0.0, 0.1)


def test_candidates_are_distinct_and_put_the_best_of_each_family_first():
    results = [
        result(0, "forest", -1.0, depth=3),
        result(1, "forest", -1.0, depth=3),  # the same configuration again: one candidate
        result(2, "forest", -1.1, depth=4),
        result(3, "linear", -2.0, C=1.0),
        result(4, "boost", float("nan")),  # failed: never a candidate
        result(5, "forest", -1.2, depth=5),
    ]
    picked = pick_candidates(results, 3)
    assert [r.trial.index for r in picked] == [0, 3, 2]


def test_two_models_with_independent_errors_average_to_a_better_model_and_are_chosen():
    # Truth: y. Each model errs by independent noise of equal spread, so the average's RMSE is
    # the single model's divided by sqrt(2): a gain selection must find, with weights near 1/2.
    rng = np.random.default_rng(0)
    n = 4000
    y = rng.normal(size=n)
    values = [y + rng.normal(scale=0.5, size=n), y + rng.normal(scale=0.5, size=n)]
    candidates = [result(0, "forest", -0.5), result(1, "linear", -0.5)]
    oof = [OutOfFold(np.arange(n), v) for v in values]

    choice = choose_ensemble(card(), candidates, oof, pd.Series(y), seed=1)

    assert choice.chosen and choice.members == [0, 1]
    assert choice.weights == pytest.approx([0.5, 0.5], abs=0.1)
    assert choice.single_score == pytest.approx(0.5, abs=0.02)
    assert choice.ensemble_score == pytest.approx(0.5 / np.sqrt(2), abs=0.02)
    assert choice.probability_better > 0.99


def test_a_worse_correlated_model_is_left_out_and_the_single_best_is_kept():
    # Model 1 shares model 0's error and adds three times as much of its own: any mix is worse.
    rng = np.random.default_rng(1)
    n = 3000
    y = rng.normal(size=n)
    shared = rng.normal(scale=0.5, size=n)
    values = [y + shared, y + shared + rng.normal(scale=1.5, size=n)]
    candidates = [result(0, "forest", -0.5), result(1, "linear", -1.6)]
    oof = [OutOfFold(np.arange(n), v) for v in values]

    choice = choose_ensemble(card(), candidates, oof, pd.Series(y), seed=1)

    assert not choice.chosen and choice.members == [0]
    assert "a single configuration" in choice.reason


def test_a_gain_within_noise_is_not_chosen():
    # A second model nearly identical to the first: whatever the blend gains is noise.
    rng = np.random.default_rng(2)
    n = 300
    y = rng.normal(size=n)
    base = y + rng.normal(scale=0.5, size=n)
    values = [base, base + rng.normal(scale=0.02, size=n)]
    candidates = [result(0, "forest", -0.5), result(1, "linear", -0.5)]
    oof = [OutOfFold(np.arange(n), v) for v in values]

    choice = choose_ensemble(card(), candidates, oof, pd.Series(y), seed=3)

    assert not choice.chosen


def test_a_confident_gain_too_small_to_pay_for_its_members_is_not_chosen():
    # Both models share most of their error and each adds a little of its own: averaging cancels
    # only that little (RMSE 0.5025 -> 0.5012), surely (20,000 rows) but by 0.25% of the error.
    rng = np.random.default_rng(5)
    n = 20_000
    y = rng.normal(size=n)
    shared = rng.normal(scale=0.5, size=n)
    values = [y + shared + rng.normal(scale=0.05, size=n) for _ in range(2)]
    candidates = [result(0, "forest", -0.5), result(1, "linear", -0.5)]
    oof = [OutOfFold(np.arange(n), v) for v in values]

    strict = choose_ensemble(card(), candidates, oof, pd.Series(y), seed=1)
    lenient = card(search={"ensemble": {"min_error_reduction": 0.0}})
    kept = choose_ensemble(lenient, candidates, oof, pd.Series(y), seed=1)

    assert kept.chosen and kept.probability_better > 0.99  # the gain is real ...
    share = (strict.single_score - strict.ensemble_score) / strict.single_score
    assert 0 < share < 0.01  # ... and small
    assert not strict.chosen
    assert "below search.ensemble.min_error_reduction 1%" in strict.reason


@pytest.mark.parametrize(
    ("single", "ensemble", "metric", "share"),
    [
        (0.90, 0.91, "roc_auc", 0.10),  # error 1 - AUC: 0.10 -> 0.09
        (-2.0, -1.5, "rmse", 0.25),  # oriented scores: minus the error
        (1.0, 1.0, "accuracy", 0.0),  # nothing left to remove
    ],
)
def test_the_share_of_error_removed_reads_scores_and_errors_alike(single, ensemble, metric, share):
    assert share_of_error(single, ensemble, metric) == pytest.approx(share)


def test_selection_blends_the_predictions_the_trials_kept_without_fitting_again(adult_rows):
    binary = card("binary")
    x, y = adult_rows[COLUMNS.all].head(600), adult_rows["class"].head(600)
    setup = FoldSetup(binary, seed=0)
    scored = [
        score_trial(Trial(family, params, "coarse", 0, index), COLUMNS, x, y, setup).result
        for index, (family, params) in enumerate(
            [("logistic_regression", {"C": 1.0}), ("random_forest", {"n_estimators": 20})]
        )
    ]
    assert all(r.out_of_fold is not None for r in scored)
    # the kept predictions are those a second cross-validation of the same folds gives
    again = predict_out_of_fold(
        build_pipeline(binary, COLUMNS, "logistic_regression", {"C": 1.0}, 0), x, y, setup
    )
    np.testing.assert_array_equal(scored[0].out_of_fold.positions, again.positions)
    np.testing.assert_allclose(scored[0].out_of_fold.values, again.values)
    # rows with no features at all: any fit would fail, so selection read only what was kept
    broken = x.iloc[:, :0]
    kept, predictions = predict_candidates(
        scored, COLUMNS, EnsembleRows(broken, y, setup, x, y, setup)
    )
    assert kept == scored
    assert [p is r.out_of_fold for p, r in zip(predictions, scored, strict=True)] == [True, True]


def test_a_cheap_look_keeps_no_predictions(adult_rows):
    binary = card("binary")
    x, y = adult_rows[COLUMNS.all].head(600), adult_rows["class"].head(600)
    trial = Trial("logistic_regression", {"C": 1.0}, "coarse", 0, 0, fidelity=0.5)
    outcome = score_trial(trial, COLUMNS, x, y, FoldSetup(binary, seed=0))
    assert np.isfinite(outcome.result.score) and outcome.result.out_of_fold is None


def test_greedy_selection_stops_at_its_best_step():
    truth = np.array([0.0, 1.0, 2.0, 3.0])
    perfect, bad = truth.copy(), truth + 10.0
    scorer = Scorer("regression", "rmse", truth, None)
    weights = select_weights([perfect, bad], scorer, rounds=10)
    np.testing.assert_array_equal(weights, [1.0, 0.0])


@pytest.fixture(scope="module")
def adult_rows() -> pd.DataFrame:
    frame = pd.read_csv(ADULT).sample(n=1500, random_state=4).reset_index(drop=True)
    frame["class"] = frame["class"].str.strip(" .")
    return frame


@pytest.fixture(scope="module")
def fitted_ensemble(adult_rows):
    """A binary ensemble of two real pipelines, assembled the way the flow does."""
    binary = card(
        "binary", search={"ensemble": {"min_confidence": 0.5, "min_error_reduction": 0.0}}
    )
    x, y = adult_rows[COLUMNS.all], adult_rows["class"]
    setup = FoldSetup(binary, seed=0)
    results = [
        result(0, "logistic_regression", 0.9, C=1.0),
        result(1, "random_forest", 0.89, n_estimators=40, max_depth=8),
    ]
    best = fit_pipeline(
        build_pipeline(binary, COLUMNS, "logistic_regression", {"C": 1.0}, 0), x, y, setup
    )
    model, choice = build_final_ensemble(
        COLUMNS, results, best, EnsembleRows(x, y, setup, x, y, setup)
    )
    return binary, model, choice, best


def test_out_of_fold_probabilities_cover_every_row_with_aligned_classes(adult_rows):
    binary = card("binary")
    x, y = adult_rows[COLUMNS.all].head(600), adult_rows["class"].head(600)
    pipeline = build_pipeline(binary, COLUMNS, "logistic_regression", {"C": 1.0}, 0)
    oof = predict_out_of_fold(pipeline, x, y, FoldSetup(binary, seed=0))
    assert sorted(oof.positions) == list(range(600))
    assert list(oof.classes) == ["<=50K", ">50K"]
    np.testing.assert_allclose(oof.values.sum(axis=1), 1.0)


def test_the_ensemble_averages_its_members_probabilities_with_the_selected_weights(
    adult_rows, fitted_ensemble
):
    _, model, choice, best = fitted_ensemble
    assert choice is not None and choice.chosen, choice  # a linear model and a forest differ
    ensemble = model[-1]
    assert isinstance(ensemble, WeightedEnsembleClassifier)
    assert ensemble.estimators_[0] is best  # the refit single best is reused, not refit
    rows = adult_rows[COLUMNS.all].head(50)
    expected = sum(
        w * m.predict_proba(rows) for m, w in zip(ensemble.estimators_, ensemble.weights_)
    )
    np.testing.assert_allclose(model.predict_proba(rows), expected)
    assert list(model.classes_) == ["<=50K", ">50K"]
    assert model.named_steps["inputs"].numeric_columns == ADULT_NUMERIC  # the contract's columns


def test_the_ensemble_survives_pickling_the_threshold_wrapper_and_a_refit(
    adult_rows, fitted_ensemble
):
    _, model, _, _ = fitted_ensemble
    x, y = adult_rows[COLUMNS.all], adult_rows["class"]
    rows = x.head(40)
    restored = cloudpickle.loads(cloudpickle.dumps(model))
    np.testing.assert_allclose(restored.predict_proba(rows), model.predict_proba(rows))

    thresholded = freeze_with_threshold(model, 0.3, ">50K", x, y)
    proba = model.predict_proba(rows)[:, 1]
    np.testing.assert_array_equal(thresholded.predict(rows) == ">50K", proba >= 0.3)
    assert unwrap_pipeline(thresholded) is model

    refit = clone(model).fit(x.head(800), y.head(800))  # what the threshold's folds do
    assert refit.predict_proba(rows).shape == (40, 2)
    lines = describe_pipeline(model)
    assert any("weighted average of" in line for line in lines)
    assert any("member coarse-000-logistic_regression (weight" in line for line in lines)


def test_a_disabled_ensemble_returns_the_single_best_untouched(adult_rows):
    off = card("binary", search={"ensemble": {"enabled": False}})
    x, y = adult_rows[COLUMNS.all], adult_rows["class"]
    setup = FoldSetup(off, seed=0)
    results = [result(0, "logistic_regression", 0.9, C=1.0), result(1, "random_forest", 0.8)]
    best = object()
    model, choice = build_final_ensemble(
        COLUMNS, results, best, EnsembleRows(x, y, setup, x, y, setup)
    )
    assert model is best and choice is None


def test_the_card_block_is_on_by_default_and_refuses_bad_settings():
    assert card().search.ensemble.enabled
    with pytest.raises(ValueError, match="candidates"):
        card(search={"ensemble": {"candidates": 1}})
    with pytest.raises(ValueError, match="weights"):  # a typo is an error naming the field
        card(search={"ensemble": {"weights": [0.5, 0.5]}})
