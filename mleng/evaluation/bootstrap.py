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
    check_metric_names,
)
from mleng.evaluation.resampling import bootstrap_distributions, jackknife_distribution
from mleng.evaluation.tables import build_table
from mleng.evaluation.weighted import evaluate_table


def check_resampling(n_resamples: int, confidence: float) -> None:
    """Reject settings under which an interval means nothing."""
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")


def compute_metrics(
    task: str, y_true: Any, predictions: Predictions, positive_label: Any = None
) -> dict[str, float]:
    """Every metric of `task` on the test set, equal to scikit-learn's metric functions.

    ROC AUC and log loss need probabilities and are left out when `predictions.proba` is None.
    f1 and ROC AUC score `positive_label` (default: the second class, as scikit-learn assumes).
    """
    return evaluate_table(build_table(task, y_true, predictions, positive_label))


def bootstrap_distribution(
    task: str,
    y_true: Any,
    predictions: Predictions,
    positive_label: Any = None,
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Each metric's values on the bootstrap resamples: the same resamples, for the same seed,
    from which `bootstrap_metrics` takes its percentile intervals (NaN where undefined)."""
    rows = build_table(task, y_true, predictions, positive_label)
    [table], _ = compress_tables([rows], n_resamples)
    [distribution] = bootstrap_distributions([table], n_resamples, seed)
    return distribution


def bootstrap_metrics(
    task: str,
    y_true: Any,
    predictions: Predictions,
    positive_label: Any = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    method: str = "percentile",
) -> dict[str, MetricInterval]:
    """Each metric's test-set value with a bootstrap interval over resampled test rows.

    A resample lacking a class leaves ROC AUC undefined; such resamples are dropped from that
    metric's interval rather than failing it. `method="bca"` adds bias correction and a jackknife
    acceleration (delete-a-group beyond 500 rows; see `jackknife_distribution`).
    """
    check_resampling(n_resamples, confidence)
    if method not in INTERVAL_METHODS:
        raise ValueError(f"unknown interval method '{method}'; use one of {list(INTERVAL_METHODS)}")
    rows = build_table(task, y_true, predictions, positive_label)
    estimates = evaluate_table(rows)
    [table], _ = compress_tables([rows], n_resamples)
    [distribution] = bootstrap_distributions([table], n_resamples, seed)
    if method == "percentile":
        return {
            name: MetricInterval(estimates[name], *percentile_interval(values, confidence), method)
            for name, values in distribution.items()
        }
    # The bias correction compares resamples with the estimate of the same (possibly binned) table.
    centres = evaluate_table(table)
    jackknife = jackknife_distribution(table, seed)
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
    task: str,
    metric: str,
    y_true: Any,
    champion: Predictions,
    challenger: Predictions,
    positive_label: Any = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> PairedComparison:
    """How much better the challenger scores than the champion on the same test rows.

    Both models are scored on identical resamples, so the shared luck of the test set cancels
    and the interval is far narrower than comparing two separate intervals would suggest.
    """
    check_resampling(n_resamples, confidence)
    if metric not in check_metric_names(task):
        raise ValueError(
            f"metric '{metric}' does not fit task '{task}'; use one of {list(check_metric_names(task))}"
        )
    rows = [
        build_table(task, y_true, model, positive_label, (metric,))
        for model in (champion, challenger)
    ]
    difference = orient_difference(
        metric, evaluate_table(rows[0])[metric], evaluate_table(rows[1])[metric]
    )
    tables, _ = compress_tables(rows, n_resamples)
    champion_values, challenger_values = (
        d[metric] for d in bootstrap_distributions(tables, n_resamples, seed)
    )
    resampled = orient_difference(metric, champion_values, challenger_values)
    defined = resampled[~np.isnan(resampled)]
    low, high = percentile_interval(resampled, confidence)
    return PairedComparison(
        metric=metric,
        difference=float(difference),
        low=low,
        high=high,
        probability_better=float(np.mean(defined > 0)) if defined.size else np.nan,
    )
