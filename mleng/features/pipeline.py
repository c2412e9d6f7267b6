"""Build the feature pipeline: fitted on training rows only, saved inside the registered model."""

from __future__ import annotations

from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def build_feature_pipeline(
    numeric_columns: list[str],
    categorical_columns: list[str],
    min_frequency: float | int = 0.01,
    max_categories: int | None = 50,
) -> ColumnTransformer:
    """Impute and scale numerics; one-hot categoricals with rare levels grouped, unseen ones ignored.

    Categoricals are imputed with a constant so a missing value is a level of its own, which keeps
    the information that a value was absent instead of guessing it.
    """
    numeric = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
            ("scale", StandardScaler()),
        ]
    )
    categorical = Pipeline(
        [
            ("impute", SimpleImputer(strategy="constant", fill_value="__missing__", keep_empty_features=True)),
            (
                "one_hot",
                OneHotEncoder(
                    handle_unknown="infrequent_if_exist",
                    min_frequency=min_frequency,
                    max_categories=max_categories,
                    sparse_output=False,
                ),
            ),
        ]
    )
    transformers = []
    if numeric_columns:
        transformers.append(("numeric", numeric, list(numeric_columns)))
    if categorical_columns:
        transformers.append(("categorical", categorical, list(categorical_columns)))
    return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=True)


def build_model_pipeline(features: ColumnTransformer, estimator: BaseEstimator) -> Pipeline:
    """The registered artifact: raw columns in, predictions out, so serving cannot skew from training."""
    return Pipeline([("features", features), ("model", estimator)])
