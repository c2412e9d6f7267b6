"""A weighted average of full fitted pipelines: the estimator a chosen final ensemble registers.

Each member is a whole pipeline (raw-input coercion, its own feature pipeline, its estimator), so
members may encode features differently. The ensemble averages the members' class probabilities
(classification) or values (regression) with fixed weights from ensemble selection; `fit` refits
every member on the given rows, so `clone` + `fit` (the threshold's folds) rebuild it faithfully.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from mleng.card.imbalance import ImbalanceSettings
from mleng.features.raw import RawInputCoercer
from mleng.training.imbalance import imbalance_fit_params

Members = list[tuple[str, BaseEstimator]]


class WeightedEnsembleBase(BaseEstimator):
    """Members (name, pipeline) and their weights; `class_weight="balanced"` gives balanced sample
    weights to each member whose estimator takes no class weight, as the card's
    `imbalance.strategy: class_weight` does for a single model."""

    def __init__(
        self, members: Members, weights: list[float], class_weight: str | None = None
    ) -> None:
        self.members = members
        self.weights = weights
        self.class_weight = class_weight

    def check_members(self) -> np.ndarray:
        """The weights, normalized to sum to one; errors a caller can act on."""
        if not self.members:
            raise ValueError("a weighted ensemble needs at least one member")
        weights = np.asarray(self.weights, dtype=float)
        if weights.shape != (len(self.members),) or (weights < 0).any() or weights.sum() <= 0:
            raise ValueError(
                f"weights {list(self.weights)} must be one non-negative number per member "
                f"({len(self.members)}) with a positive sum"
            )
        return weights / weights.sum()

    def fit(self, X: Any, y: Any) -> WeightedEnsembleBase:
        """Fit a clone of every member on the same rows."""
        self.weights_ = self.check_members()
        settings = ImbalanceSettings(strategy="class_weight") if self.class_weight else None
        self.estimators_ = []
        for _, member in self.members:
            params = {} if settings is None else imbalance_fit_params(member, y, settings)
            self.estimators_.append(clone(member).fit(X, y, **params))
        self.finish_fit(y)
        return self

    def finish_fit(self, y: Any) -> None:
        """Fitted attributes that depend on the task (the classes of a classifier)."""

    def describe_members(self) -> list[tuple[str, float]]:
        """Each member's name and weight, for the model card and the run summary."""
        weights = getattr(self, "weights_", self.check_members())
        return [(name, float(w)) for (name, _), w in zip(self.members, weights, strict=True)]


class WeightedEnsembleClassifier(ClassifierMixin, WeightedEnsembleBase):
    """Soft voting: the weighted mean of the members' `predict_proba`, aligned on `classes_`."""

    def finish_fit(self, y: Any) -> None:
        self.classes_ = np.unique(np.asarray(y))

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimators_")
        total = np.zeros((len(X), len(self.classes_)))
        for member, weight in zip(self.estimators_, self.weights_, strict=True):
            columns = np.searchsorted(self.classes_, np.asarray(member.classes_))
            total[:, columns] += weight * np.asarray(member.predict_proba(X))
        return total

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class WeightedEnsembleRegressor(RegressorMixin, WeightedEnsembleBase):
    """The weighted mean of the members' predictions."""

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimators_")
        values = [np.asarray(m.predict(X), dtype=float) for m in self.estimators_]
        return np.average(np.vstack(values), axis=0, weights=self.weights_)


def assemble_ensemble(
    task: str,
    fitted: Members,
    weights: list[float],
    rows: tuple[Any, Any],
    class_weight: str | None = None,
) -> Pipeline:
    """The registered artifact for already fitted members: the first member's raw-input coercion
    (the contract's columns, which the service and the monitor read) then the ensemble, with
    nothing refitted.

    `rows` (features, target) only let the coercer check its columns and a classifier read its
    classes. `clone(...).fit` refits every member, with balanced sample weights where
    `class_weight="balanced"` asks for them.
    """
    features, target = rows
    first = fitted[0][1] if fitted else None
    if not isinstance(first, Pipeline) or not isinstance(first[0], RawInputCoercer):
        raise TypeError("ensemble members must be pipelines that start with RawInputCoercer")
    kind = WeightedEnsembleRegressor if task == "regression" else WeightedEnsembleClassifier
    members = [(name, clone(model)) for name, model in fitted]
    ensemble = kind(members, list(weights), class_weight=class_weight)
    ensemble.weights_ = ensemble.check_members()
    ensemble.estimators_ = [model for _, model in fitted]
    ensemble.finish_fit(target)
    coercer = clone(first[0]).fit(features)
    return Pipeline([("inputs", coercer), ("ensemble", ensemble)])
