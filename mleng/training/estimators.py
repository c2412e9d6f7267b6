"""Model families: names used in dataset cards mapped to scikit-learn estimators.

XGBoost is optional (`pip install 'mleng[boosting]'`): its family exists only when the package
imports, and a card naming it without the package gets an error saying what to install.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.compose import TransformedTargetRegressor
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
from sklearn.preprocessing import PowerTransformer

from mleng.training.boosting import (
    OPTIONAL_FAMILIES,
    build_lightgbm,
    build_xgboost,
)

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
# threads for the forests (each trial may use every core; the flow runs two at once).
# Boosting stops early on a tenth of the *training* rows it is given (never the scored fold): a
# trial fits only the iterations that still help, so `max_iter` is a cap rather than a cost. On
# the Adult demo (10k search rows, 3 folds) trials stop after 23-250 iterations, most 50-140.
HGB_EARLY_STOPPING = {"early_stopping": True, "validation_fraction": 0.1, "n_iter_no_change": 10}
_FIXED: dict[str, dict[str, Any]] = {
    "logistic_regression": {"max_iter": 2000},
    "random_forest": {"n_jobs": -1},
    "extra_trees": {"n_jobs": -1},
    "hist_gradient_boosting": HGB_EARLY_STOPPING,
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
# Searched parameters that choose the pipeline around the estimator, not the estimator itself
# (`build_pipeline` reads them): native categoricals, and a regression target's transform.
PIPELINE_PARAMS = ("categorical_handling", "target_transform")
NATIVE_CATEGORICAL_FAMILIES = {"hist_gradient_boosting", "lightgbm", "xgboost"}


def available_families(task: str) -> list[str]:
    """Every family `build_estimator` can build for `task` in this environment."""
    registry = _REGRESSORS if task == "regression" else _CLASSIFIERS
    optional = [name for name, module in OPTIONAL_FAMILIES.items() if is_installed(module)]
    return [*registry, *optional]


def is_installed(module: str) -> bool:
    """Whether an optional package imports here (checked without importing it)."""
    return importlib.util.find_spec(module) is not None


def count_threads() -> int:
    """Cores this process may use: the boosting libraries' `n_jobs`."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def build_estimator(family: str, params: dict[str, Any], task: str, seed: int) -> BaseEstimator:
    """An unfitted estimator of `family` with the searched `params` on top of fixed defaults."""
    params = {name: value for name, value in params.items() if name not in PIPELINE_PARAMS}
    if family in OPTIONAL_FAMILIES:
        module = OPTIONAL_FAMILIES[family]
        if not is_installed(module):
            raise ValueError(
                f"model family '{family}' needs the optional package '{module}'; install it with "
                "`pip install 'mleng[boosting]'` or drop the family from search.families"
            )
        build = build_lightgbm if family == "lightgbm" else build_xgboost
        return build(params, task, seed, count_threads())
    registry = _REGRESSORS if task == "regression" else _CLASSIFIERS
    if family not in registry:
        raise ValueError(
            f"unknown model family '{family}' for task '{task}'; use one of "
            f"{available_families(task)}"
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


def uses_native_categoricals(family: str, params: dict[str, Any], columns: Any) -> bool:
    """Whether a configuration asks for native categoricals; refuse a family without them."""
    if params.get("categorical_handling", "encoded") == "encoded":
        return False
    if params["categorical_handling"] != "native":
        raise ValueError(
            f"categorical_handling must be 'encoded' or 'native', got "
            f"{params['categorical_handling']!r}"
        )
    if family not in NATIVE_CATEGORICAL_FAMILIES:
        raise ValueError(
            f"model family '{family}' has no native categorical support; use "
            f"categorical_handling only with {sorted(NATIVE_CATEGORICAL_FAMILIES)}"
        )
    return bool(columns.categorical)


TARGET_TRANSFORMS = ("none", "log", "yeo_johnson")


def build_target_transform(estimator: BaseEstimator, transform: str) -> BaseEstimator:
    """The regressor fitted on log1p(y) or a Yeo-Johnson transform of y; predictions come back in
    the target's own units, so every score and interval reads as before.

    Wraps only the final estimator, so the model stays a Pipeline whose last step predicts.
    """
    if transform == "log":
        return TransformedTargetRegressor(
            regressor=estimator, func=np.log1p, inverse_func=np.expm1, check_inverse=False
        )
    if transform == "yeo_johnson":
        return TransformedTargetRegressor(
            regressor=estimator, transformer=PowerTransformer(method="yeo-johnson")
        )
    raise ValueError(
        f"target_transform must be one of {list(TARGET_TRANSFORMS)}, got {transform!r}"
    )


def count_iterations(estimator: BaseEstimator) -> float:
    """Boosting iterations a fitted estimator kept (after early stopping), nan for other models.

    Looks through a target transform (`regressor_`) to the boosted model inside.
    """
    inner = getattr(estimator, "regressor_", estimator)
    for attribute in ("n_iter_", "best_iteration_", "n_estimators_"):
        value = getattr(inner, attribute, None)
        if isinstance(value, (int, np.integer)) and value > 0:
            return float(value)
    if hasattr(inner, "get_booster"):  # xgboost
        return float(inner.get_booster().num_boosted_rounds())
    return float("nan")


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
