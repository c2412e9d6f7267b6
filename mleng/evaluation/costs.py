"""The expected cost of a model's decisions, from the card's `costs:` block, with intervals.

Every decision has a cost: a cell of the cost matrix for a classifier (true label by decided
label), the absolute error weighted by its side for a regressor. The expected cost per decision
is their mean over the test rows; its bootstrap interval resamples rows exactly as the metric
intervals do (the same weight matrices, the same seed), and two models compared on the same
resamples give a paired interval of the saving, far narrower than two separate intervals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mleng.card.costs import CostSettings
from mleng.errors import CardError
from mleng.evaluation.intervals import percentile_interval
from mleng.evaluation.records import MetricInterval, PairedComparison, Predictions, Resampling
from mleng.evaluation.resampling import bootstrap_distributions
from mleng.evaluation.tables import MetricTable

EXPECTED_COST = "expected_cost"
PER_DECISIONS = 1000  # the reports speak of the cost of 1,000 decisions


@dataclass(frozen=True)
class CostMatrix:
    """`values[i, j]`: the cost of deciding `classes[j]` when the truth is `classes[i]`."""

    classes: np.ndarray
    values: np.ndarray

    def expected_costs(self, proba: np.ndarray) -> np.ndarray:
        """(rows, classes): the expected cost of deciding each class under `proba`."""
        return np.asarray(proba, dtype=float) @ self.values

    def decide(self, proba: np.ndarray) -> np.ndarray:
        """The Bayes decision: the class whose expected cost is lowest (ties: the first)."""
        return self.classes[np.argmin(self.expected_costs(proba), axis=1)]


def build_cost_matrix(costs: CostSettings, classes: Any, positive_label: Any = None) -> CostMatrix:
    """The card's costs over the target's `classes` (in the model's `classes_` order).

    Binary: the positive label is the card's (default: the second class, as scikit-learn).
    Multiclass: every label of the matrix must be a target label and every target label must
    have a row; matched by their text, so YAML's `1` finds the label 1 or "1".
    """
    labels = np.asarray(classes)
    if costs.kind == "binary":
        if len(labels) != 2:
            raise CardError(f"binary costs need two classes, the target has {labels.tolist()}")
        positive = labels[1] if positive_label is None else positive_label
        is_positive = labels == positive
        if not is_positive.any():
            raise CardError(f"positive_label {positive!r} is not a target label {labels.tolist()}")
        values = np.empty((2, 2))
        for i, true_positive in enumerate(is_positive):
            for j, decided_positive in enumerate(is_positive):
                values[i, j] = binary_cell(costs, bool(true_positive), bool(decided_positive))
        return CostMatrix(labels, values)
    if costs.kind != "multiclass" or costs.matrix is None:
        raise CardError(f"{costs.kind} costs have no cost matrix")
    return CostMatrix(labels, read_matrix(costs.matrix, labels))


def binary_cell(costs: CostSettings, true_positive: bool, decided_positive: bool) -> float:
    """The binary cost of one (truth, decision) pair."""
    if true_positive:
        return costs.true_positive if decided_positive else float(costs.false_negative)
    return float(costs.false_positive) if decided_positive else costs.true_negative


def read_matrix(matrix: dict[Any, dict[Any, float]], labels: np.ndarray) -> np.ndarray:
    """The card's nested mapping as an array over `labels`, or an error naming what does not fit."""
    by_text = {str(label): index for index, label in enumerate(labels.tolist())}
    named = {str(key) for key in matrix} | {str(k) for row in matrix.values() for k in row}
    unknown = sorted(named - set(by_text))
    if unknown:
        raise CardError(
            f"costs.matrix names labels {unknown} that the target does not hold; the target's "
            f"labels are {sorted(by_text)}: fix the matrix keys in the card"
        )
    missing_rows = sorted(set(by_text) - {str(key) for key in matrix})
    if missing_rows:
        raise CardError(
            f"costs.matrix has no row for the target labels {missing_rows}; add "
            "{true_label: {predicted_label: cost}} for each of them"
        )
    values = np.full((len(labels), len(labels)), np.nan)
    for true_label, row in matrix.items():
        for decided, cost in row.items():
            values[by_text[str(true_label)], by_text[str(decided)]] = float(cost)
    np.fill_diagonal(values, np.where(np.isnan(np.diag(values)), 0.0, np.diag(values)))
    if np.isnan(values).any():
        gaps = [
            f"{labels[i]}->{labels[j]}" for i, j in zip(*np.nonzero(np.isnan(values)), strict=True)
        ]
        raise CardError(
            f"costs.matrix lacks the cost of the mistakes {gaps[:10]} (true->predicted); give "
            "every off-diagonal cell"
        )
    return values


def compute_row_costs(
    costs: CostSettings, y_true: Any, predictions: Predictions, matrix: CostMatrix | None = None
) -> np.ndarray:
    """The cost of each test row's decision: the matrix cell, or the side-weighted error."""
    truth = np.asarray(y_true)
    if costs.kind == "regression":
        error = np.asarray(predictions.y_pred, dtype=float) - truth.astype(float)
        over, under = float(costs.over_prediction), float(costs.under_prediction)
        return over * np.clip(error, 0, None) + under * np.clip(-error, 0, None)
    if matrix is None:
        raise ValueError("classification costs need the cost matrix of the model's classes")
    return matrix.values[
        class_positions(truth, matrix.classes), class_positions(predictions.y_pred, matrix.classes)
    ]


def class_positions(values: Any, classes: np.ndarray) -> np.ndarray:
    """Each value's position in `classes`, or an error naming values outside them."""
    values = np.asarray(values)
    order = np.argsort(classes, kind="stable")
    found = np.searchsorted(classes[order], values)
    found = np.clip(found, 0, len(classes) - 1)
    positions = order[found]
    unknown = classes[positions] != values
    if unknown.any():
        raise ValueError(
            f"labels {sorted(set(values[unknown].tolist()))[:5]} are not among the classes "
            f"{classes.tolist()} the costs were built for"
        )
    return positions


def decide_with_costs(predictions: Predictions, matrix: CostMatrix) -> Predictions:
    """A baseline's predictions decided by minimum expected cost on its own probabilities, so a
    constant rule is judged at its cheapest constant rather than at its majority class."""
    if predictions.proba is None or predictions.classes is None:
        return predictions
    proba = reorder_columns(predictions.proba, predictions.classes, matrix.classes)
    return Predictions(matrix.decide(proba), predictions.proba, predictions.classes)


def reorder_columns(proba: np.ndarray, classes: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Probability columns in the order of `order` (classes a model never saw get 0)."""
    positions = {label: index for index, label in enumerate(np.asarray(classes).tolist())}
    columns = [
        proba[:, positions[label]] if label in positions else np.zeros(len(proba))
        for label in np.asarray(order).tolist()
    ]
    return np.column_stack(columns)


def summarize_mean(sums: np.ndarray, totals: np.ndarray, aucs: np.ndarray) -> dict[str, Any]:
    """The weighted mean cost of each resample (the table's one linear column)."""
    return {EXPECTED_COST: sums[:, 0] / totals}


def build_cost_table(row_costs: np.ndarray) -> MetricTable:
    """A metric table whose only metric is the mean of `row_costs`, so resampling it shares the
    bootstrap machinery (and the draws, for one seed) of every other metric."""
    n = len(row_costs)
    return MetricTable(
        metrics=(EXPECTED_COST,),
        linear=np.asarray(row_costs, dtype=float).reshape(n, 1),
        continuous=(0,),
        keys=np.zeros((n, 0), dtype=np.int64),
        key_sizes=(),
        scores=np.zeros((n, 0)),
        positives=np.zeros((n, 0), dtype=bool),
        summarize=summarize_mean,
    )


def bootstrap_expected_cost(row_costs: np.ndarray, resampling: Resampling) -> MetricInterval:
    """The mean cost per decision with a percentile bootstrap interval over test rows."""
    [distribution] = bootstrap_distributions(
        [build_cost_table(row_costs)], resampling.n_resamples, resampling.seed
    )
    low, high = percentile_interval(distribution[EXPECTED_COST], resampling.confidence)
    return MetricInterval(float(np.mean(row_costs)), low, high, "percentile")


def compare_costs_paired(
    reference: np.ndarray, candidate: np.ndarray, resampling: Resampling
) -> PairedComparison:
    """How much cheaper per decision `candidate` is than `reference` on the same resamples
    (positive: `candidate` saves)."""
    tables = [build_cost_table(reference), build_cost_table(candidate)]
    ref, cand = (
        d[EXPECTED_COST]
        for d in bootstrap_distributions(tables, resampling.n_resamples, resampling.seed)
    )
    saving = ref - cand
    low, high = percentile_interval(saving, resampling.confidence)
    return PairedComparison(
        metric=EXPECTED_COST,
        difference=float(np.mean(reference) - np.mean(candidate)),
        low=low,
        high=high,
        probability_better=float(np.mean(saving > 0)),
    )


def per_thousand(value: float) -> float:
    """A cost per decision as the cost of 1,000 decisions."""
    return value * PER_DECISIONS
