"""Online performance: measured metrics reuse the evaluation's bootstrap; CBPE estimates match
the realised metrics when probabilities are calibrated, and are biased when they are not."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from mleng.evaluation import Predictions, Resampling, Truth, bootstrap_metrics
from mleng.monitoring.performance import (
    ESTIMATED_METRICS,
    estimate_performance_without_labels,
    measure_online_performance,
)


def calibrated_window(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities from a logistic score and labels drawn from them: calibrated by design."""
    rng = np.random.default_rng(seed)
    p = 1.0 / (1.0 + np.exp(-(1.5 * rng.normal(size=n) - 0.5)))
    return p, (rng.random(n) < p).astype(np.int64)


def realised_metrics(y: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    predicted = (p >= threshold).astype(np.int64)
    return {
        "accuracy": skm.accuracy_score(y, predicted),
        "balanced_accuracy": skm.balanced_accuracy_score(y, predicted),
        "precision": skm.precision_score(y, predicted),
        "recall": skm.recall_score(y, predicted),
        "f1": skm.f1_score(y, predicted),
        "roc_auc": skm.roc_auc_score(y, p),
        "log_loss": skm.log_loss(y, p),
    }


def test_online_performance_is_the_evaluation_bootstrap_on_the_arrived_rows():
    p, y = calibrated_window(3_000, seed=0)
    truth = Truth("binary", y, positive_label=1)
    predictions = Predictions((p >= 0.5).astype(int), np.column_stack([1 - p, p]), np.array([0, 1]))
    resampling = Resampling(300, seed=4)
    report = measure_online_performance(truth, predictions, ("accuracy", "roc_auc"), resampling)
    reference = bootstrap_metrics(truth, predictions, resampling)
    assert list(report.metrics) == ["accuracy", "roc_auc"]
    assert not report.estimated and report.rows == 3_000
    for name, metric in report.metrics.items():
        assert (metric.value, metric.low, metric.high) == (
            reference[name].estimate,
            reference[name].low,
            reference[name].high,
        )
        assert not metric.estimated
    assert "measured" in report.to_markdown()
    everything = measure_online_performance(truth, predictions, resampling=resampling)
    assert set(everything.metrics) == set(reference)
    without_proba = Predictions(predictions.y_pred, None, predictions.classes)
    with pytest.raises(ValueError, match=r"\['roc_auc'\] cannot be measured here"):
        measure_online_performance(truth, without_proba, ("roc_auc",), resampling)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cbpe_matches_the_realised_metrics_of_calibrated_probabilities(seed):
    p, y = calibrated_window(20_000, seed)
    report = estimate_performance_without_labels(p, 0.5, Resampling(100, seed=seed))
    realised = realised_metrics(y, p)
    gaps = {name: report.metrics[name].value - realised[name] for name in ESTIMATED_METRICS}
    print(f"seed {seed}: estimate - realised", {k: round(v, 4) for k, v in gaps.items()})
    assert abs(gaps["accuracy"]) < 0.01
    assert abs(gaps["roc_auc"]) < 0.01
    assert max(abs(gap) for gap in gaps.values()) < 0.02  # precision, recall: fewer rows
    assert report.estimated and all(m.estimated for m in report.metrics.values())


def test_cbpe_intervals_cover_the_realised_metric_about_as_often_as_claimed():
    windows, hits = 200, {name: 0 for name in ("accuracy", "f1", "roc_auc")}
    for seed in range(windows):
        p, y = calibrated_window(1_000, seed=100 + seed)
        report = estimate_performance_without_labels(p, resampling=Resampling(200, seed=seed))
        realised = realised_metrics(y, p)
        for name in hits:
            hits[name] += report.metrics[name].low <= realised[name] <= report.metrics[name].high
    coverage = {name: count / windows for name, count in hits.items()}
    print(f"95% interval coverage over {windows} windows: {coverage}")
    assert all(0.9 <= share <= 0.99 for share in coverage.values())


def test_cbpe_expected_values_equal_their_definitions():
    rng = np.random.default_rng(5)
    p = np.round(rng.random(300), 2)  # ties between rows
    report = estimate_performance_without_labels(p, threshold=0.4, resampling=Resampling(20))
    predicted = p >= 0.4
    assert report.metrics["accuracy"].value == pytest.approx(np.mean(np.where(predicted, p, 1 - p)))
    # expected ROC AUC over pairs of distinct rows, counted one pair at a time
    above = (p[:, None] > p[None, :]) + 0.5 * (p[:, None] == p[None, :])
    weight = p[:, None] * (1 - p[None, :])
    np.fill_diagonal(weight, 0.0)
    assert report.metrics["roc_auc"].value == pytest.approx(np.sum(weight * above) / weight.sum())
    confusion = report.expected_confusion
    assert sum(confusion.values()) == pytest.approx(300)
    assert confusion["tp"] == pytest.approx(p[predicted].sum())
    precision = report.metrics["precision"].value
    assert precision == pytest.approx(confusion["tp"] / (confusion["tp"] + confusion["fp"]))


def test_cbpe_is_biased_when_probabilities_are_not_calibrated():
    """Squashed towards 0.5 (under-confident) understates; sharpened (over-confident) overstates.

    The predictions at threshold 0.5 and the ranking are unchanged, so the realised metrics are
    the same: the whole gap is the estimate's bias.
    """
    p, y = calibrated_window(20_000, seed=6)
    realised = realised_metrics(y, p)
    logit = np.log(p / (1 - p))
    squashed = estimate_performance_without_labels(0.5 + 0.5 * (p - 0.5), resampling=Resampling(50))
    sharpened = estimate_performance_without_labels(
        1 / (1 + np.exp(-2 * logit)), resampling=Resampling(50)
    )
    for name in ("accuracy", "roc_auc"):
        print(
            f"{name}: realised {realised[name]:.3f}, squashed {squashed.metrics[name].value:.3f}, "
            f"sharpened {sharpened.metrics[name].value:.3f}"
        )
        assert squashed.metrics[name].value < realised[name] - 0.05
        assert sharpened.metrics[name].value > realised[name] + 0.05


def test_cbpe_report_is_labelled_an_estimate_and_rejects_bad_input():
    p, _ = calibrated_window(500, seed=7)
    text = estimate_performance_without_labels(p, resampling=Resampling(20)).to_markdown()
    assert "estimated (no outcomes yet)" in text and "miscalibration is not covered" in text
    with pytest.raises(ValueError, match="window is empty"):
        estimate_performance_without_labels(np.array([]))
    with pytest.raises(ValueError, match=r"within \[0, 1\]"):
        estimate_performance_without_labels(np.array([0.2, np.nan]))
