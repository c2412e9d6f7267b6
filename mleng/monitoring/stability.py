"""Numerical stability: how many NaN and infinite values reach the model and leave it."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def count_infinite(values: pd.Series) -> int:
    """Infinite entries of a column: numbers of any numeric dtype, or floats inside an object
    column (a bool or text column holds none)."""
    if pd.api.types.is_bool_dtype(values):
        return 0
    if pd.api.types.is_numeric_dtype(values):
        return int(np.isinf(values.to_numpy(dtype=np.float64, na_value=np.nan)).sum())
    if values.dtype == object:
        return int(values.map(lambda v: isinstance(v, float) and math.isinf(v)).sum())
    return 0


def count_non_finite(frame: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Per column, the NaN (any missing value: NaN, None, NA, NaT) and infinite entries.

    For a model's outputs, wrap them as a frame first, e.g.
    `pd.DataFrame(proba, columns=classes)` or `pd.DataFrame({"prediction": y_pred})`.
    """
    return {
        str(column): {"nan": int(frame[column].isna().sum()), "inf": count_infinite(frame[column])}
        for column in frame.columns
    }
