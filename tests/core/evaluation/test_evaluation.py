"""Evaluation: metrics equal scikit-learn's, resampling is exact, intervals cover known truths."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn import metrics as skm

from mleng.evaluation import (
    Predictions,
    Resampling,
    Truth,
    bootstrap_metrics,
    compare_paired,
    compute_metrics,
)
from mleng.evaluation.compression import bin_values, compress_tables
from mleng.evaluation.intervals import jackknife_acceleration
from mleng.evaluation.resampling import (
    bootstrap_distributions,
    jackknife_distribution,
    weights_from_indices,
)
from mleng.evaluation.tables import build_table
from mleng.evaluation.weighted import evaluate_weights
from tests.evaluation_helpers import (
    CLASSES,
    assert_metrics_close,
    binormal_predictions,
    multiclass_predictions,
    regression_predictions,
    sklearn_metrics,
)


@pytest.mark.parametrize("decimals", [None, 1])
def test_binary_point_estimates_equal_sklearn_with_string_labels_and_ties(decimals):
    y, predictions = binormal_predictions(700, decimals=decimals)
    ours = compute_metrics(Truth("binary", pd.Series(y, dtype="str"), ">50K"), predictions)
    assert_metrics_close(ours, sklearn_metrics("binary", y, predictions, ">50K"))


def test_multiclass_point_estimates_equal_sklearn_macro_averages():
    y, predictions = multiclass_predictions(600)
    assert_metrics_close(
        compute_metrics(Truth("multiclass", y), predictions),
        sklearn_metrics("multiclass", y, predictions),
    )


def test_regression_point_estimates_equal_sklearn_far_from_zero():
    y, predictions = regression_predictions(500)
    assert_metrics_close(
        compute_metrics(Truth("regression", pd.Series(y)), predictions),
        sklearn_metrics("regression", y, predictions),
    )


def test_integer_labels_default_to_the_second_class_as_positive():
    y, predictions = binormal_predictions(300)
    codes = (y == ">50K").astype(int)
    numeric = Predictions(
        (predictions.y_pred == ">50K").astype(int), predictions.proba, np.array([0, 1])
    )
    assert compute_metrics(Truth("binary", codes), numeric) == pytest.approx(
        compute_metrics(Truth("binary", y, ">50K"), predictions)
    )


def test_choosing_the_other_positive_label_flips_roc_auc_and_changes_f1():
    y, predictions = binormal_predictions(400)
    usual = compute_metrics(Truth("binary", y, ">50K"), predictions)
    flipped = compute_metrics(Truth("binary", y, "<=50K"), predictions)
    assert flipped["roc_auc"] == pytest.approx(usual["roc_auc"])  # the negative class's own column
    assert flipped["f1"] == pytest.approx(skm.f1_score(y, predictions.y_pred, pos_label="<=50K"))
    assert flipped["f1"] != pytest.approx(usual["f1"])


def test_log_loss_clips_confidently_wrong_probabilities_like_sklearn():
    y = np.array(["a", "b", "b", "a"])
    proba = np.array([[0.0, 1.0], [0.0, 1.0], [1.0, 0.0], [0.5, 0.5]])
    predictions = Predictions(np.array(["b", "b", "a", "a"]), proba, np.array(["a", "b"]))
    ours = compute_metrics(Truth("binary", y, "b"), predictions)["log_loss"]
    assert np.isfinite(ours)
    assert ours == pytest.approx(skm.log_loss(y, proba, labels=["a", "b"]), rel=1e-12)


def test_metrics_needing_probabilities_are_left_out_without_them():
    y, predictions = binormal_predictions(100)
    labels_only = Predictions(predictions.y_pred)
    assert set(compute_metrics(Truth("binary", y, ">50K"), labels_only)) == {
        "accuracy",
        "balanced_accuracy",
        "f1",
    }


def test_unknown_test_labels_and_positive_labels_are_reported_by_name():
    y, predictions = binormal_predictions(50)
    y = y.astype(object)
    y[3] = "unknown"
    with pytest.raises(ValueError, match="unknown"):
        compute_metrics(Truth("binary", y, ">50K"), predictions)
    with pytest.raises(ValueError, match="positive_label '1'"):
        compute_metrics(Truth("binary", binormal_predictions(50)[0], "1"), predictions)
    with pytest.raises(ValueError, match="bca"):
        bootstrap_metrics(
            Truth("binary", binormal_predictions(50)[0], ">50K"), predictions, method="bootstrap-t"
        )
    with pytest.raises(ValueError, match="does not fit task"):
        compare_paired(
            Truth("binary", binormal_predictions(50)[0]), "rmse", predictions, predictions
        )
    with pytest.raises(ValueError, match="n_resamples must be at least 1"):
        Resampling(0)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        Resampling(100, confidence=1.0)


# --- vectorised resamples against the naive loop ------------------------------------------------


@pytest.mark.parametrize(
    ("task", "make", "n"),
    [
        ("binary", lambda n: binormal_predictions(n, seed=3), 300),
        ("binary", lambda n: binormal_predictions(n, seed=4, decimals=1), 300),
        ("binary", lambda n: binormal_predictions(n, seed=5), 9),  # resamples that lack a class
        ("multiclass", lambda n: multiclass_predictions(n, seed=6), 200),
        ("regression", lambda n: regression_predictions(n, seed=7), 200),
    ],
)
def test_vectorised_resamples_equal_a_sklearn_loop_on_identical_resamples(task, make, n):
    y, predictions = make(n)
    positive = ">50K" if task == "binary" else None
    table = build_table(task, y, predictions, positive)
    indices = np.random.default_rng(11).integers(0, n, size=(40, n))
    ours = evaluate_weights(table, weights_from_indices(indices, len(table.counts), table.inverse))
    for b, rows in enumerate(indices):
        resample = Predictions(
            predictions.y_pred[rows],
            None if predictions.proba is None else predictions.proba[rows],
            predictions.classes,
        )
        reference = sklearn_metrics(task, y[rows], resample, positive)
        assert_metrics_close({name: values[b] for name, values in ours.items()}, reference)


def test_exact_grouping_of_repeated_scores_changes_no_resample():
    y, predictions = binormal_predictions(2000, decimals=2)
    rows = build_table("binary", y, predictions, ">50K")
    [grouped], report = compress_tables([rows], n_resamples=1000)
    assert report.mode == "exact_groups" and report.n_groups < 500
    indices = np.random.default_rng(2).integers(0, 2000, size=(30, 2000))
    by_rows = evaluate_weights(rows, weights_from_indices(indices, rows.n_rows, rows.inverse))
    by_groups = evaluate_weights(
        grouped, weights_from_indices(indices, len(grouped.counts), grouped.inverse)
    )
    for name in by_rows:
        np.testing.assert_allclose(by_groups[name], by_rows[name], rtol=1e-12, atol=1e-12)


def test_binned_resampling_of_many_rows_keeps_auc_and_spread_of_row_resampling():
    y, predictions = binormal_predictions(12_000, seed=8)
    rows = build_table("binary", y, predictions, ">50K")
    [binned], report = compress_tables([rows], n_resamples=1000)
    assert report.mode == "binned_groups"
    assert report.auc_shift < 1e-4 and report.within_share < 1e-3
    by_rows = bootstrap_distributions([rows], 250, seed=1)[0]
    by_groups = bootstrap_distributions([binned], 250, seed=2)[0]
    for name in ("roc_auc", "log_loss", "accuracy"):
        # Two independent sets of 250 resamples: standard deviations agree within ~9% noise.
        assert np.std(by_groups[name]) == pytest.approx(np.std(by_rows[name]), rel=0.25), name
        assert np.mean(by_groups[name]) == pytest.approx(
            np.mean(by_rows[name]), abs=np.std(by_rows[name]) / 4
        )


def test_binning_that_would_move_roc_auc_is_refused():
    n = 20_000
    score = np.random.default_rng(19).random(n)
    coarse, _ = bin_values(score, np.argsort(score), 64)
    _, members = np.unique(coarse, return_inverse=True)
    medians = np.array([np.median(score[members == k]) for k in range(members.max() + 1)])
    # Inside every coarse bin the positives sit above the negatives: ties would hide that.
    upper_half = score > medians[members]
    labels = CLASSES[upper_half.astype(int)]
    predictions = Predictions(labels, np.column_stack([1 - score, score]), CLASSES)
    [_], report = compress_tables([build_table("binary", labels, predictions, ">50K")], 1000)
    assert report.mode == "rows" or report.bins > 64
    assert report.auc_shift < 1e-4


def test_binning_that_would_hide_log_loss_spread_is_refused():
    rng = np.random.default_rng(20)
    y, predictions = binormal_predictions(20_000, seed=20)
    # Columns that do not sum to one: the loss of a negative no longer follows the score.
    proba = np.column_stack([rng.random(20_000), predictions.proba[:, 1]])
    unnormalised = Predictions(predictions.y_pred, proba, CLASSES)
    [_], report = compress_tables([build_table("binary", y, unnormalised, ">50K")], 1000)
    assert report.mode == "rows"


def test_bootstrap_intervals_agree_with_naive_sklearn_resampling_loop():
    y, predictions = binormal_predictions(300, seed=9)
    ours = bootstrap_metrics(Truth("binary", y, ">50K"), predictions, Resampling(2000, seed=3))
    rng = np.random.default_rng(4)
    naive = {name: [] for name in ours}
    for _ in range(150):
        rows = rng.integers(0, 300, 300)
        resample = Predictions(predictions.y_pred[rows], predictions.proba[rows], CLASSES)
        for name, value in sklearn_metrics("binary", y[rows], resample, ">50K").items():
            naive[name].append(value)
    for name, interval in ours.items():
        low, high = np.percentile(naive[name], [2.5, 97.5])
        width = interval.high - interval.low
        # 150 naive resamples pin each endpoint down to about a sixteenth of the interval width.
        assert interval.low == pytest.approx(low, abs=0.25 * width), name
        assert interval.high == pytest.approx(high, abs=0.25 * width), name


def test_resamples_lacking_a_class_are_dropped_not_fatal():
    y = np.array(["a", "a", "a", "a", "a", "b"])
    proba = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.7, 0.3], [0.4, 0.6], [0.3, 0.7]])
    predictions = Predictions(np.array(["a", "a", "a", "a", "b", "b"]), proba, np.array(["a", "b"]))
    intervals = bootstrap_metrics(Truth("binary", y, "b"), predictions, Resampling(500))
    assert intervals["roc_auc"].estimate == 1.0
    assert intervals["roc_auc"].low <= intervals["roc_auc"].high <= 1.0
    assert all(np.isfinite([i.low, i.high]).all() for i in intervals.values())


# --- coverage of known truths -------------------------------------------------------------------


def coverage(truth: float, intervals: list[tuple[float, float]]) -> float:
    return float(np.mean([low <= truth <= high for low, high in intervals]))


def test_accuracy_intervals_cover_a_known_error_rate_at_the_nominal_rate():
    error_rate, n = 0.2, 200
    intervals = []
    for repetition in range(200):
        rng = np.random.default_rng(1000 + repetition)
        y = rng.integers(0, 2, n)
        wrong = rng.random(n) < error_rate
        result = bootstrap_metrics(
            Truth("binary", y),
            Predictions(np.where(wrong, 1 - y, y)),
            Resampling(500, seed=repetition),
        )
        intervals.append((result["accuracy"].low, result["accuracy"].high))
    assert 0.90 <= coverage(1 - error_rate, intervals) <= 0.99


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_roc_auc_intervals_cover_the_binormal_truth_at_the_nominal_rate(method):
    separation, n = 1.0, 200
    truth = stats.norm.cdf(separation / np.sqrt(2))
    intervals = []
    for repetition in range(200):
        y, predictions = binormal_predictions(n, separation, seed=2000 + repetition)
        result = bootstrap_metrics(
            Truth("binary", y, ">50K"), predictions, Resampling(500, seed=repetition), method=method
        )
        intervals.append((result["roc_auc"].low, result["roc_auc"].high))
    assert 0.90 <= coverage(truth, intervals) <= 0.99


# --- BCa ----------------------------------------------------------------------------------------


def test_bca_matches_scipy_bca_and_leans_towards_the_long_tail():
    y = np.random.default_rng(5).exponential(size=60)
    predictions = Predictions(np.zeros(60))  # mean absolute error is then the mean of y
    ours = bootstrap_metrics(Truth("regression", y), predictions, Resampling(20_000), method="bca")[
        "mae"
    ]
    percentile = bootstrap_metrics(Truth("regression", y), predictions, Resampling(20_000))["mae"]
    reference = stats.bootstrap(
        (y,), np.mean, n_resamples=20_000, method="BCa", rng=1
    ).confidence_interval
    width = reference.high - reference.low
    assert ours.low == pytest.approx(reference.low, abs=0.03 * width)
    assert ours.high == pytest.approx(reference.high, abs=0.03 * width)
    # The mean of right-skewed data: the upper arm is the longer one.
    assert ours.high - ours.estimate > ours.estimate - ours.low
    assert ours.low > percentile.low and ours.high > percentile.high


def test_delete_a_group_jackknife_estimates_the_delete_one_acceleration():
    y = np.random.default_rng(6).exponential(size=3000)
    table = build_table("regression", y, Predictions(np.zeros(3000)))
    delete_one = jackknife_acceleration(jackknife_distribution(table, seed=0, n_groups=3000)["mae"])
    delete_group = jackknife_acceleration(
        jackknife_distribution(table, seed=0, n_groups=500)["mae"]
    )
    # The exponential's skewness is 2, so the acceleration is about 2 / (6 sqrt(n)).
    assert delete_one == pytest.approx(2 / (6 * np.sqrt(3000)), rel=0.3)
    assert delete_group == pytest.approx(delete_one, abs=0.002)


# --- paired comparison --------------------------------------------------------------------------
