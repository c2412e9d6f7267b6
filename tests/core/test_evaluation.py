"""Evaluation: metrics equal scikit-learn's, intervals cover known truths, comparisons are paired."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn import metrics as skm
from sklearn.linear_model import LogisticRegression, Ridge

from mleng.evaluation import (
    LOWER_IS_BETTER,
    METRIC_NAMES,
    Predictions,
    bootstrap_metrics,
    compare_paired,
    compute_metrics,
    fit_baselines,
    predict_with,
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

CLASSES = np.array(["<=50K", ">50K"])


def binormal_predictions(
    n: int, separation: float = 1.0, seed: int = 0, decimals: int | None = None
):
    """String labels and probabilities from a binormal model whose true AUC is Phi(d / sqrt(2))."""
    rng = np.random.default_rng(seed)
    positive = rng.random(n) < 0.4
    score = rng.normal(size=n) + separation * positive
    probability = 1.0 / (1.0 + np.exp(-(score - 0.5 * separation)))
    if decimals is not None:  # few distinct scores, like a shallow tree: ties everywhere
        probability = np.round(probability, decimals)
    proba = np.column_stack([1.0 - probability, probability])
    return np.where(positive, ">50K", "<=50K"), Predictions(
        CLASSES[(probability > 0.5).astype(int)], proba, CLASSES
    )


def multiclass_predictions(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    classes = np.array(["cat", "dog", "eel"])
    truth = rng.integers(0, 3, n)
    logits = rng.normal(size=(n, 3)) + 1.5 * np.eye(3)[truth]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return classes[truth], Predictions(classes[proba.argmax(axis=1)], proba, classes)


def regression_predictions(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = 1000.0 + 5.0 * rng.normal(size=n)
    return y, Predictions(y + rng.normal(size=n) * 2.0 + 0.3)


def sklearn_metrics(
    task: str, y_true, predictions: Predictions, positive_label=None
) -> dict[str, float]:
    """The reference: scikit-learn's own metric functions, one call per metric."""
    y_pred, proba, classes = predictions.y_pred, predictions.proba, predictions.classes
    if task == "regression":
        return {
            "rmse": skm.root_mean_squared_error(y_true, y_pred),
            "mae": skm.mean_absolute_error(y_true, y_pred),
            "r2": skm.r2_score(y_true, y_pred),
        }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = {
            "accuracy": skm.accuracy_score(y_true, y_pred),
            "balanced_accuracy": skm.balanced_accuracy_score(y_true, y_pred),
            "log_loss": skm.log_loss(y_true, proba, labels=classes),
        }
        if task == "binary":
            positive = list(classes).index(positive_label)
            results["f1"] = skm.f1_score(y_true, y_pred, pos_label=positive_label)
            results["roc_auc"] = skm.roc_auc_score(
                np.asarray(y_true) == positive_label, proba[:, positive]
            )
        else:
            results["f1"] = skm.f1_score(y_true, y_pred, average="macro")
            results["roc_auc"] = skm.roc_auc_score(y_true, proba, multi_class="ovr", labels=classes)
    return results


def assert_metrics_close(
    ours: dict[str, float], reference: dict[str, float], tolerance: float = 1e-9
) -> None:
    assert set(ours) == set(reference)
    for name, value in reference.items():
        if np.isnan(value):
            assert np.isnan(ours[name]), name
        else:
            assert ours[name] == pytest.approx(value, abs=tolerance), name


# --- point estimates ---------------------------------------------------------------------------


@pytest.mark.parametrize("decimals", [None, 1])
def test_binary_point_estimates_equal_sklearn_with_string_labels_and_ties(decimals):
    y, predictions = binormal_predictions(700, decimals=decimals)
    ours = compute_metrics("binary", pd.Series(y, dtype="str"), predictions, positive_label=">50K")
    assert_metrics_close(ours, sklearn_metrics("binary", y, predictions, ">50K"))


def test_multiclass_point_estimates_equal_sklearn_macro_averages():
    y, predictions = multiclass_predictions(600)
    assert_metrics_close(
        compute_metrics("multiclass", y, predictions), sklearn_metrics("multiclass", y, predictions)
    )


def test_regression_point_estimates_equal_sklearn_far_from_zero():
    y, predictions = regression_predictions(500)
    assert_metrics_close(
        compute_metrics("regression", pd.Series(y), predictions),
        sklearn_metrics("regression", y, predictions),
    )


def test_integer_labels_default_to_the_second_class_as_positive():
    y, predictions = binormal_predictions(300)
    codes = (y == ">50K").astype(int)
    numeric = Predictions(
        (predictions.y_pred == ">50K").astype(int), predictions.proba, np.array([0, 1])
    )
    assert compute_metrics("binary", codes, numeric) == pytest.approx(
        compute_metrics("binary", y, predictions, ">50K")
    )


def test_choosing_the_other_positive_label_flips_roc_auc_and_changes_f1():
    y, predictions = binormal_predictions(400)
    usual = compute_metrics("binary", y, predictions, ">50K")
    flipped = compute_metrics("binary", y, predictions, "<=50K")
    assert flipped["roc_auc"] == pytest.approx(usual["roc_auc"])  # the negative class's own column
    assert flipped["f1"] == pytest.approx(skm.f1_score(y, predictions.y_pred, pos_label="<=50K"))
    assert flipped["f1"] != pytest.approx(usual["f1"])


def test_log_loss_clips_confidently_wrong_probabilities_like_sklearn():
    y = np.array(["a", "b", "b", "a"])
    proba = np.array([[0.0, 1.0], [0.0, 1.0], [1.0, 0.0], [0.5, 0.5]])
    predictions = Predictions(np.array(["b", "b", "a", "a"]), proba, np.array(["a", "b"]))
    ours = compute_metrics("binary", y, predictions, "b")["log_loss"]
    assert np.isfinite(ours)
    assert ours == pytest.approx(skm.log_loss(y, proba, labels=["a", "b"]), rel=1e-12)


def test_metrics_needing_probabilities_are_left_out_without_them():
    y, predictions = binormal_predictions(100)
    labels_only = Predictions(predictions.y_pred)
    assert set(compute_metrics("binary", y, labels_only, ">50K")) == {
        "accuracy",
        "balanced_accuracy",
        "f1",
    }


def test_unknown_test_labels_and_positive_labels_are_reported_by_name():
    y, predictions = binormal_predictions(50)
    y = y.astype(object)
    y[3] = "unknown"
    with pytest.raises(ValueError, match="unknown"):
        compute_metrics("binary", y, predictions, ">50K")
    with pytest.raises(ValueError, match="positive_label '1'"):
        compute_metrics("binary", binormal_predictions(50)[0], predictions, "1")
    with pytest.raises(ValueError, match="bca"):
        bootstrap_metrics(
            "binary", binormal_predictions(50)[0], predictions, ">50K", method="bootstrap-t"
        )
    with pytest.raises(ValueError, match="does not fit task"):
        compare_paired("binary", "rmse", binormal_predictions(50)[0], predictions, predictions)


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
    ours = bootstrap_metrics("binary", y, predictions, ">50K", n_resamples=2000, seed=3)
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
    intervals = bootstrap_metrics("binary", y, predictions, "b", n_resamples=500)
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
            "binary", y, Predictions(np.where(wrong, 1 - y, y)), n_resamples=500, seed=repetition
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
            "binary", y, predictions, ">50K", n_resamples=500, seed=repetition, method=method
        )
        intervals.append((result["roc_auc"].low, result["roc_auc"].high))
    assert 0.90 <= coverage(truth, intervals) <= 0.99


# --- BCa ----------------------------------------------------------------------------------------


def test_bca_matches_scipy_bca_and_leans_towards_the_long_tail():
    y = np.random.default_rng(5).exponential(size=60)
    predictions = Predictions(np.zeros(60))  # mean absolute error is then the mean of y
    ours = bootstrap_metrics("regression", y, predictions, n_resamples=20_000, method="bca")["mae"]
    percentile = bootstrap_metrics("regression", y, predictions, n_resamples=20_000)["mae"]
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


def test_paired_comparison_detects_a_clearly_better_challenger_for_gains_and_losses():
    y, champion = binormal_predictions(2000, separation=0.6, seed=12)
    rng = np.random.default_rng(12)
    positive = y == ">50K"
    sharper = 1 / (1 + np.exp(-(rng.normal(size=2000) + 1.6 * positive - 0.8)))
    challenger = Predictions(
        CLASSES[(sharper > 0.5).astype(int)], np.column_stack([1 - sharper, sharper]), CLASSES
    )
    for metric in ("roc_auc", "log_loss", "accuracy"):
        result = compare_paired("binary", metric, y, champion, challenger, ">50K", n_resamples=500)
        assert result.low > 0 and result.difference > 0 and result.probability_better > 0.99, metric
        reverse = compare_paired("binary", metric, y, challenger, champion, ">50K", n_resamples=500)
        assert reverse.high < 0 and reverse.probability_better < 0.01, metric


def test_paired_comparison_of_identical_models_finds_no_difference():
    y, predictions = binormal_predictions(1000, seed=13)
    result = compare_paired(
        "binary", "roc_auc", y, predictions, predictions, ">50K", n_resamples=300
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
        "binary", "roc_auc", y, champion, challenger, ">50K", n_resamples=n_resamples
    )
    alone = bootstrap_metrics("binary", y, champion, ">50K", n_resamples=n_resamples)["roc_auc"]
    # Unpaired resamples would spread the difference as wide as sqrt(2) single intervals.
    assert paired.high - paired.low < 0.1 * (alone.high - alone.low)


def test_paired_comparison_of_equally_good_models_contains_zero():
    y, champion = binormal_predictions(1500, seed=14)
    rng = np.random.default_rng(14)
    score = 1 / (1 + np.exp(-(rng.normal(size=1500) + 1.0 * (y == ">50K") - 0.5)))
    rival = Predictions(
        CLASSES[(score > 0.5).astype(int)], np.column_stack([1 - score, score]), CLASSES
    )
    result = compare_paired("binary", "roc_auc", y, champion, rival, ">50K", n_resamples=500)
    assert result.low < 0 < result.high
    assert 0.02 < result.probability_better < 0.98


def test_paired_regression_comparison_orients_errors_so_positive_favours_the_challenger():
    y, champion = regression_predictions(800, seed=15)
    challenger = Predictions(y + (champion.y_pred - y) * 0.5)  # half the error
    result = compare_paired("regression", "rmse", y, champion, challenger, n_resamples=300)
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
    metrics = compute_metrics("binary", y, predict_with(baselines["zero_rule"], X), "yes")
    assert metrics["accuracy"] == pytest.approx((y == "no").mean())
    assert metrics["roc_auc"] == 0.5
    random_metrics = compute_metrics("binary", y, predict_with(baselines["random"], X), "yes")
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
    assert compute_metrics("binary", y, predictions, "yes")["roc_auc"] > 0.95
    assert predict_with(Ridge().fit(X, X[:, 0]), X).classes is None


def test_every_task_reports_its_declared_metrics():
    assert set(compute_metrics("multiclass", *multiclass_predictions(90))) == set(
        METRIC_NAMES["multiclass"]
    )
    assert set(bootstrap_metrics("regression", *regression_predictions(90), n_resamples=50)) == set(
        METRIC_NAMES["regression"]
    )
