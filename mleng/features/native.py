"""Native categoricals for tree boosting: each category one integer code, no one-hot columns.

Histogram gradient boosting, LightGBM and XGBoost split on a categorical column directly when it
arrives as a pandas `category` column (HistGradientBoosting's default `categorical_features=
"from_dtype"`, LightGBM's `"auto"`, XGBoost's `enable_categorical`). That is one column per
feature instead of one per level, so a fit bins far fewer columns, and a split can group levels
as one-hot never can. Numerics pass through unscaled, missing values included: trees need
neither scaling nor imputation (each library routes missing values on its own).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

MAX_CATEGORIES = 255
"""HistGradientBoosting bins a categorical column into at most `max_bins` (255) categories."""
MIN_COUNT = 10
"""Levels seen on fewer training rows than this share the `other` code with unseen levels."""


class NativeCategoricalEncoder(TransformerMixin, BaseEstimator):
    """Numerics unchanged; each categorical as codes 0..k-1 of a pandas `category` column.

    The `max_categories - 1` most frequent levels seen at least `min_count` times keep a code of
    their own; rarer and unseen levels share the last code (`other`), so every column has at most
    `max_categories` categories; a missing value stays missing.
    """

    def __init__(
        self,
        numeric_columns: tuple[str, ...] | list[str] = (),
        categorical_columns: tuple[str, ...] | list[str] = (),
        max_categories: int = MAX_CATEGORIES,
        min_count: int = MIN_COUNT,
    ):
        self.numeric_columns = numeric_columns
        self.categorical_columns = categorical_columns
        self.max_categories = max_categories
        self.min_count = min_count

    def fit(self, X: pd.DataFrame, y: Any = None) -> NativeCategoricalEncoder:
        if self.max_categories < 2:
            raise ValueError(f"max_categories must be at least 2, got {self.max_categories}")
        self._check_frame(X)
        self.levels_: dict[str, list[str]] = {}
        for column in self.categorical_columns:
            counts = X[column].dropna().astype(str).value_counts(sort=False)
            counts = counts[counts >= self.min_count]
            # by count, then by label, so equal counts get the same codes on every run
            ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
            self.levels_[column] = [level for level, _ in ranked[: self.max_categories - 1]]
        self.feature_names_out_ = [*self.numeric_columns, *self.categorical_columns]
        self.n_features_in_ = len(self.feature_names_out_)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "levels_")
        self._check_frame(X)
        output = {column: X[column].astype("float64") for column in self.numeric_columns}
        for column in self.categorical_columns:
            output[column] = self._encode(X[column], self.levels_[column])
        return pd.DataFrame(output, index=X.index)[self.feature_names_out_]

    def _encode(self, values: pd.Series, levels: list[str]) -> pd.Categorical:
        """Codes by a hash lookup of the levels: every trial's folds, every prediction and
        every served row pass here, so it must not copy the column (6x faster than a map)."""
        other = len(levels)  # the shared code of rare and unseen levels
        if pd.api.types.infer_dtype(values, skipna=True) != "string":  # without RawInputCoercer
            values = values.astype(str).where(values.notna(), np.nan)
        codes = pd.Index(levels, dtype=object).get_indexer(values)
        codes = np.where(codes < 0, other, codes)
        codes[values.isna().to_numpy()] = -1
        return pd.Categorical.from_codes(codes, categories=np.arange(other + 1))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "levels_")
        return np.asarray(self.feature_names_out_, dtype=object)

    def _check_frame(self, X: pd.DataFrame) -> None:
        if not isinstance(X, pd.DataFrame):
            raise TypeError(
                f"native categoricals need a pandas DataFrame, got {type(X).__name__}; put "
                "RawInputCoercer first in the pipeline"
            )
        missing = [c for c in [*self.numeric_columns, *self.categorical_columns] if c not in X]
        if missing:
            raise ValueError(f"input rows lack the columns {missing} the native encoder needs")
