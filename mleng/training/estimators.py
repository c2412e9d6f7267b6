"""Model families: names used in dataset cards mapped to scikit-learn estimators."""

from __future__ import annotations

from typing import Any

from sklearn.base import BaseEstimator
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge, SGDClassifier, SGDRegressor
from sklearn.metrics import f1_score, make_scorer
from sklearn.neural_network import MLPClassifier, MLPRegressor

_CLASSIFIERS: dict[str, type[BaseEstimator]] = {
    "logistic_regression": LogisticRegression,
    "sgd": SGDClassifier,
    "mlp": MLPClassifier,
    "random_forest": RandomForestClassifier,
    "extra_trees": ExtraTreesClassifier,
    "hist_gradient_boosting": HistGradientBoostingClassifier,
}
_REGRESSORS: dict[str, type[BaseEstimator]] = {
    "ridge": Ridge,
    "sgd": SGDRegressor,
    "mlp": MLPRegressor,
    "random_forest": RandomForestRegressor,
    "extra_trees": ExtraTreesRegressor,
    "hist_gradient_boosting": HistGradientBoostingRegressor,
}
# Fixed settings per family: seeds for reproducibility, enough iterations to converge, and
# threads for the forests (trials run one after another, so each may use both cores).
_FIXED: dict[str, dict[str, Any]] = {
    "logistic_regression": {"max_iter": 2000},
    "random_forest": {"n_jobs": -1},
    "extra_trees": {"n_jobs": -1},
    "hist_gradient_boosting": {"early_stopping": False},
    "ridge": {},
    # Incremental (partial_fit) learner for data larger than memory; log loss gives probabilities.
    "sgd": {"max_iter": 2000, "tol": 1e-4},
    "mlp": {"max_iter": 300, "early_stopping": True},
}
_SEEDED = {
    "logistic_regression",
    "sgd",
    "mlp",
    "random_forest",
    "extra_trees",
    "hist_gradient_boosting",
}
_SGD_CLASSIFIER_LOSS = {"loss": "log_loss"}


def build_estimator(family: str, params: dict[str, Any], task: str, seed: int) -> BaseEstimator:
    """An unfitted estimator of `family` with the searched `params` on top of fixed defaults."""
    registry = _REGRESSORS if task == "regression" else _CLASSIFIERS
    if family not in registry:
        raise ValueError(
            f"unknown model family '{family}' for task '{task}'; use one of {sorted(registry)}"
        )
    settings = {**_FIXED.get(family, {}), **params}
    if family == "mlp":  # searched as numbers, so a coarse-to-fine box can shrink around them
        units, layers = int(settings.pop("hidden_units", 64)), int(settings.pop("hidden_layers", 1))
        settings["hidden_layer_sizes"] = (units,) * layers
    if family == "sgd" and task != "regression":
        settings = {**_SGD_CLASSIFIER_LOSS, **settings}
    if family in _SEEDED:
        settings["random_state"] = seed
    return registry[family](**settings)


SCORING = {
    "accuracy": "accuracy",
    "balanced_accuracy": "balanced_accuracy",
    "f1": "f1",
    "roc_auc": "roc_auc",
    "log_loss": "neg_log_loss",
    "rmse": "neg_root_mean_squared_error",
    "mae": "neg_mean_absolute_error",
    "r2": "r2",
}


def scoring_for(metric: str, task: str, positive_label: Any = None) -> Any:
    """The scikit-learn scorer for a card metric: higher is better, multiclass-aware.

    Binary F1 needs the positive label spelled out: the built-in "f1" assumes label 1.
    """
    if task == "binary" and metric == "f1":
        return make_scorer(f1_score, pos_label=positive_label)
    if task == "multiclass" and metric == "roc_auc":
        return "roc_auc_ovr"
    if task == "multiclass" and metric == "f1":
        return "f1_macro"
    return SCORING[metric]
