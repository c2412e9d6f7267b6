"""Reduce test rows to a metric table: the few per-row columns every metric is a function of.

Once the labels are encoded and each probability column is sorted, any resample's metrics
are weighted sums over the table's rows, so thousands of resamples cost a matrix product
instead of thousands of scikit-learn calls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from mleng.evaluation.records import PROBABILITY_METRICS, Predictions, check_metric_names
from mleng.evaluation.summaries import (
    classification_columns,
    summarize_classification,
    summarize_regression,
)

Summarize = Callable[[np.ndarray, np.ndarray, np.ndarray], dict[str, np.ndarray]]


@dataclass(frozen=True)
class Ranking:
    """One score column sorted once, so a resample's ROC AUC is a pass of cumulative sums."""

    order: np.ndarray | None  # row positions in ascending score order; None if rows are sorted
    starts: np.ndarray  # first sorted position of each run of tied scores
    negative_sorted: np.ndarray  # 1.0 where the sorted row is a negative, else 0.0
    positive_sorted: np.ndarray  # 1.0 where the sorted row is a positive, else 0.0
    tie_codes: np.ndarray  # per row, the index of its run of tied scores

    @property
    def has_ties(self) -> bool:
        return len(self.starts) < len(self.tie_codes)


@dataclass(frozen=True)
class MetricTable:
    """Rows, or groups of identical rows, holding just what the requested metrics need.

    `counts` says how many test rows each table row stands for and `inverse` maps every test
    row to its table row; left out (before any grouping) they are ones and the identity. Each
    score column is ranked once, on construction (`rankings`).
    """

    metrics: tuple[str, ...]
    linear: np.ndarray  # (rows, columns) values whose weighted sums feed the metrics
    continuous: tuple[int, ...]  # linear columns not fixed by `keys` (averaged when grouping)
    keys: np.ndarray  # (rows, keys) integer codes that grouping must keep exact
    key_sizes: tuple[int, ...]
    scores: np.ndarray  # (rows, rankings) scores ranked for ROC AUC
    positives: np.ndarray  # (rows, rankings) whether the row is a positive for that ranking
    summarize: Summarize
    counts: np.ndarray | None = None  # set on construction; None gives one row per table row
    inverse: np.ndarray | None = None  # set on construction; None gives the identity
    rankings: tuple[Ranking, ...] = field(init=False)

    def __post_init__(self) -> None:
        n = len(self.linear)
        object.__setattr__(self, "linear", np.ascontiguousarray(self.linear))
        if self.counts is None:
            object.__setattr__(self, "counts", np.ones(n, dtype=np.int64))
        if self.inverse is None:
            object.__setattr__(self, "inverse", np.arange(n, dtype=np.int64))
        rankings = tuple(
            rank_scores(self.scores[:, j], self.positives[:, j])
            for j in range(self.scores.shape[1])
        )
        object.__setattr__(self, "rankings", rankings)

    @property
    def n_rows(self) -> int:
        """How many test rows the table stands for."""
        return len(self.inverse)

    @property
    def is_grouped(self) -> bool:
        return len(self.counts) < len(self.inverse)


def rank_scores(scores: np.ndarray, positives: np.ndarray) -> Ranking:
    """Sort a score column once and mark its runs of ties, which share ROC AUC credit."""
    already_sorted = bool(np.all(scores[1:] >= scores[:-1]))
    # The order within a run of ties is irrelevant, so the default (unstable) sort will do.
    order = None if already_sorted else np.argsort(scores)
    ordered = scores if order is None else scores[order]
    new_run = np.ones(len(scores), dtype=bool)
    new_run[1:] = ordered[1:] != ordered[:-1]
    run_index = np.cumsum(new_run) - 1
    if order is None:
        tie_codes = run_index
    else:
        tie_codes = np.empty(len(scores), dtype=np.int64)
        tie_codes[order] = run_index
    positive_sorted = positives if order is None else positives[order]
    return Ranking(
        order=order,
        starts=np.flatnonzero(new_run),
        negative_sorted=(~positive_sorted).astype(np.float64),
        positive_sorted=positive_sorted.astype(np.float64),
        tie_codes=tie_codes,
    )


def permute_rows(table: MetricTable, order: np.ndarray) -> MetricTable:
    """The same table with its rows in `order`; `inverse` follows each test row to its new place.

    Tables resampled together must share one row order, since they share one weight matrix.
    """
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order))
    return replace(
        table,
        linear=table.linear[order],
        keys=table.keys[order],
        scores=table.scores[order],
        positives=table.positives[order],
        counts=table.counts[order],
        inverse=position[table.inverse],
    )


def encode_labels(values: Any, labels: np.ndarray, what: str) -> np.ndarray:
    """Integer codes of `values` in `labels`, or an error naming the labels that do not fit.

    One vectorised comparison per label beats hashing a million strings by an order of
    magnitude, and works for numpy arrays and pandas Series (including Arrow strings) alike.
    """
    if len(labels) <= 64:
        codes = np.full(len(values), -1, dtype=np.int64)
        for index, label in enumerate(labels.tolist()):
            codes[np.asarray(values == label, dtype=bool)] = index
    else:
        codes = pd.Categorical(np.asarray(values), categories=pd.Index(labels)).codes.astype(
            np.int64
        )
    if (codes < 0).any():
        unknown = pd.unique(pd.Series(np.asarray(values)[codes < 0]))[:5]
        raise ValueError(
            f"{what} holds labels {list(unknown)} that are not among the classes {list(labels)}; "
            "check that the test labels were encoded like the training labels and contain no "
            "missing values"
        )
    return codes


def resolve_labels(task: str, y_true: Any, predictions: Predictions) -> np.ndarray:
    """The class labels in column order: the model's `classes` if given, else the sorted labels
    seen."""
    if predictions.classes is not None:
        labels = np.asarray(predictions.classes)
    else:
        seen = np.concatenate([np.asarray(y_true), np.asarray(predictions.y_pred).reshape(-1)])
        labels = pd.Index(seen).unique().sort_values().to_numpy()
    if task == "binary" and len(labels) != 2:
        raise ValueError(
            f"a binary task needs exactly two classes, found {len(labels)}: {list(labels)[:10]}; "
            "use task 'multiclass' or check the target column"
        )
    if len(labels) < 2:
        raise ValueError(f"classification needs at least two classes, found {list(labels)}")
    return labels


def resolve_positive(labels: np.ndarray, positive_label: Any) -> int:
    """Index of the positive class; without one, the second label, as scikit-learn assumes."""
    if positive_label is None:
        return 1
    matches = [index for index, label in enumerate(labels.tolist()) if label == positive_label]
    if not matches:
        raise ValueError(
            f"positive_label {positive_label!r} is not one of the classes {list(labels)}; "
            "set the dataset card's positive_label to one of them (mind strings versus numbers)"
        )
    return matches[0]


def check_probabilities(proba: Any, n: int, labels: np.ndarray) -> np.ndarray:
    """The probability matrix as floats, or an error if its shape or values cannot be
    probabilities."""
    matrix = np.asarray(proba)
    if not np.issubdtype(matrix.dtype, np.floating):
        matrix = matrix.astype(np.float64)
    if matrix.ndim != 2 or matrix.shape != (n, len(labels)):
        raise ValueError(
            f"proba must have shape (rows, classes) = ({n}, {len(labels)}), got {matrix.shape}; "
            "pass predict_proba's output with the model's classes_"
        )
    if not np.isfinite(matrix).all() or matrix.min() < 0 or matrix.max() > 1:
        raise ValueError(
            "proba holds values outside [0, 1] or non-finite values; pass predict_proba's output"
        )
    return matrix


def build_classification_table(
    task: str, y_true: Any, predictions: Predictions, positive_label: Any, metrics: tuple[str, ...]
) -> MetricTable:
    """Per-row class indicators, log loss and ranking scores for a binary or multiclass task."""
    n = len(y_true)
    labels = resolve_labels(task, y_true, predictions)
    truth = encode_labels(y_true, labels, "y_true")
    predicted = encode_labels(np.asarray(predictions.y_pred).reshape(-1), labels, "y_pred")
    n_classes = len(labels)
    positive = resolve_positive(labels, positive_label) if task == "binary" else None
    proba = None
    if PROBABILITY_METRICS & set(metrics):
        if predictions.proba is None:
            raise ValueError(
                f"metrics {sorted(PROBABILITY_METRICS & set(metrics))} need predicted probabilities"
            )
        proba = check_probabilities(predictions.proba, n, labels)

    layout = classification_columns(
        n_classes, with_loss="log_loss" in metrics and proba is not None
    )
    linear = np.zeros((n, 3 * n_classes + ("loss" in layout)))
    rows = np.arange(n)
    linear[rows, truth] = truth == predicted
    linear[rows, n_classes + truth] = 1.0
    linear[rows, 2 * n_classes + predicted] = 1.0
    continuous: tuple[int, ...] = ()
    if "loss" in layout:
        # scikit-learn clips to machine precision of the probabilities' dtype before the log.
        eps = np.finfo(proba.dtype).eps  # type: ignore[union-attr]
        linear[:, layout["loss"]] = -np.log(np.clip(proba[rows, truth], eps, 1 - eps))  # type: ignore[index]
        continuous = (int(layout["loss"]),)  # type: ignore[call-overload]
    if "roc_auc" in metrics and proba is not None:
        ranked = [positive] if positive is not None else list(range(n_classes))
        scores = proba[:, ranked].astype(np.float64)
        positives = truth[:, None] == np.asarray(ranked)[None, :]
    else:
        scores, positives = np.empty((n, 0)), np.empty((n, 0), dtype=bool)
    return MetricTable(
        metrics=metrics,
        linear=linear,
        continuous=continuous,
        keys=np.column_stack([truth, predicted]),
        key_sizes=(n_classes, n_classes),
        scores=np.ascontiguousarray(scores),
        positives=positives,
        summarize=partial(
            summarize_classification, n_classes=n_classes, positive=positive, metrics=metrics
        ),
    )


def build_regression_table(
    y_true: np.ndarray, predictions: Predictions, metrics: tuple[str, ...]
) -> MetricTable:
    """Per-row centred target, its square and the errors for a regression task."""
    target = np.asarray(y_true, dtype=np.float64)
    predicted = np.asarray(predictions.y_pred, dtype=np.float64).reshape(-1)
    if len(predicted) != len(target):
        raise ValueError(f"y_pred has {len(predicted)} values for {len(target)} test rows")
    if not (np.isfinite(target).all() and np.isfinite(predicted).all()):
        raise ValueError(
            "regression targets and predictions must be finite numbers; drop or impute missing "
            "targets"
        )
    centred = target - target.mean()
    error = target - predicted
    n = len(target)
    return MetricTable(
        metrics=metrics,
        linear=np.column_stack([centred, centred**2, error**2, np.abs(error)]),
        continuous=(0, 1, 2, 3),
        keys=np.empty((n, 0), dtype=np.int64),
        key_sizes=(),
        scores=np.empty((n, 0)),
        positives=np.empty((n, 0), dtype=bool),
        summarize=partial(summarize_regression, metrics=metrics),
    )


def build_table(
    task: str,
    y_true: Any,
    predictions: Predictions,
    positive_label: Any = None,
    metrics: tuple[str, ...] | None = None,
) -> MetricTable:
    """The metric table for `task`; by default every metric the predictions allow."""
    names = check_metric_names(task)
    # A pandas Series stays one: comparing Arrow strings in place avoids a costly conversion.
    truth = y_true if isinstance(y_true, pd.Series | pd.Index) else np.asarray(y_true).reshape(-1)
    n_predicted = len(np.asarray(predictions.y_pred).reshape(-1))
    if len(truth) == 0:
        raise ValueError("the test set is empty; there is nothing to evaluate")
    if n_predicted != len(truth):
        raise ValueError(f"y_pred has {n_predicted} values for {len(truth)} test rows")
    if metrics is None:
        metrics = tuple(
            m for m in names if predictions.proba is not None or m not in PROBABILITY_METRICS
        )
    unknown = sorted(set(metrics) - set(names))
    if unknown:
        raise ValueError(f"metrics {unknown} do not fit task '{task}'; use any of {list(names)}")
    if task == "regression":
        return build_regression_table(truth, predictions, metrics)
    return build_classification_table(task, truth, predictions, positive_label, metrics)
