"""Online performance: measured once outcomes arrive, estimated from probabilities before.

Measured metrics reuse the evaluation's vectorised bootstrap over rows. Before outcomes arrive,
a binary model's calibrated probabilities already say what its metrics should be (the idea of
NannyML's confidence-based performance estimation, CBPE): a row scored p is a positive with
probability p, so the expected confusion matrix, and every metric built from it, follows from
the probabilities alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from mleng.evaluation import Predictions, Resampling, Truth, bootstrap_metrics
from mleng.evaluation.intervals import percentile_interval
from mleng.evaluation.resampling import chunk_sizes
from mleng.evaluation.tables import MetricTable, build_table
from mleng.evaluation.weighted import evaluate_weights
from mleng.reports.formatting import render_table

MEASURED = "bootstrap over the window's rows (percentile)"
ESTIMATED = (
    "the metric the window's outcomes would realise if the probabilities are calibrated "
    "(outcomes drawn from them); miscalibration is not covered"
)
ESTIMATED_METRICS = (
    "accuracy",
    "balanced_accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "log_loss",
)


@dataclass(frozen=True)
class PerformanceEstimate:
    """One metric of a window with its interval; `estimated` marks a value computed from
    probabilities without outcomes, which is only as good as their calibration."""

    metric: str
    value: float
    low: float
    high: float
    estimated: bool


@dataclass(frozen=True)
class PerformanceReport:
    """A window's metrics, measured or estimated, and what their intervals cover."""

    metrics: Mapping[str, PerformanceEstimate]
    rows: int
    estimated: bool
    confidence: float
    interval_covers: str
    expected_confusion: Mapping[str, float] | None = None  # estimates only: tp, fp, fn, tn

    def to_markdown(self) -> str:
        """A markdown table of the metrics, labelled as estimates when they are."""
        label = "estimated (no outcomes yet)" if self.estimated else "measured"
        rows = [(m.metric, m.value, m.low, m.high) for m in self.metrics.values()]
        level = f"{self.confidence:.0%}"
        table = render_table(
            ("metric", label, f"{level} low", f"{level} high"),
            rows,
            (label, f"{level} low", f"{level} high"),
        )
        return f"{self.rows:,} rows; interval: {self.interval_covers}.\n\n{table}"


def measure_online_performance(
    truth: Truth,
    predictions: Predictions,
    metrics: tuple[str, ...] | None = None,
    resampling: Resampling | None = None,
) -> PerformanceReport:
    """The window's metrics on the rows whose outcomes have arrived, with bootstrap intervals.

    Pass only rows joined with their outcomes: rows still waiting are not negatives. `metrics`
    (default: all the predictions allow) must fit the task; probability metrics need
    `predictions.proba`.
    """
    resampling = resampling or Resampling()
    intervals = bootstrap_metrics(truth, predictions, resampling)
    names = tuple(intervals) if metrics is None else metrics
    unknown = [name for name in names if name not in intervals]
    if unknown:
        raise ValueError(
            f"metrics {unknown} cannot be measured here; available: {list(intervals)} "
            "(ROC AUC and log loss need probabilities)"
        )
    return PerformanceReport(
        metrics={
            name: PerformanceEstimate(
                name, intervals[name].estimate, intervals[name].low, intervals[name].high, False
            )
            for name in names
        },
        rows=len(np.asarray(predictions.y_pred).reshape(-1)),
        estimated=False,
        confidence=resampling.confidence,
        interval_covers=MEASURED,
    )


def check_probabilities(probabilities_positive: np.ndarray) -> np.ndarray:
    """A non-empty 1-D array of finite probabilities, or an error saying what is wrong."""
    p = np.asarray(probabilities_positive, dtype=np.float64).reshape(-1)
    if p.size == 0:
        raise ValueError("no probabilities: the window is empty")
    if not np.isfinite(p).all() or p.min() < 0 or p.max() > 1:
        raise ValueError(
            "probabilities must be finite and within [0, 1]; count non-finite outputs with "
            "count_non_finite and estimate on the finite rows"
        )
    return p


def doubled_table(p: np.ndarray, predicted: np.ndarray) -> MetricTable:
    """The evaluation's metric table with every row twice, once as a positive and once as a
    negative: weighting the copies (y, 1 - y) gives the metrics of outcomes y, and weighting
    them (p, 1 - p) gives their expectation when outcomes follow p."""
    truth = np.concatenate([np.ones(len(p), dtype=np.int64), np.zeros(len(p), dtype=np.int64)])
    both = np.concatenate([p, p])
    predictions = Predictions(
        np.concatenate([predicted, predicted]), np.column_stack([1 - both, both]), np.array([0, 1])
    )
    return build_table("binary", truth, predictions, positive_label=1)


def weighted_metrics(
    table: MetricTable, positive_weight: np.ndarray, predicted: np.ndarray
) -> dict[str, np.ndarray]:
    """Every estimated metric for each row of `positive_weight` (resamples, rows): the weight
    (or probability) with which each row counts as a positive."""
    weights = np.hstack([positive_weight, 1.0 - positive_weight])
    values = evaluate_weights(table, weights)
    true_positive = positive_weight @ predicted
    with np.errstate(divide="ignore", invalid="ignore"):
        values["precision"] = true_positive / predicted.sum()
        values["recall"] = true_positive / positive_weight.sum(axis=1)
    return {name: values[name] for name in ESTIMATED_METRICS}


def expected_roc_auc(p: np.ndarray, doubled_auc: float) -> float:
    """Expected ROC AUC over pairs of distinct rows: the doubled table also pairs each row's
    positive copy with its own negative copy (a tie, half credit), which is removed here."""
    pairs = p.sum() * (1 - p).sum()
    own = float(np.sum(p * (1 - p)))
    if pairs - own <= 0:
        return np.nan
    return float((doubled_auc * pairs - 0.5 * own) / (pairs - own))


def estimate_performance_without_labels(
    probabilities_positive: np.ndarray,
    threshold: float = 0.5,
    resampling: Resampling | None = None,
) -> PerformanceReport:
    """CBPE: expected accuracy, balanced accuracy, precision, recall, F1, ROC AUC and log loss
    of a binary model from its positive-class probabilities alone, labelled as estimates.

    Rows are predicted positive when p >= threshold (as the served FixedThresholdClassifier
    does). Each metric is the ratio of expected counts (e.g. precision = E[TP] / predicted
    positives), which for thousands of rows equals the expected metric to well under 0.01.

    Valid only if the probabilities are calibrated on the current population: squashed
    (under-confident) probabilities understate accuracy and ROC AUC, over-confident ones
    overstate them, and a shift in P(y | x) is invisible to it. The interval covers the noise
    of the outcomes: the value the window's outcomes would realise, drawn `n_resamples` times
    as y ~ Bernoulli(p); it does not cover miscalibration.
    """
    resampling = resampling or Resampling()
    p = check_probabilities(probabilities_positive)
    predicted = (p >= threshold).astype(np.float64)
    table = doubled_table(p, predicted.astype(np.int64))
    expected = {
        name: float(v[0]) for name, v in weighted_metrics(table, p[None], predicted).items()
    }
    expected["roc_auc"] = expected_roc_auc(p, expected["roc_auc"])
    rng = np.random.default_rng(resampling.seed)
    draws: dict[str, list[np.ndarray]] = {}
    for size in chunk_sizes(resampling.n_resamples, 2 * len(p)):
        outcomes = (rng.random((size, len(p))) < p).astype(np.float64)
        for name, values in weighted_metrics(table, outcomes, predicted).items():
            draws.setdefault(name, []).append(values)
    metrics = {}
    for name in ESTIMATED_METRICS:
        low, high = percentile_interval(np.concatenate(draws[name]), resampling.confidence)
        metrics[name] = PerformanceEstimate(name, expected[name], low, high, True)
    positives, predicted_positive = float(p.sum()), float(predicted.sum())
    true_positive = float(p @ predicted)
    return PerformanceReport(
        metrics=metrics,
        rows=len(p),
        estimated=True,
        confidence=resampling.confidence,
        interval_covers=ESTIMATED,
        expected_confusion={
            "tp": true_positive,
            "fp": predicted_positive - true_positive,
            "fn": positives - true_positive,
            "tn": len(p) - predicted_positive - positives + true_positive,
        },
    )
