"""A heuristic baseline from the card: the rule a domain expert would apply without a model.

If a learned model cannot beat "capital-gain > 5000 means high income", it has not earned its
complexity. The rule is a pandas expression over the raw columns (backquote names with dashes).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator


class RuleBaseline(BaseEstimator):
    """Predicts with a fixed rule; `fit` only learns the label set, never the rule."""

    def __init__(
        self, expression: str = "", then: Any = None, otherwise: Any = None, task: str = "binary"
    ):
        self.expression = expression
        self.then = then
        self.otherwise = otherwise
        self.task = task

    def fit(self, X: pd.DataFrame, y: Any) -> RuleBaseline:
        self._evaluate(X)  # a rule that cannot run fails at fit time, naming the expression
        if self.task != "regression":
            self.classes_ = np.unique(np.asarray(y))
            missing = [
                label
                for label in (self.then, self.otherwise)
                if label not in set(self.classes_.tolist())
            ]
            if missing:
                raise ValueError(
                    f"heuristic_baseline labels {missing} are not target values "
                    f"{self.classes_.tolist()}; fix then/otherwise in the card"
                )
        return self

    def _evaluate(self, X: pd.DataFrame) -> np.ndarray:
        try:
            values = X.eval(self.expression)
        except Exception as error:  # noqa: BLE001 - pandas raises many types for a bad expression
            raise ValueError(
                f"heuristic_baseline expression {self.expression!r} cannot be evaluated on the "
                f"data: {error}; check column names (backquote names with dashes or spaces)"
            ) from None
        return np.asarray(values)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        values = self._evaluate(X)
        if self.task == "regression":
            return values.astype(float)
        return np.where(values.astype(bool), self.then, self.otherwise)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Hard 0/1 probabilities: a rule has no confidence, so ROC AUC reads it as one
        threshold."""
        if self.task == "regression":
            raise AttributeError("a regression rule has no probabilities")
        labels = self.predict(X)
        proba = (labels[:, None] == self.classes_[None, :]).astype(float)
        # Log loss of a hard rule would be infinite on every miss; keep it finite but punishing.
        return np.clip(proba, 1e-3, 1 - 1e-3) / np.clip(proba, 1e-3, 1 - 1e-3).sum(
            axis=1, keepdims=True
        )


def fit_heuristic_baseline(
    expression: str, then: Any, otherwise: Any, task: str, X_train: pd.DataFrame, y_train: Any
) -> RuleBaseline:
    """The card's rule as a fitted baseline."""
    return RuleBaseline(expression, then, otherwise, task).fit(X_train, y_train)
