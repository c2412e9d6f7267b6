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
from sklearn.base import BaseEstimator
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import balanced_accuracy_score, f1_score
from sklearn.model_selection import FixedThresholdClassifier

from mleng.card import DatasetCard
from mleng.card.imbalance import ThresholdMetric
from mleng.errors import CardError
from mleng.training.cv import FoldSetup, fit_fold_models


@dataclass(frozen=True)
class ThresholdChoice:
    """The decision threshold chosen on validation rows and what it bought there."""

    threshold: float  # predict positive when its probability is at least this
    metric: str
    score: float  # the metric on validation rows at `threshold`
    score_at_half: float  # the metric on validation rows at the default 0.5


def score_thresholds(
    positives: np.ndarray, proba_positive: np.ndarray, metric: str
) -> tuple[np.ndarray, np.ndarray]:
    """Each distinct probability as a threshold ("positive if at least") and the metric there."""
    order = np.argsort(-proba_positive, kind="stable")
    ordered, hits = proba_positive[order], positives[order]
    last_of_run = np.r_[ordered[1:] != ordered[:-1], True]
    true_positives = np.cumsum(hits)[last_of_run].astype(float)
    flagged = (np.flatnonzero(last_of_run) + 1).astype(float)
    n_positive, n_negative = hits.sum(), len(hits) - hits.sum()
    false_positives = flagged - true_positives
    if metric == "balanced_accuracy":
        values = (true_positives / n_positive + 1 - false_positives / n_negative) / 2
    elif metric == "f1":
        values = 2 * true_positives / (flagged + n_positive)  # 2TP / (2TP + FP + FN)
    else:
        raise ValueError(f"unknown threshold metric '{metric}'; use 'balanced_accuracy' or 'f1'")
    return ordered[last_of_run], values


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
    for fold in fit_fold_models(pipeline, features, target, setup):
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


def tune_out_of_fold_threshold(
    pipeline: BaseEstimator, features: pd.DataFrame, target: pd.Series, setup: FoldSetup
) -> ThresholdChoice | None:
    """The tuned threshold for a binary card that asks for one, else None (the 0.5 rule stays)."""
    card = setup.card
    if card.task != "binary" or card.imbalance.threshold_metric is None:
        return None
    positions, proba = predict_positive_out_of_fold(pipeline, features, target, setup)
    truth = target.iloc[positions].to_numpy()
    return tune_threshold(
        truth, proba, card.imbalance.threshold_metric, resolve_positive_label(card, target)
    )


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
    """The fitted pipeline inside a thresholded model (the model itself when there is none)."""
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
    threshold = read_threshold(model)
    if threshold is None:
        return (
            "most probable class"
            if card.task == "multiclass"
            else "positive when its probability is at least 0.5"
        )
    return (
        f"positive when its probability is at least {threshold:.4f} "
        f"(tuned for {card.imbalance.threshold_metric} on out-of-fold predictions)"
    )
