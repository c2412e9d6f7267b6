"""Evaluation: paired champion/challenger comparisons and the baselines every model is reported
against."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.linear_model import LogisticRegression, Ridge

from mleng.evaluation import (
    LOWER_IS_BETTER,
    METRIC_NAMES,
    Predictions,
    Resampling,
    Truth,
    bootstrap_metrics,
    compare_paired,
    compute_metrics,
    fit_baselines,
    predict_with,
)
from tests.evaluation_helpers import (
    CLASSES,
    binormal_predictions,
    multiclass_predictions,
    regression_predictions,
)


def test_paired_comparison_detects_a_clearly_better_challenger_for_gains_and_losses():
    y, champion = binormal_predictions(2000, separation=0.6, seed=12)
    rng = np.random.default_rng(12)
    positive = y == ">50K"
    sharper = 1 / (1 + np.exp(-(rng.normal(size=2000) + 1.6 * positive - 0.8)))
    challenger = Predictions(
        CLASSES[(sharper > 0.5).astype(int)], np.column_stack([1 - sharper, sharper]), CLASSES
    )
    for metric in ("roc_auc", "log_loss", "accuracy"):
        result = compare_paired(
            Truth("binary", y, ">50K"), metric, champion, challenger, Resampling(500)
        )
        assert result.low > 0 and result.difference > 0 and result.probability_better > 0.99, metric
        reverse = compare_paired(
            Truth("binary", y, ">50K"), metric, challenger, champion, Resampling(500)
        )
        assert reverse.high < 0 and reverse.probability_better < 0.01, metric


def test_paired_comparison_of_identical_models_finds_no_difference():
    y, predictions = binormal_predictions(1000, seed=13)
    result = compare_paired(
        Truth("binary", y, ">50K"), "roc_auc", predictions, predictions, Resampling(300)
    )
    assert result.difference == 0 and result.low <= 0 <= result.high
    assert result.probability_better == 0.0


@pytest.mark.parametrize(
    ("n", "decimals", "n_resamples"),
    [(3000, None, 300), (3000, 2, 300), (20_000, None, 1000)],  # rows, exact groups, bins
)
def test_paired_resamples_pair_the_same_test_rows_for_both_models(n, decimals, n_resamples):
    y, champion = binormal_predictions(n, seed=18, decimals=decimals)
    nudged = np.clip(champion.proba[:, 1] + np.random.default_rng(18).normal(0, 1e-3, n), 0, 1)
    challenger = Predictions(champion.y_pred, np.column_stack([1 - nudged, nudged]), CLASSES)
    paired = compare_paired(
        Truth("binary", y, ">50K"), "roc_auc", champion, challenger, Resampling(n_resamples)
    )
    alone = bootstrap_metrics(Truth("binary", y, ">50K"), champion, Resampling(n_resamples))[
        "roc_auc"
    ]
    # Unpaired resamples would spread the difference as wide as sqrt(2) single intervals.
    assert paired.high - paired.low < 0.1 * (alone.high - alone.low)


def test_paired_comparison_of_equally_good_models_contains_zero():
    y, champion = binormal_predictions(1500, seed=14)
    rng = np.random.default_rng(14)
    score = 1 / (1 + np.exp(-(rng.normal(size=1500) + 1.0 * (y == ">50K") - 0.5)))
    rival = Predictions(
        CLASSES[(score > 0.5).astype(int)], np.column_stack([1 - score, score]), CLASSES
    )
    result = compare_paired(Truth("binary", y, ">50K"), "roc_auc", champion, rival, Resampling(500))
    assert result.low < 0 < result.high
    assert 0.02 < result.probability_better < 0.98


def test_paired_regression_comparison_orients_errors_so_positive_favours_the_challenger():
    y, champion = regression_predictions(800, seed=15)
    challenger = Predictions(y + (champion.y_pred - y) * 0.5)  # half the error
    result = compare_paired(Truth("regression", y), "rmse", champion, challenger, Resampling(300))
    assert "rmse" in LOWER_IS_BETTER
    assert result.difference == pytest.approx(
        skm.root_mean_squared_error(y, champion.y_pred)
        - skm.root_mean_squared_error(y, challenger.y_pred)
    )
    assert result.low > 0


# --- baselines and prediction -------------------------------------------------------------------


def test_zero_rule_accuracy_equals_the_majority_share():
    rng = np.random.default_rng(16)
    X = pd.DataFrame({"x": rng.normal(size=300)})
    y = pd.Series(np.where(rng.random(300) < 0.7, "no", "yes"))
    baselines = fit_baselines("binary", X, y, seed=0)
    metrics = compute_metrics(Truth("binary", y, "yes"), predict_with(baselines["zero_rule"], X))
    assert metrics["accuracy"] == pytest.approx((y == "no").mean())
    assert metrics["roc_auc"] == 0.5
    random_metrics = compute_metrics(
        Truth("binary", y, "yes"), predict_with(baselines["random"], X)
    )
    assert abs(random_metrics["balanced_accuracy"] - 0.5) < 0.1


def test_random_baseline_is_reproducible_from_its_seed():
    X, y = np.zeros((100, 1)), np.tile(["a", "b", "c"], 34)[:100]
    first = fit_baselines("multiclass", X, y, seed=3)["random"].predict(X)
    again = fit_baselines("multiclass", X, y, seed=3)["random"].predict(X)
    np.testing.assert_array_equal(first, again)


def test_regression_baselines_predict_the_training_mean_and_median():
    X, y = np.zeros((5, 1)), np.array([1.0, 2.0, 3.0, 4.0, 100.0])
    baselines = fit_baselines("regression", X, y, seed=0)
    assert predict_with(baselines["zero_rule"], X).y_pred == pytest.approx([22.0] * 5)
    assert predict_with(baselines["random"], X).y_pred == pytest.approx([3.0] * 5)
    assert predict_with(baselines["random"], X).proba is None


def test_predict_with_aligns_probability_columns_with_model_classes():
    rng = np.random.default_rng(17)
    X = rng.normal(size=(200, 2))
    y = np.where(X[:, 0] > 0, "yes", "no")
    model = LogisticRegression().fit(X, y)
    predictions = predict_with(model, X)
    assert list(predictions.classes) == ["no", "yes"]
    assert predictions.proba.shape == (200, 2)
    assert compute_metrics(Truth("binary", y, "yes"), predictions)["roc_auc"] > 0.95
    assert predict_with(Ridge().fit(X, X[:, 0]), X).classes is None


def test_every_task_reports_its_declared_metrics():
    labels, predictions = multiclass_predictions(90)
    assert set(compute_metrics(Truth("multiclass", labels), predictions)) == set(
        METRIC_NAMES["multiclass"]
    )
    values, predictions = regression_predictions(90)
    intervals = bootstrap_metrics(Truth("regression", values), predictions, Resampling(50))
    assert set(intervals) == set(METRIC_NAMES["regression"])
