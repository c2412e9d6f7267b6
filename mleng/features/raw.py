"""The first step of every registered pipeline: raw rows in the shape the features expect.

It lives inside the model so that serving gets exactly the coercion training got: numbers that
arrive as integers, floats or numeric text become float64 (inf becomes missing), categories and
free text become text with missing values kept missing. No code outside the pipeline transforms
features.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted


class RawInputCoercer(TransformerMixin, BaseEstimator):
    """Select the model's input columns from a raw frame and give each its training dtype."""

    def __init__(
        self,
        numeric_columns: tuple[str, ...] | list[str] = (),
        categorical_columns: tuple[str, ...] | list[str] = (),
        text_columns: tuple[str, ...] | list[str] = (),
    ):
        self.numeric_columns = numeric_columns
        self.categorical_columns = categorical_columns
        self.text_columns = text_columns

    def fit(self, X: pd.DataFrame, y: object = None) -> RawInputCoercer:
        self._check_columns(X)
        self.columns_ = [*self.numeric_columns, *self.categorical_columns, *self.text_columns]
        self.n_features_in_ = len(self.columns_)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "columns_")
        self._check_columns(X)
        coerced = {}
        for column in self.numeric_columns:
            values = pd.to_numeric(X[column], errors="coerce").astype("float64")
            coerced[column] = values.where(np.isfinite(values))
        for column in [*self.categorical_columns, *self.text_columns]:
            # Every missing value becomes NaN, the one marker the imputers read as missing: a
            # JSON null arrives as None, which would otherwise be an unseen category.
            values = X[column]
            coerced[column] = values.astype(str).astype(object).where(values.notna(), np.nan)
        return pd.DataFrame(coerced, index=X.index)[self.columns_]

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        check_is_fitted(self, "columns_")
        return np.asarray(self.columns_, dtype=object)

    def _check_columns(self, X: pd.DataFrame) -> None:
        if not isinstance(X, pd.DataFrame):
            raise TypeError(
                f"the model expects a pandas DataFrame of raw rows, got {type(X).__name__}"
            )
        expected = [*self.numeric_columns, *self.categorical_columns, *self.text_columns]
        missing = [c for c in expected if c not in X.columns]
        if missing:
            raise ValueError(
                f"input rows lack the model's columns {missing}; send every column of the model "
                "signature"
            )
