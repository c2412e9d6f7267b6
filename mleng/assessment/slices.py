"""Metrics per slice of the test rows (per value of a column), each with a bootstrap interval.

A model can be good on average and poor for one group; the interval says whether a gap between
groups is larger than the luck of a small group. Groups smaller than `min_group_size` are still
reported, but marked, because their intervals are wide and their estimates unstable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from mleng.evaluation import MetricInterval, Predictions, Resampling, Truth, bootstrap_metrics

MISSING = "(missing)"
OTHER = "(other)"
NUMERIC_BINS = 5
MAX_GROUPS = 20  # per slice column: quantile bins, or the largest levels and "(other)"


@dataclass(frozen=True)
class SliceMetric:
    """One group's metrics with intervals; `small` marks groups too small to trust."""

    column: str
    group: str  # the value as text, a quantile bin like "(0.5, 2.0]", "(missing)" or "(other)"
    rows: int
    metrics: dict[str, MetricInterval]
    small: bool


def group_rows(values: pd.Series, max_groups: int) -> dict[str, np.ndarray]:
    """Row positions per group label, in reading order.

    A numeric or date column with more than `max_groups` distinct values is cut into quantile
    bins, since per-value slices of a continuous column would be single rows; other columns keep
    their `max_groups - 1` largest levels and pool the rest as "(other)", so thousands of rare
    levels do not bury the groups worth reading. Ordered values (numbers, dates, bins) read in
    their order, other levels largest first; missing values come last.
    """
    values = values.reset_index(drop=True)
    ordered = pd.api.types.is_datetime64_any_dtype(values) or (
        pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    )
    if ordered and values.nunique() > max_groups:
        bins = pd.qcut(values, NUMERIC_BINS, duplicates="drop")
        labels = bins.astype(str).where(values.notna(), MISSING)
        order = [str(interval) for interval in bins.cat.categories]
    else:
        labels = values.astype(str).where(values.notna(), MISSING)
        sizes = labels[labels != MISSING].value_counts()
        order = list(sizes.index[: max_groups - 1] if len(sizes) > max_groups else sizes.index)
        if ordered:
            value_of = dict(zip(labels, values, strict=True))
            order.sort(key=value_of.__getitem__)
        labels = labels.where(labels.isin(order) | (labels == MISSING), OTHER)
    positions = {label: np.flatnonzero((labels == label).to_numpy()) for label in order}
    positions |= {label: np.flatnonzero((labels == label).to_numpy()) for label in (OTHER, MISSING)}
    return {label: rows for label, rows in positions.items() if len(rows)}


def fix_classes(task: str, y_true: np.ndarray, predictions: Predictions) -> Predictions:
    """Predictions that name their classes, so a slice holding one class is still scored.

    Without the model's classes, a slice's labels would be inferred from its own rows alone.
    """
    if task == "regression" or predictions.classes is not None:
        return predictions
    seen = np.concatenate([y_true, np.asarray(predictions.y_pred).reshape(-1)])
    return replace(predictions, classes=pd.Index(seen).unique().sort_values().to_numpy())


def measure_slices(
    truth: Truth,
    predictions: Predictions,
    groups: pd.DataFrame,
    columns: Sequence[str],
    resampling: Resampling | None = None,
    min_group_size: int = 30,
) -> list[SliceMetric]:
    """Per group of each column in `columns`, the task's metrics with bootstrap intervals.

    `groups` holds the test rows' columns in the same order as `truth.y_true` (its index is
    ignored); a column gives at most `MAX_GROUPS` groups. Every group is resampled with the same
    `resampling`, so a rerun gives the same intervals.
    """
    y_true = np.asarray(truth.y_true).reshape(-1)
    if len(groups) != len(y_true):
        raise ValueError(
            f"groups has {len(groups)} rows for {len(y_true)} test rows; "
            "pass the test rows' columns"
        )
    missing = [column for column in columns if column not in groups.columns]
    if missing:
        raise ValueError(f"slice columns {missing} are not in the test rows' columns")
    predictions = fix_classes(truth.task, y_true, predictions)
    slices = []
    for column in columns:
        for group, rows in group_rows(groups[column], MAX_GROUPS).items():
            metrics = bootstrap_metrics(
                replace(truth, y_true=y_true[rows]), predictions.select(rows), resampling
            )
            small = len(rows) < min_group_size
            slices.append(SliceMetric(column, group, len(rows), metrics, small))
    return slices
