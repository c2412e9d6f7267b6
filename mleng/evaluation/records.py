"""The evaluation's vocabulary: what a model said about the test rows and what an interval
claims."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
class Truth:
    """The test rows' true labels or values, with how to score them: the task and, for binary
    tasks, the label that counts as positive (None: the second class, as scikit-learn assumes)."""

    task: str
    y_true: Any
    positive_label: Any = None


@dataclass(frozen=True)
class Resampling:
    """The bootstrap behind every interval: `n_resamples` resamples of the test rows drawn from
    `seed`, and the `confidence` of the intervals read from them."""

    n_resamples: int = 1000
    confidence: float = 0.95
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_resamples < 1:
            raise ValueError(f"n_resamples must be at least 1, got {self.n_resamples}")
        if not 0.0 < self.confidence < 1.0:
            raise ValueError(f"confidence must lie strictly between 0 and 1, got {self.confidence}")


@dataclass(frozen=True)
class Predictions:
    """What a fitted model says about the test rows."""

    y_pred: np.ndarray  # predicted labels (classification) or values (regression)
    proba: np.ndarray | None = None  # (n, n_classes) predict_proba columns aligned with `classes`
    classes: np.ndarray | None = None

    def select(self, rows: np.ndarray) -> Predictions:
        """The predictions of the given rows (a mask or positions); the classes stay those of
        the whole test set."""
        proba = None if self.proba is None else np.asarray(self.proba)[rows]
        return Predictions(np.asarray(self.y_pred)[rows], proba, self.classes)


@dataclass(frozen=True)
class MetricInterval:
    """A metric's point estimate on the test set and its bootstrap confidence interval."""

    estimate: float
    low: float
    high: float
    method: str  # "percentile" or "bca"


@dataclass(frozen=True)
class PairedComparison:
    """Challenger against champion on the same resamples; positive `difference` favours the
    challenger.

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
