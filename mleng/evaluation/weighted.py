"""Metrics for many resamples at once: a resample is a row of weights over the table's rows."""

from __future__ import annotations

import numpy as np

from mleng.evaluation.tables import MetricTable, Ranking


def weighted_roc_auc(ranking: Ranking, weights: np.ndarray) -> np.ndarray:
    """ROC AUC under each row of `weights`, NaN where a resample lacks a class.

    Rows were sorted by score once; per run of tied scores, AUC credits each positive with the
    negatives strictly below it plus half the negatives tied with it (the Mann-Whitney statistic,
    which is the area under scikit-learn's trapezoidal ROC curve).
    """
    ordered = weights if ranking.order is None else weights[:, ranking.order]
    if ranking.has_ties:
        everything = np.add.reduceat(ordered, ranking.starts, axis=1)
        negatives = np.add.reduceat(ordered * ranking.negative_sorted, ranking.starts, axis=1)
        positives = everything - negatives
        below = np.cumsum(negatives, axis=1)
        below -= 0.5 * negatives  # strictly below plus half the ties
        concordant = np.einsum("ij,ij->i", positives, below)
        pairs = positives.sum(axis=1) * negatives.sum(axis=1)
    else:
        # Without ties a row is a positive or a negative, never both, so no half credit arises.
        below = np.cumsum(ordered * ranking.negative_sorted, axis=1)
        concordant = np.einsum("ij,ij,j->i", ordered, below, ranking.positive_sorted)
        pairs = (ordered @ ranking.positive_sorted) * below[:, -1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(pairs > 0, concordant / np.where(pairs > 0, pairs, 1.0), np.nan)


def evaluate_weights(table: MetricTable, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Every metric of `table` under each row of `weights` (resamples, table rows)."""
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim == 1:
        weights = weights[None, :]
    sums = weights @ table.linear
    totals = weights.sum(axis=1)
    aucs = np.empty((weights.shape[0], len(table.rankings)))
    for column, ranking in enumerate(table.rankings):
        aucs[:, column] = weighted_roc_auc(ranking, weights)
    return table.summarize(sums, totals, aucs)


def evaluate_table(table: MetricTable) -> dict[str, float]:
    """The metrics of the test set itself: every test row counted once."""
    values = evaluate_weights(table, table.counts.astype(np.float64))
    return {name: float(value[0]) for name, value in values.items()}
