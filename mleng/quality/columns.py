"""Column roles and conversions the checks share, robust to any table the user brings."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from mleng.card import DatasetCard
from mleng.data.loading import FeatureColumns, infer_feature_columns
from mleng.errors import DataError

MAX_ENCODED_LEVELS = 50  # the feature pipeline's one-hot cap per column


def is_numeric_column(series: pd.Series) -> bool:
    """Numbers a model can scale: numeric dtype, but not booleans, which behave as categories."""
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def is_datetime_column(series: pd.Series) -> bool:
    return pd.api.types.is_datetime64_any_dtype(series)


def resolve_feature_columns(frame: pd.DataFrame, card: DatasetCard) -> FeatureColumns:
    """The training flow's feature columns (`infer_feature_columns`), limited to those present.

    The checks must run on broken data too, so a declared column missing from the frame is left
    out here (the usability check reports it) and a table without features gives empty lists.
    """
    try:
        inferred = infer_feature_columns(frame, card)
    except DataError:
        return FeatureColumns([], [])
    present = {c for c in frame.columns if not is_datetime_column(frame[c])}
    return FeatureColumns(
        [c for c in inferred.numeric if c in present],
        [c for c in inferred.categorical if c in present],
        [c for c in inferred.text if c in present],
    )


def count_encoded_width(frame: pd.DataFrame, features: FeatureColumns) -> int:
    """How many columns the model sees: one per numeric, one per kept level of a categorical."""
    levels = sum(
        min(int(frame[c].nunique(dropna=False)), MAX_ENCODED_LEVELS) for c in features.categorical
    )
    return len(features.numeric) + levels


def to_float_array(series: pd.Series) -> np.ndarray:
    """Numbers as floats with text, missing and infinite values all as NaN."""
    if is_datetime_column(series):
        values = series.astype("datetime64[ns]").astype("int64").to_numpy(dtype=float, copy=True)
        values[series.isna().to_numpy()] = np.nan
        return values
    values = pd.to_numeric(series, errors="coerce").to_numpy(
        dtype=float, na_value=np.nan, copy=True
    )
    values[~np.isfinite(values)] = np.nan
    return values


def parse_times(series: pd.Series) -> pd.Series:
    """Timestamps as timezone-naive datetimes; what cannot be parsed becomes NaT."""
    if is_datetime_column(series):
        parsed = series
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = pd.to_datetime(series, errors="coerce", format="mixed", utc=True)
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert(None)
    return parsed


def find_positive_label(target: pd.Series, positive_label: object | None) -> object:
    """The card's positive label, or the last of the sorted labels as scikit-learn would pick."""
    if positive_label is not None:
        return positive_label
    labels = sorted(target.dropna().unique().tolist(), key=str)
    return labels[-1] if labels else None


def describe_values(series: pd.Series, limit: int = 3) -> list[str]:
    """A few example values for a message, as text."""
    return [str(v) for v in series.dropna().unique()[:limit]]
