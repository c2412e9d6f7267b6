"""Which final estimators the ONNX fast path converts, known without importing ONNX.

`onnx_models` converts exactly these classes. Registration asks here first: for any other final
estimator (LightGBM, the usual winner, a k-NN, a stack) the verdict is known without importing
onnx, onnxruntime and skl2onnx, which took 0.47 s of every such registration.
"""

from __future__ import annotations

from sklearn.base import BaseEstimator
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import (
    ElasticNet,
    Lasso,
    LinearRegression,
    LogisticRegression,
    Ridge,
    SGDClassifier,
    SGDRegressor,
)
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from mleng.training.threshold import unwrap_pipeline

SKLEARN_TREES = (
    RandomForestClassifier,
    RandomForestRegressor,
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    DecisionTreeClassifier,
    DecisionTreeRegressor,
)
HIST_TREES = (HistGradientBoostingClassifier, HistGradientBoostingRegressor)
SKL2ONNX_ESTIMATORS = (
    LogisticRegression,
    SGDClassifier,
    MLPClassifier,
    Ridge,
    LinearRegression,
    Lasso,
    ElasticNet,
    SGDRegressor,
    MLPRegressor,
)
CONVERTIBLE_ESTIMATORS = SKLEARN_TREES + HIST_TREES + SKL2ONNX_ESTIMATORS


def describe_estimator_gap(estimator: BaseEstimator) -> str:
    """Why `estimator` cannot be the graph's final step (the reason the version tag carries)."""
    return f"estimator {type(estimator).__name__} has no exact ONNX conversion"


def find_unconvertible_estimator(model: BaseEstimator) -> str | None:
    """The reason a model's final estimator has no exact conversion, or None when it has one or
    the model is not a pipeline (the full conversion then says what is wrong)."""
    pipeline = unwrap_pipeline(model)
    if not isinstance(pipeline, Pipeline):
        return None
    estimator = pipeline.steps[-1][1]
    if isinstance(estimator, CONVERTIBLE_ESTIMATORS):
        return None
    return describe_estimator_gap(estimator)
