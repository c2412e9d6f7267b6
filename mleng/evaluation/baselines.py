"""Baselines every model must beat, and the bridge from a fitted model to `Predictions`."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.dummy import DummyClassifier, DummyRegressor

from mleng.evaluation.records import Predictions, check_metric_names


def fit_baselines(task: str, X_train: Any, y_train: Any, seed: int) -> dict[str, Any]:
    """Fitted "zero_rule" and "random" baselines for `task`.

    Classification: the majority class, and labels drawn at the training class frequencies.
    The zero rule's probabilities are the training class shares (scikit-learn's "prior"
    strategy, which predicts the same majority label): a fair log loss, and with costs the
    cheapest constant decision rather than the majority's.
    Regression: the training mean, and the training median. Random draws from the target would
    only add noise to the mean's error, so the second regression baseline is instead the best
    constant under absolute error, a fair bar for MAE.
    """
    check_metric_names(task)
    if task == "regression":
        baselines: dict[str, Any] = {
            "zero_rule": DummyRegressor(strategy="mean"),
            "random": DummyRegressor(strategy="median"),
        }
    else:
        baselines = {
            "zero_rule": DummyClassifier(strategy="prior"),
            "random": DummyClassifier(strategy="stratified", random_state=seed),
        }
    return {name: model.fit(X_train, y_train) for name, model in baselines.items()}


def predict_with(model: Any, X: Any) -> Predictions:
    """Labels or values from `model`, plus class probabilities when it offers them."""
    y_pred = np.asarray(model.predict(X))
    if hasattr(model, "predict_proba") and hasattr(model, "classes_"):
        return Predictions(
            y_pred=y_pred,
            proba=np.asarray(model.predict_proba(X)),
            classes=np.asarray(model.classes_),
        )
    return Predictions(y_pred=y_pred)
