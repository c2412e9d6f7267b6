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

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import FixedThresholdClassifier

from mleng.card import DatasetCard
from mleng.errors import CardError
from mleng.training.cv import Augmenter, fit_fold_models
from mleng.training.imbalance import (
    ThresholdChoice,
    freeze_with_threshold,
    positive_column,
    tune_threshold,
)


def resolve_positive_label(card: DatasetCard, target: pd.Series) -> Any:
    """The card's positive label, or the larger of the two labels as scikit-learn assumes."""
    if card.positive_label is not None:
        return card.positive_label
    return np.sort(pd.unique(target.dropna()))[-1]


def predict_out_of_fold(
    pipeline: BaseEstimator,
    features: pd.DataFrame,
    target: pd.Series,
    card: DatasetCard,
    seed: int,
    augment: Augmenter | None = None,
    holdout: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The positive class's probability for every row some CV fold held out, and those rows' positions.

    Forward-chaining folds never hold out the earliest rows, and an adversarial `holdout` only
    its own rows, so positions can cover fewer rows than `features` has.
    """
    positive = resolve_positive_label(card, target)
    positions, probabilities = [], []
    for fold in fit_fold_models(pipeline, features, target, card, seed, augment, holdout):
        if not hasattr(fold.model, "predict_proba"):
            raise CardError(
                f"imbalance.threshold_metric needs class probabilities, but {type(fold.model[-1]).__name__} "
                "has no predict_proba (e.g. an SGD hinge loss); remove imbalance.threshold_metric or "
                "search only models with probabilities"
            )
        proba = fold.model.predict_proba(features.iloc[fold.valid_index])
        probabilities.append(positive_column(fold.model, proba, positive))
        positions.append(fold.valid_index)
    return np.concatenate(positions), np.concatenate(probabilities)


def tune_out_of_fold_threshold(
    pipeline: BaseEstimator,
    features: pd.DataFrame,
    target: pd.Series,
    card: DatasetCard,
    seed: int,
    augment: Augmenter | None = None,
    holdout: np.ndarray | None = None,
) -> ThresholdChoice | None:
    """The tuned threshold for a binary card that asks for one, else None (the 0.5 rule stays)."""
    if card.task != "binary" or card.imbalance.threshold_metric is None:
        return None
    positions, proba = predict_out_of_fold(pipeline, features, target, card, seed, augment, holdout)
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
    """How a classifier turns probabilities into labels, for the run summary; empty for regression."""
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
