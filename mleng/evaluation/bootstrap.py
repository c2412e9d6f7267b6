"""Test metrics with bootstrap confidence intervals, and paired champion/challenger comparison.

All resamples are evaluated at once as weighted sums over a metric table (see `tables`), so a
thousand resamples of a million rows cost about as much as a few scikit-learn calls.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mleng.evaluation.compression import compress_tables
from mleng.evaluation.intervals import bca_interval, jackknife_acceleration, percentile_interval
from mleng.evaluation.records import (
    INTERVAL_METHODS,
    LOWER_IS_BETTER,
    MetricInterval,
    PairedComparison,
    Predictions,
    Resampling,
    Truth,
    check_metric_names,
)
from mleng.evaluation.resampling import bootstrap_distributions, jackknife_distribution
from mleng.evaluation.tables import MetricTable, build_table
from mleng.evaluation.weighted import evaluate_table


def compute_metrics(truth: Truth, predictions: Predictions) -> dict[str, float]:
    """Every metric of the task on the test set, equal to scikit-learn's metric functions.

    ROC AUC and log loss need probabilities and are left out when `predictions.proba` is None.
    f1 and ROC AUC score `truth.positive_label` (default: the second class, as scikit-learn
    assumes).
    """
    return evaluate_table(build_table(truth.task, truth.y_true, predictions, truth.positive_label))


def resample_table(
    truth: Truth, predictions: Predictions, resampling: Resampling
) -> tuple[MetricTable, MetricTable, dict[str, np.ndarray]]:
    """The test rows' metric table, the (possibly grouped) table resampled, and each metric's
    values on the resamples (NaN where undefined)."""
    rows = build_table(truth.task, truth.y_true, predictions, truth.positive_label)
    [table], _ = compress_tables([rows], resampling.n_resamples)
    [distribution] = bootstrap_distributions([table], resampling.n_resamples, resampling.seed)
    return rows, table, distribution


def bootstrap_distribution(
    truth: Truth, predictions: Predictions, resampling: Resampling | None = None
) -> dict[str, np.ndarray]:
    """Each metric's values on the bootstrap resamples: the same resamples, for the same
    `resampling`, from which `bootstrap_metrics` takes its intervals (NaN where undefined)."""
    _, _, distribution = resample_table(truth, predictions, resampling or Resampling())
    return distribution


def bootstrap_metrics(
    truth: Truth,
    predictions: Predictions,
    resampling: Resampling | None = None,
    method: str = "percentile",
) -> dict[str, MetricInterval]:
    """Each metric's test-set value with a bootstrap interval over resampled test rows.

    A resample lacking a class leaves ROC AUC undefined; such resamples are dropped from that
    metric's interval rather than failing it. `method="bca"` adds bias correction and a jackknife
    acceleration (delete-a-group beyond 500 rows; see `jackknife_distribution`).
    """
    resampling = resampling or Resampling()
    if method not in INTERVAL_METHODS:
        raise ValueError(f"unknown interval method '{method}'; use one of {list(INTERVAL_METHODS)}")
    rows, table, distribution = resample_table(truth, predictions, resampling)
    estimates = evaluate_table(rows)
    confidence = resampling.confidence
    if method == "percentile":
        return {
            name: MetricInterval(estimates[name], *percentile_interval(values, confidence), method)
            for name, values in distribution.items()
        }
    # The bias correction compares resamples with the estimate of the same (possibly binned) table.
    centres = evaluate_table(table)
    jackknife = jackknife_distribution(table, resampling.seed)
    return {
        name: MetricInterval(
            estimates[name],
            *bca_interval(
                values, centres[name], jackknife_acceleration(jackknife[name]), confidence
            ),
            method,
        )
        for name, values in distribution.items()
    }


def orient_difference(
    metric: str, champion: np.ndarray | float, challenger: np.ndarray | float
) -> Any:
    """Challenger minus champion, negated for losses, so positive always favours the challenger."""
    return (
        np.subtract(champion, challenger)
        if metric in LOWER_IS_BETTER
        else np.subtract(challenger, champion)
    )


def compare_paired(
    truth: Truth,
    metric: str,
    champion: Predictions,
    challenger: Predictions,
    resampling: Resampling | None = None,
) -> PairedComparison:
    """How much better the challenger scores than the champion on the same test rows.

    Both models are scored on identical resamples, so the shared luck of the test set cancels
    and the interval is far narrower than comparing two separate intervals would suggest. The
    interval is a percentile interval at `resampling.confidence`.
    """
    resampling = resampling or Resampling()
    names = check_metric_names(truth.task)
    if metric not in names:
        raise ValueError(
            f"metric '{metric}' does not fit task '{truth.task}'; use one of {list(names)}"
        )
    rows = [
        build_table(truth.task, truth.y_true, model, truth.positive_label, (metric,))
        for model in (champion, challenger)
    ]
    difference = orient_difference(
        metric, evaluate_table(rows[0])[metric], evaluate_table(rows[1])[metric]
    )
    tables, _ = compress_tables(rows, resampling.n_resamples)
    champion_values, challenger_values = (
        d[metric] for d in bootstrap_distributions(tables, resampling.n_resamples, resampling.seed)
    )
    resampled = orient_difference(metric, champion_values, challenger_values)
    defined = resampled[~np.isnan(resampled)]
    low, high = percentile_interval(resampled, resampling.confidence)
    return PairedComparison(
        metric=metric,
        difference=float(difference),
        low=low,
        high=high,
        probability_better=float(np.mean(defined > 0)) if defined.size else np.nan,
    )
