"""The evaluation's vocabulary: what a model said about the test rows and what an interval claims."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mleng.card import CLASSIFICATION_METRICS, REGRESSION_METRICS

METRIC_NAMES: dict[str, tuple[str, ...]] = {
    "binary": CLASSIFICATION_METRICS,
    "multiclass": CLASSIFICATION_METRICS,
    "regression": REGRESSION_METRICS,
}
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae"})
PROBABILITY_METRICS = frozenset({"roc_auc", "log_loss"})
INTERVAL_METHODS = ("percentile", "bca")


@dataclass(frozen=True)
class Predictions:
    """What a fitted model says about the test rows."""

    y_pred: np.ndarray  # predicted labels (classification) or values (regression)
    proba: np.ndarray | None = None  # (n, n_classes) predict_proba columns aligned with `classes`
    classes: np.ndarray | None = None


@dataclass(frozen=True)
class MetricInterval:
    """A metric's point estimate on the test set and its bootstrap confidence interval."""

    estimate: float
    low: float
    high: float
    method: str  # "percentile" or "bca"


@dataclass(frozen=True)
class PairedComparison:
    """Challenger against champion on the same resamples; positive `difference` favours the challenger.

    For losses and errors the difference is champion minus challenger, so the sign always reads
    the same way whichever direction the metric improves in.
    """

    metric: str
    difference: float
    low: float
    high: float
    probability_better: float  # share of resamples where the challenger is strictly better


def check_metric_names(task: str) -> tuple[str, ...]:
    """The metric names of `task`, or an error naming the tasks that exist."""
    if task not in METRIC_NAMES:
        raise ValueError(f"unknown task '{task}'; use one of {sorted(METRIC_NAMES)}")
    return METRIC_NAMES[task]
