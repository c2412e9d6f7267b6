"""Usable: can a model learn from these values as they are? Missing, duplicated, constant,
imbalanced, extreme, wrongly typed or stale data, each measured per column.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import timedelta

import numpy as np
import pandas as pd

from mleng.card import DatasetCard
from mleng.card.data_checks import DataChecksSettings
from mleng.data.loading import FeatureColumns
from mleng.quality.columns import describe_values, is_numeric_column, parse_times
from mleng.reports.formatting import to_jsonable

PLACEHOLDERS = frozenset(
    {"?", "na", "n/a", "nan", "null", "none", "-", "--", "missing", "unknown", ""}
)
TEXT_NUMBER_SHARE = (
    0.9  # text columns with at least this share of numbers are numbers stored as text
)


@dataclass(frozen=True)
class ColumnHealth:
    """One column's missing, placeholder, infinite, distinct and outlying values."""

    column: str
    dtype: str
    missing: int
    missing_fraction: float
    placeholders: int
    infinite: int
    distinct: int
    top_fraction: float
    outliers: int | None = None
    outlier_fraction: float | None = None
    lower_fence: float | None = None
    upper_fence: float | None = None


@dataclass(frozen=True)
class TextValues:
    """Values of a number column that are not numbers: how many rows hold them, and examples."""

    rows: int
    share: float
    examples: list[str]


@dataclass(frozen=True)
class UsabilityReport:
    """The measurements behind the 'usable' question, for the whole table and per column."""

    rows: int
    columns: list[ColumnHealth]
    duplicate_rows: int
    duplicate_fraction: float
    conflicting_duplicates: int
    class_counts: dict[str, int]
    class_ratio: float | None
    missing_columns: list[str]
    wrong_types: dict[str, TextValues]
    numbers_as_text: dict[str, TextValues]
    stale_rows: int | None = None
    stale_after: str | None = None
    time_range: list[str | None] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return to_jsonable(asdict(self))


def find_outlier_fences(
    values: np.ndarray, multiplier: float = 3.0
) -> tuple[float, float, float | None] | None:
    """Fences at the quartiles -/+ `multiplier` x spread, and the value left out, if any.

    The spread is the IQR, or the IQR a normal distribution with the same 5-95% range would have
    if that is larger: peaked columns (most people work 40 hours) have a tiny IQR that would
    call ordinary values outliers. When one value fills more than half the column (zero-inflated
    counts), the fences come from the other values and that value is never an outlier.
    """
    finite = values[np.isfinite(values)]
    excluded = None
    if len(finite) >= 4:
        median = float(np.median(finite))
        if (finite == median).mean() > 0.5:
            excluded, finite = median, finite[finite != median]
    if len(finite) < 4:
        return None
    q05, q25, q75, q95 = np.percentile(finite, [5, 25, 75, 95])
    spread = max(q75 - q25, (q95 - q05) / 3.29 * 1.349)
    if spread == 0:
        return None
    return float(q25 - multiplier * spread), float(q75 + multiplier * spread), excluded


def measure_column_health(series: pd.Series, name: str, multiplier: float) -> ColumnHealth:
    """Missing, placeholders such as '?', infinities, distinct values, top share and outliers."""
    rows = max(len(series), 1)
    missing = int(series.isna().sum())
    counts = series.value_counts(dropna=False)
    top_fraction = float(counts.iloc[0] / rows) if len(counts) else 0.0
    placeholders = infinite = 0
    outliers = fraction = lower = upper = None
    if is_numeric_column(series):
        raw = series.to_numpy(dtype=float, na_value=np.nan)
        infinite = int(np.isinf(raw).sum())
        fences = find_outlier_fences(raw, multiplier)
        if fences is not None:
            lower, upper, excluded = fences
            finite = raw[np.isfinite(raw) & (raw != excluded)]
            outliers = int(((finite < lower) | (finite > upper)).sum())
            fraction = outliers / rows
    elif not pd.api.types.is_bool_dtype(series) and not pd.api.types.is_datetime64_any_dtype(
        series
    ):
        text = counts.index.to_series().astype(str).str.strip().str.lower()
        placeholders = int(counts[text.isin(PLACEHOLDERS).to_numpy() & counts.index.notna()].sum())
    return ColumnHealth(
        name,
        str(series.dtype),
        missing,
        missing / rows,
        placeholders,
        infinite,
        int(series.nunique(dropna=False)),
        top_fraction,
        outliers,
        fraction,
        lower,
        upper,
    )


def count_duplicate_rows(frame: pd.DataFrame, target: str | None) -> tuple[int, int]:
    """Rows repeating an earlier row, and rows whose features repeat with a different label."""
    if frame.empty or frame.shape[1] == 0:
        return 0, 0
    duplicates = int(frame.duplicated().sum())
    if target is None or target not in frame.columns or frame.shape[1] < 2:
        return duplicates, 0
    features = [c for c in frame.columns if c != target]
    labels = frame.groupby(features, dropna=False, sort=False)[target].transform("nunique")
    return duplicates, int((labels > 1).sum())


def find_type_problems(
    frame: pd.DataFrame, declared_numeric: list[str] | None, candidates: list[str]
) -> tuple[dict[str, TextValues], dict[str, TextValues]]:
    """Declared numeric columns holding text, and undeclared text columns that are mostly numbers.

    Each maps the column to examples of the values that are not numbers, for the message.
    """
    wrong: dict[str, TextValues] = {}
    as_text: dict[str, TextValues] = {}
    for column in candidates:
        series = frame[column]
        if (
            is_numeric_column(series)
            or pd.api.types.is_bool_dtype(series)
            or pd.api.types.is_datetime64_any_dtype(series)
        ):
            continue
        counts = series.value_counts()  # parse each distinct value once, not every row
        numbers = pd.to_numeric(
            pd.Series(counts.index.astype(str), dtype=object), errors="coerce"
        ).to_numpy()
        is_text = np.isnan(numbers.astype(float))
        not_numbers = pd.Series(counts.index[is_text])
        number_share = float(counts.to_numpy()[~is_text].sum() / max(counts.sum(), 1))
        text_rows = int(counts.to_numpy()[is_text].sum())
        found = TextValues(text_rows, text_rows / max(len(series), 1), describe_values(not_numbers))
        if declared_numeric is not None and column in declared_numeric:
            wrong[column] = found
        elif len(counts) and is_text.any() and number_share >= TEXT_NUMBER_SHARE:
            as_text[column] = found
    return wrong, as_text


def count_stale_rows(times: pd.Series, stale_after: timedelta) -> int:
    """Rows whose timestamp is older than `stale_after` before the newest timestamp."""
    if times.notna().sum() == 0:
        return 0
    return int((times < times.max() - pd.Timedelta(stale_after)).sum())


def check_usability(
    frame: pd.DataFrame, card: DatasetCard, features: FeatureColumns, settings: DataChecksSettings
) -> UsabilityReport:
    """Measure every 'usable' property of the table in one pass over its columns."""
    options = settings.report
    declared = [
        card.target,
        *card.id_columns,
        *(card.numeric_columns or []),
        *(card.categorical_columns or []),
        *(card.text_columns or []),
    ]
    declared += [card.timestamp_column] if card.timestamp_column else []
    missing_columns = [c for c in dict.fromkeys(declared) if c not in frame.columns]
    health = [
        measure_column_health(frame[c], str(c), options.outlier_iqr_multiplier)
        for c in frame.columns
    ]
    target = card.target if card.target in frame.columns else None
    duplicates, conflicting = count_duplicate_rows(frame, target)
    class_counts: dict[str, int] = {}
    ratio = None
    if target is not None and card.task != "regression":
        counts = frame[target].value_counts()
        class_counts = {str(k): int(v) for k, v in counts.items()}
        ratio = float(counts.min() / counts.max()) if len(counts) else None
    wrong, as_text = find_type_problems(
        frame, card.numeric_columns, [c for c in frame.columns if c != card.target]
    )
    stale = None
    time_range: list[str | None] = []
    if card.timestamp_column and card.timestamp_column in frame.columns:
        times = parse_times(frame[card.timestamp_column])
        time_range = [to_jsonable(times.min()), to_jsonable(times.max())]
        if options.stale_after is not None:
            stale = count_stale_rows(times, options.stale_after)
    rows = len(frame)
    return UsabilityReport(
        rows,
        health,
        duplicates,
        duplicates / max(rows, 1),
        conflicting,
        class_counts,
        ratio,
        missing_columns,
        wrong,
        as_text,
        stale,
        to_jsonable(options.stale_after),
        time_range,
    )
