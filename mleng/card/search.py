"""The card's `search:` block: budget, folds, strategy and one hyperparameter space per family."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from mleng.card.base import StrictModel
from mleng.card.ensemble import EnsembleSettings
from mleng.card.runner import TrialRunnerSettings

CLASSIFICATION_METRICS = ("accuracy", "balanced_accuracy", "f1", "roc_auc", "log_loss")


REGRESSION_METRICS = ("rmse", "mae", "r2")


class ParamSpec(StrictModel):
    """One hyperparameter's range: numeric bounds (log scale where natural) or a set of choices."""

    type: Literal["float", "int", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: list[Any] | None = None

    @model_validator(mode="after")
    def check_bounds(self) -> ParamSpec:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical parameter needs a non-empty 'choices' list")
            return self
        if self.low is None or self.high is None:
            raise ValueError(f"a {self.type} parameter needs 'low' and 'high'")
        if self.low > self.high:
            raise ValueError(f"'low' ({self.low}) is above 'high' ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log-scale parameter needs 'low' > 0, got {self.low}")
        return self


FamilySpace = dict[str, ParamSpec]


CLASSIFIER_FAMILIES = (
    "logistic_regression",
    "sgd",
    "mlp",
    "random_forest",
    "extra_trees",
    "hist_gradient_boosting",
    "lightgbm",
    "xgboost",
)


REGRESSOR_FAMILIES = (
    "ridge",
    "sgd",
    "mlp",
    "random_forest",
    "extra_trees",
    "hist_gradient_boosting",
    "lightgbm",
    "xgboost",
)
"""`xgboost` needs the optional extra `mleng[boosting]`; a card naming it without the package
fails before training, saying what to install (LightGBM is a core dependency)."""


_DEFAULT_TREE_SPACE = {
    "n_estimators": {"type": "int", "low": 30, "high": 200, "log": True},
    "max_depth": {"type": "int", "low": 3, "high": 30, "log": True},
    "min_samples_leaf": {"type": "int", "low": 1, "high": 50, "log": True},
    "max_features": {"type": "float", "low": 0.1, "high": 1.0},
}


# Boosting stops early on its own validation split, so `max_iter` caps iterations rather than
# spending them; a cap of 1000 lets small learning rates converge.
_DEFAULT_HGB_SPACE = {
    "learning_rate": {"type": "float", "low": 0.01, "high": 0.5, "log": True},
    "max_leaf_nodes": {"type": "int", "low": 7, "high": 127, "log": True},
    "min_samples_leaf": {"type": "int", "low": 5, "high": 200, "log": True},
    "l2_regularization": {"type": "float", "low": 1e-6, "high": 10.0, "log": True},
    "max_iter": {"type": "int", "low": 50, "high": 1000, "log": True},
}


# LightGBM stops early on its own held-out rows under a cap of trees (mleng/training/boosting.py),
# so the number of trees is not searched: a refit on all training rows finds its own.
_DEFAULT_LIGHTGBM_SPACE = {
    "learning_rate": {"type": "float", "low": 0.02, "high": 0.3, "log": True},
    "num_leaves": {"type": "int", "low": 7, "high": 255, "log": True},
    "min_child_samples": {"type": "int", "low": 5, "high": 200, "log": True},
    "reg_lambda": {"type": "float", "low": 1e-6, "high": 10.0, "log": True},
    "colsample_bytree": {"type": "float", "low": 0.5, "high": 1.0},
}


# Spaces for families a card lists without a space of its own. XGBoost has no early stopping
# here, so its `n_estimators` is a cost as well as a cap.
LISTED_SPACES: dict[str, dict[str, dict[str, Any]]] = {
    "hist_gradient_boosting": _DEFAULT_HGB_SPACE,
    "lightgbm": _DEFAULT_LIGHTGBM_SPACE,
    "xgboost": {
        "learning_rate": {"type": "float", "low": 0.01, "high": 0.3, "log": True},
        "max_depth": {"type": "int", "low": 2, "high": 10},
        "min_child_weight": {"type": "float", "low": 0.5, "high": 50.0, "log": True},
        "reg_lambda": {"type": "float", "low": 1e-3, "high": 10.0, "log": True},
        "n_estimators": {"type": "int", "low": 50, "high": 500, "log": True},
        "colsample_bytree": {"type": "float", "low": 0.5, "high": 1.0},
    },
}


_DEFAULT_SGD_SPACE = {
    "alpha": {"type": "float", "low": 1e-6, "high": 1e-1, "log": True},
    "penalty": {"type": "categorical", "choices": ["l2", "l1", "elasticnet"]},
}


DEFAULT_SPACES: dict[str, dict[str, dict[str, Any]]] = {
    "classification": {
        "logistic_regression": {"C": {"type": "float", "low": 1e-3, "high": 100.0, "log": True}},
        "random_forest": _DEFAULT_TREE_SPACE,
        "lightgbm": _DEFAULT_LIGHTGBM_SPACE,
    },
    "regression": {
        "ridge": {"alpha": {"type": "float", "low": 1e-3, "high": 1000.0, "log": True}},
        "random_forest": _DEFAULT_TREE_SPACE,
        "lightgbm": _DEFAULT_LIGHTGBM_SPACE,
    },
}


class SearchConfig(StrictModel):
    """The hyperparameter search: total evaluations, CV folds and one space per model family."""

    budget: int = Field(default=40, ge=1, description="total number of evaluated configurations")
    cv_folds: int = Field(default=3, ge=2, le=20)
    strategy: Literal["coarse_to_fine", "random", "grid"] = "coarse_to_fine"
    max_rows: int | None = Field(
        default=10_000,
        ge=100,
        description="rows (stratified sample) used to score trials; the winner is refit on all",
    )
    families: dict[str, FamilySpace] | None = Field(
        default=None, description="model family -> parameter -> range; defaults per task"
    )
    patience: int | None = Field(
        default=None,
        ge=1,
        description="coarse_to_fine stops after this many fine rounds in a row without a gain "
        "above min_improvement; None spends the whole budget",
    )
    min_improvement: float = Field(
        default=0.0, ge=0.0, description="smallest gain in the CV score that resets patience"
    )
    runner: TrialRunnerSettings = Field(
        default_factory=TrialRunnerSettings,
        description="where a round's trials run: threads (default), dask or sequential",
    )
    time_budget_s: float | None = Field(
        default=None,
        gt=0,
        description="wall time for the search in seconds: once spent, no trial is proposed "
        "(the coarse round, one trial per family at least, always runs); None: the budget alone",
    )
    validation: Literal["cv", "adversarial"] = Field(
        default="cv",
        description="cv: k-fold (forward-chaining when time-ordered); adversarial: score every "
        "trial on the training rows most like the test rows (their features only, "
        "never their labels)",
    )
    adversarial_fraction: float = Field(
        default=0.2,
        gt=0.0,
        lt=0.5,
        description="share of training rows held out by adversarial validation",
    )
    confirm_rows: int | None = Field(
        default=50_000,
        ge=1000,
        description="when the training rows are at least 5 times those searched, the best "
        "configuration of each of the 3 best families is fitted on this many training rows and "
        "scored on rows outside them; the best there is refit (None: the search's best)",
    )
    halving: bool = Field(
        default=False,
        description="coarse_to_fine: successive halving in the coarse round, a cheap look (a "
        "third of each fold's training rows) at more configurations and full cost for the best "
        "third; only full-cost scores are refined or selected",
    )
    ensemble: EnsembleSettings = Field(
        default_factory=EnsembleSettings,
        description="a final weighted ensemble of the best configurations, chosen only when it "
        "beats the single best out of fold (see mleng/card/ensemble.py)",
    )
