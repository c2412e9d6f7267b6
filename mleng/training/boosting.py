"""The optional boosting families, LightGBM and XGBoost: quiet, seeded, on every core.

Imported lazily by family name so that mleng runs without either package; `estimators.py`
checks the package is installed before calling a builder here.
"""

from __future__ import annotations

from typing import Any

from sklearn.base import BaseEstimator

OPTIONAL_FAMILIES = {"lightgbm": "lightgbm", "xgboost": "xgboost"}


def build_lightgbm(params: dict[str, Any], task: str, seed: int, threads: int) -> BaseEstimator:
    """A LightGBM model; `subsample` only bags when a bagging frequency is set, so it is one."""
    import lightgbm

    estimator = lightgbm.LGBMRegressor if task == "regression" else lightgbm.LGBMClassifier
    fixed = {"verbosity": -1, "n_jobs": threads, "random_state": seed, "subsample_freq": 1}
    return estimator(**{**fixed, **params})


def build_xgboost(params: dict[str, Any], task: str, seed: int, threads: int) -> BaseEstimator:
    """An XGBoost model on histograms, reading pandas categoricals natively when given them."""
    import xgboost

    fixed = {
        "verbosity": 0,
        "n_jobs": threads,
        "random_state": seed,
        "tree_method": "hist",
        "enable_categorical": True,
    }
    if task == "regression":
        return xgboost.XGBRegressor(**{**fixed, **params})
    from mleng.training.xgboost_labels import LabelledXGBClassifier

    return LabelledXGBClassifier(**{**fixed, **params})
