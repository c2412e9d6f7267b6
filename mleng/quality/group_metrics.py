"""Per-group model metrics as means of per-row values, so a bootstrap is one vectorised draw."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

from mleng.evaluation.intervals import percentile_interval


@dataclass(frozen=True)
class ModelOutcomes:
    """What a model got for the test rows: the true values, its predictions, its scores for the
    positive label (ROC AUC needs them) and that label (None: the last of the sorted labels)."""

    y_true: np.ndarray
    y_pred: np.ndarray
    y_score: np.ndarray | None = None
    positive_label: object | None = None

    def select(self, rows: np.ndarray) -> ModelOutcomes:
        """The outcomes of the given rows (a mask or positions)."""
        scores = None if self.y_score is None else np.asarray(self.y_score)[rows]
        return ModelOutcomes(
            np.asarray(self.y_true)[rows],
            np.asarray(self.y_pred)[rows],
            scores,
            self.positive_label,
        )


def compute_auc(positives: np.ndarray, scores: np.ndarray) -> np.ndarray | float:
    """ROC AUC by the rank-sum formula, tied scores counted half; rows of 2-D inputs are samples.

    Vectorised over bootstrap draws and free of per-call validation, which costs more than the
    arithmetic when it runs thousands of times.
    """
    positives = np.asarray(positives, dtype=bool)
    ranks = rankdata(scores, axis=-1)
    n_pos = positives.sum(axis=-1)
    n_neg = positives.shape[-1] - n_pos
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = ((ranks * positives).sum(axis=-1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return float(auc) if np.ndim(auc) == 0 else auc


def build_metric_rows(
    metric: str, y_true: np.ndarray, y_pred: np.ndarray, positive: object
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row values and the rows that count, such that the metric is their mean (squared for
    rmse)."""
    everyone = np.ones(len(y_true), dtype=bool)
    if metric == "accuracy":
        return (y_true == y_pred).astype(float), everyone
    if metric == "selection_rate":
        return (y_pred == positive).astype(float), everyone
    if metric == "true_positive_rate":
        return (y_pred == positive).astype(float), y_true == positive
    if metric == "false_positive_rate":
        return (y_pred == positive).astype(float), y_true != positive
    if metric in ("mae", "rmse"):
        error = np.abs(y_pred.astype(float) - y_true.astype(float))
        return (error if metric == "mae" else error**2), everyone
    raise ValueError(
        f"unknown group metric '{metric}'; use accuracy, selection_rate, true_positive_rate, "
        "false_positive_rate, roc_auc, mae or rmse"
    )


def bootstrap_metric(
    metric: str, outcomes: ModelOutcomes, draws: np.ndarray, confidence: float
) -> tuple[float, float, float, int]:
    """The metric, its percentile bootstrap interval over `draws` (rounds x rows), and rows
    counted; `outcomes.positive_label` must be resolved (not None) for the class metrics."""
    y_true, y_pred, y_score = outcomes.y_true, outcomes.y_pred, outcomes.y_score
    positive = outcomes.positive_label
    nan = float("nan")
    if metric == "roc_auc":
        positives = y_true == positive
        if y_score is None or positives.all() or not positives.any():
            return nan, nan, nan, 0
        value = compute_auc(positives, y_score)
        samples = compute_auc(positives[draws], y_score[draws])
        samples = samples[np.isfinite(samples)]
        counted_rows = int(min(positives.sum(), (~positives).sum()))
    else:
        values, counted = build_metric_rows(metric, y_true, y_pred, positive)
        if not counted.any():
            return nan, nan, nan, 0
        value = float(values[counted].mean())
        weights = counted[draws]
        totals = weights.sum(axis=1)
        samples = ((values[draws] * weights).sum(axis=1) / np.maximum(totals, 1))[totals > 0]
        counted_rows = int(counted.sum())
        if metric == "rmse":
            value, samples = float(np.sqrt(value)), np.sqrt(samples)
    lower, upper = percentile_interval(np.asarray(samples, dtype=float), confidence)
    return value, lower, upper, counted_rows
