"""The decision threshold of a binary model, tuned on out-of-fold predictions and shipped inside it.

A classifier that predicts "positive when its probability is at least 0.5" serves a rare class
badly: on Adult-like data with 5% positives it flags few of them, and its balanced accuracy sits
far below what the same probabilities allow. When the card sets `imbalance.threshold_metric`,
the flow
1. refits the winning configuration on each CV training fold (the search's own folds, augmented
   as in the search) and predicts the rows each fold held out, so every threshold is judged on
   rows the model did not see and test rows stay untouched;
2. picks the threshold that maximises the metric on those predictions (`tune_threshold`);
3. wraps the refit pipeline in scikit-learn's `FixedThresholdClassifier`, so `predict` of the
   registered model decides exactly as it was validated, in the flow and behind the service.

`unwrap_pipeline` gives the pipeline inside, for code that inspects steps (the final estimator
for robustness and neuron coverage, the step list for the model card).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import balanced_accuracy_score, f1_score
from sklearn.model_selection import FixedThresholdClassifier

from mleng.card import DatasetCard
from mleng.card.imbalance import ThresholdMetric
from mleng.data.split import cap_rows_at
from mleng.errors import CardError
from mleng.evaluation.costs import EXPECTED_COST, CostMatrix, build_cost_matrix
from mleng.training.cv import FoldSetup, fit_fold_models


@dataclass(frozen=True)
class ThresholdChoice:
    """The decision threshold chosen on validation rows and what it bought there."""

    threshold: float  # predict positive when its probability is at least this
    metric: str
    score: float  # the metric on validation rows at `threshold`
    score_at_half: float  # the metric on validation rows at the default 0.5


def count_at_thresholds(
    positives: np.ndarray, proba_positive: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each distinct probability as a threshold ("positive if at least"), highest first, with
    the true positives and the rows flagged there."""
    order = np.argsort(-proba_positive, kind="stable")
    ordered, hits = proba_positive[order], positives[order]
    last_of_run = np.r_[ordered[1:] != ordered[:-1], True]
    true_positives = np.cumsum(hits)[last_of_run].astype(float)
    flagged = (np.flatnonzero(last_of_run) + 1).astype(float)
    return ordered[last_of_run], true_positives, flagged


def score_thresholds(
    positives: np.ndarray, proba_positive: np.ndarray, metric: str
) -> tuple[np.ndarray, np.ndarray]:
    """Each distinct probability as a threshold ("positive if at least") and the metric there."""
    cuts, true_positives, flagged = count_at_thresholds(positives, proba_positive)
    n_positive, n_negative = positives.sum(), len(positives) - positives.sum()
    false_positives = flagged - true_positives
    if metric == "balanced_accuracy":
        values = (true_positives / n_positive + 1 - false_positives / n_negative) / 2
    elif metric == "f1":
        values = 2 * true_positives / (flagged + n_positive)  # 2TP / (2TP + FP + FN)
    else:
        raise ValueError(f"unknown threshold metric '{metric}'; use 'balanced_accuracy' or 'f1'")
    return cuts, values


def tune_threshold(
    y_true: Any,
    proba_positive: Any,
    metric: ThresholdMetric = "balanced_accuracy",
    positive_label: Any = None,
) -> ThresholdChoice:
    """The threshold that maximises `metric` on validation rows; never call it on test rows.

    The cut sits halfway between the best distinct probability and the next lower one, so a new
    row scored between the two is not decided by which side of a seen value it lands on. Ties go
    to the highest threshold. Without `positive_label`, the larger label is positive, as in
    scikit-learn.
    """
    truth = np.asarray(y_true)
    labels = np.unique(truth)
    if len(labels) != 2:
        raise ValueError(
            f"threshold tuning needs both classes in the validation rows, found {list(labels)}"
        )
    positive = labels[1] if positive_label is None else positive_label
    positives = truth == positive
    if not positives.any():
        raise ValueError(f"positive_label {positive!r} is not among the labels {list(labels)}")
    proba = np.asarray(proba_positive, dtype=float)
    cuts, values = score_thresholds(positives, proba, metric)
    best = int(np.argmax(values))
    lower = cuts[best + 1] if best + 1 < len(cuts) else 0.0
    threshold = float((cuts[best] + lower) / 2)
    at_half = predict_with_threshold(proba, 0.5)
    score_at_half = (
        balanced_accuracy_score(positives, at_half)
        if metric == "balanced_accuracy"
        else f1_score(positives, at_half, zero_division=0.0)
    )
    return ThresholdChoice(threshold, metric, float(values[best]), float(score_at_half))


def tune_cost_threshold(
    y_true: Any, proba_positive: Any, matrix: CostMatrix, positive_label: Any = None
) -> ThresholdChoice:
    """The threshold that minimises the mean cost per decision on validation rows.

    Cuts sit halfway between distinct probabilities as in `tune_threshold`; flagging no row at
    all is a candidate too (a false positive may cost more than any positive is worth). Ties go
    to the highest threshold. `score` is the cost per decision there, `score_at_half` at 0.5.
    """
    truth = np.asarray(y_true)
    labels = np.asarray(matrix.classes)
    positive = labels[1] if positive_label is None else positive_label
    positives = truth == positive
    proba = np.asarray(proba_positive, dtype=float)
    cuts, true_positives, flagged = count_at_thresholds(positives, proba)
    totals = cost_of_counts(matrix, positive, positives.sum(), len(positives))
    costs = totals(true_positives, flagged)
    flag_none = totals(np.zeros(1), np.zeros(1))[0]
    best = int(np.argmin(costs))
    if flag_none <= costs[best]:
        top = cuts[0]
        threshold = float((top + 1.0) / 2 if top < 1.0 else np.nextafter(top, np.inf))
        best_cost = flag_none
    else:
        lower = cuts[best + 1] if best + 1 < len(cuts) else 0.0
        threshold, best_cost = float((cuts[best] + lower) / 2), costs[best]
    at_half = predict_with_threshold(proba, 0.5)
    half_cost = totals(np.array([float((at_half & positives).sum())]), np.array([at_half.sum()]))
    n = len(positives)
    return ThresholdChoice(threshold, EXPECTED_COST, float(best_cost / n), float(half_cost[0] / n))


def cost_of_counts(matrix: CostMatrix, positive: Any, n_positive: int, n_rows: int) -> Any:
    """A function of (true positives, rows flagged) giving the total cost of those decisions."""
    labels = list(np.asarray(matrix.classes))
    p, q = labels.index(positive), 1 - labels.index(positive)
    cell = matrix.values

    def total(true_positives: np.ndarray, flagged: np.ndarray) -> np.ndarray:
        false_positives = flagged - true_positives
        false_negatives = n_positive - true_positives
        true_negatives = n_rows - n_positive - false_positives
        return (
            true_positives * cell[p, p]
            + false_positives * cell[q, p]
            + false_negatives * cell[p, q]
            + true_negatives * cell[q, q]
        )

    return total


def predict_with_threshold(proba_positive: Any, threshold: float) -> np.ndarray:
    """True where the positive class's probability reaches `threshold`."""
    return np.asarray(proba_positive, dtype=float) >= threshold


def freeze_with_threshold(
    model: BaseEstimator, threshold: float, positive_label: Any, X: Any, y: Any
) -> FixedThresholdClassifier:
    """The fitted `model` predicting with its tuned threshold, so the registered artifact decides
    as it was validated. Nothing is refitted: `X` and `y` only let scikit-learn read the classes.
    """
    wrapper = FixedThresholdClassifier(
        FrozenEstimator(model),
        threshold=threshold,
        pos_label=positive_label,
        response_method="predict_proba",
    )
    return wrapper.fit(X, y)


def positive_column(model: Any, proba: np.ndarray, positive: Any) -> np.ndarray:
    """The positive class's probability column of a fitted classifier's predict_proba."""
    return proba[:, list(np.asarray(model.classes_)).index(positive)]


def resolve_positive_label(card: DatasetCard, target: pd.Series) -> Any:
    """The card's positive label, or the larger of the two labels as scikit-learn assumes."""
    if card.positive_label is not None:
        return card.positive_label
    return np.sort(pd.unique(target.dropna()))[-1]


def predict_positive_out_of_fold(
    pipeline: BaseEstimator, features: pd.DataFrame, target: pd.Series, setup: FoldSetup
) -> tuple[np.ndarray, np.ndarray]:
    """The positive class's probability for each row a CV fold held out, and those rows' positions.

    Forward-chaining folds never hold out the earliest rows, and an adversarial `holdout` only
    its own rows, so positions can cover fewer rows than `features` has.
    """
    positive = resolve_positive_label(setup.card, target)
    positions, probabilities = [], []
    for fold in fit_fold_models(pipeline, features, target, setup, at_once=True):
        if not hasattr(fold.model, "predict_proba"):
            raise CardError(
                "imbalance.threshold_metric needs class probabilities, but "
                f"{type(fold.model[-1]).__name__} has no predict_proba (e.g. an SGD hinge loss); "
                "remove imbalance.threshold_metric or search only models with probabilities"
            )
        proba = fold.model.predict_proba(features.iloc[fold.valid_index])
        probabilities.append(positive_column(fold.model, proba, positive))
        positions.append(fold.valid_index)
    return np.concatenate(positions), np.concatenate(probabilities)


# A single cut-off is pinned down by far fewer rows than a model needs, while its folds refit the
# whole final model (an ensemble, at 300k rows 270 of 779 s): tune it on a seeded sample.
THRESHOLD_MAX_ROWS = 50_000


def cap_threshold_rows(
    features: pd.DataFrame, target: pd.Series, card: DatasetCard, seed: int
) -> tuple[pd.DataFrame, pd.Series]:
    """At most `THRESHOLD_MAX_ROWS` training rows for the threshold's folds, sampled as the
    search's rows are (`cap_rows_at`)."""
    return cap_rows_at(features, target, card, seed, THRESHOLD_MAX_ROWS)


def tune_out_of_fold_threshold(
    pipeline: BaseEstimator, features: pd.DataFrame, target: pd.Series, setup: FoldSetup
) -> ThresholdChoice | None:
    """The tuned threshold for a binary card that asks for one, else None (the 0.5 rule stays).

    With `costs:` the threshold minimises the expected cost, whatever `threshold_metric` says:
    what a decision costs is what the decision is for.
    """
    card = setup.card
    if card.task != "binary" or (card.imbalance.threshold_metric is None and card.costs is None):
        return None
    positions, proba = predict_positive_out_of_fold(pipeline, features, target, setup)
    truth = target.iloc[positions].to_numpy()
    positive = resolve_positive_label(card, target)
    if card.costs is not None:
        classes = np.sort(pd.unique(target.dropna()))
        matrix = build_cost_matrix(card.costs, classes, positive)
        return tune_cost_threshold(truth, proba, matrix, positive)
    return tune_threshold(truth, proba, card.imbalance.threshold_metric, positive)


class CostDecisionClassifier(ClassifierMixin, BaseEstimator):
    """A fitted classifier deciding by minimum expected cost (a Bayes decision) on its own
    probabilities: `predict` is the class whose cost, averaged over `predict_proba`, is lowest.

    `costs[i][j]` is the cost of deciding `classes_[j]` when the truth is `classes_[i]`, in the
    order of the fitted `estimator`'s `classes_`. Like `FrozenEstimator`, `fit` never refits the
    estimator: it only checks the matrix against its classes.
    """

    def __init__(self, estimator: Any = None, costs: Any = None):
        self.estimator = estimator
        self.costs = costs

    def fit(self, X: Any = None, y: Any = None) -> CostDecisionClassifier:
        self.classes_ = np.asarray(self.estimator.classes_)
        self.costs_ = np.asarray(self.costs, dtype=float)
        if self.costs_.shape != (len(self.classes_), len(self.classes_)):
            raise ValueError(
                f"a cost matrix of shape {self.costs_.shape} does not fit the "
                f"{len(self.classes_)} classes {self.classes_.tolist()}"
            )
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.estimator.predict_proba(X)

    def predict(self, X: Any) -> np.ndarray:
        proba = np.asarray(self.predict_proba(X), dtype=float)
        return self.classes_[np.argmin(proba @ self.costs_, axis=1)]


def attach_cost_decision(
    pipeline: BaseEstimator, card: DatasetCard, target: pd.Series
) -> BaseEstimator:
    """A multiclass pipeline deciding by minimum expected cost when the card gives a matrix."""
    if card.task != "multiclass" or card.costs is None:
        return pipeline
    if not hasattr(pipeline, "predict_proba"):
        raise CardError(
            "costs.matrix decides on class probabilities, but "
            f"{type(pipeline[-1]).__name__} has none; search only models with probabilities"
        )
    matrix = build_cost_matrix(card.costs, np.asarray(pipeline.classes_))
    return CostDecisionClassifier(pipeline, matrix.values.tolist()).fit()


def attach_threshold(
    pipeline: BaseEstimator,
    choice: ThresholdChoice | None,
    positive_label: Any,
    features: pd.DataFrame,
    target: pd.Series,
) -> BaseEstimator:
    """The fitted pipeline deciding with the tuned threshold, or the pipeline itself without one."""
    if choice is None:
        return pipeline
    return freeze_with_threshold(pipeline, choice.threshold, positive_label, features, target)


def unwrap_pipeline(model: BaseEstimator) -> BaseEstimator:
    """The fitted pipeline inside a thresholded or cost-deciding model (else the model itself)."""
    if isinstance(model, CostDecisionClassifier):
        return model.estimator
    if isinstance(model, FixedThresholdClassifier):
        inner = model.estimator_ if hasattr(model, "estimator_") else model.estimator
        return inner.estimator if isinstance(inner, FrozenEstimator) else inner
    return model


def read_threshold(model: BaseEstimator) -> float | None:
    """The decision threshold a model carries, or None when it keeps the default rule."""
    return float(model.threshold) if isinstance(model, FixedThresholdClassifier) else None


def describe_decision_rule(card: DatasetCard, model: BaseEstimator) -> str:
    """How a classifier maps probabilities to labels, for the run summary; empty for regression."""
    if card.task == "regression":
        return ""
    if isinstance(model, CostDecisionClassifier):
        return "the class of least expected cost under the card's costs.matrix"
    threshold = read_threshold(model)
    if threshold is None:
        return (
            "most probable class"
            if card.task == "multiclass"
            else "positive when its probability is at least 0.5"
        )
    tuned_for = (
        "minimum expected cost (card costs:)"
        if card.costs is not None
        else card.imbalance.threshold_metric
    )
    return (
        f"positive when its probability is at least {threshold:.4f} "
        f"(tuned for {tuned_for} on out-of-fold predictions)"
    )
