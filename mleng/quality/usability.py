"""Usable: can a model learn from these values as they are? Missing, duplicated, constant,
imbalanced, extreme, wrongly typed or stale data, each measured per column.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import timedelta

import numpy as np
import pandas as pd

from mleng.config import DatasetCard
from mleng.data import FeatureColumns
from mleng.quality.columns import describe_values, is_numeric_column, parse_times
from mleng.quality.findings import Finding, format_number, to_jsonable
from mleng.quality.settings import DataChecksSettings

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


def build_usability_findings(
    report: UsabilityReport, features: FeatureColumns, settings: DataChecksSettings
) -> list[Finding]:
    """A finding for each usability problem past its threshold, with the fix in the message."""
    options = settings.report
    policy = settings.policy_for
    findings: list[Finding] = []
    for column in report.missing_columns:
        findings.append(
            Finding(
                "missing_column",
                (column,),
                {"columns_in_data": len(report.columns)},
                policy("missing_column"),
                f"Column '{column}' is named in the dataset card but is not among the "
                f"{len(report.columns)} columns of the data; fix the card or the export that made the file.",
            )
        )
    for column, text in report.wrong_types.items():
        findings.append(
            Finding(
                "wrong_type",
                (column,),
                asdict(text),
                policy("wrong_type"),
                f"Column '{column}' is declared numeric but {text.rows:,} rows ({100 * text.share:.1f}%) "
                f"hold text such as {text.examples}; convert them to numbers or declare it categorical.",
            )
        )
    for column, text in report.numbers_as_text.items():
        findings.append(
            Finding(
                "numbers_as_text",
                (column,),
                asdict(text),
                policy("numbers_as_text"),
                f"Column '{column}' is numbers stored as text except {text.rows:,} rows "
                f"({100 * text.share:.1f}%) such as {text.examples}; clean those so it can be a number.",
            )
        )
    feature_set = set(features.all)
    for item in report.columns:
        findings.extend(
            build_column_findings(item, item.column in feature_set, report.rows, settings)
        )
    if report.duplicate_fraction > options.max_duplicate_fraction:
        findings.append(
            Finding(
                "duplicate_rows",
                (),
                {
                    "duplicates": report.duplicate_rows,
                    "fraction": round(report.duplicate_fraction, 4),
                    "conflicting": report.conflicting_duplicates,
                },
                policy("duplicate_rows"),
                f"{report.duplicate_rows:,} rows ({100 * report.duplicate_fraction:.1f}%) repeat an "
                f"earlier row ({report.conflicting_duplicates:,} share features but not the label); "
                "deduplicate before splitting, or duplicates will sit in both train and test.",
            )
        )
    if report.class_ratio is not None and report.class_ratio < options.min_class_ratio:
        findings.append(
            Finding(
                "class_imbalance",
                (),
                {"class_counts": report.class_counts, "ratio": report.class_ratio},
                policy("class_imbalance"),
                f"Classes are imbalanced: smallest/largest = {report.class_ratio:.3f} "
                f"({report.class_counts}); use a metric that copes (roc_auc, balanced_accuracy), "
                "class weights, or collect more of the rare class.",
            )
        )
    if report.stale_rows:
        findings.append(
            Finding(
                "stale_rows",
                (),
                {"stale_rows": report.stale_rows, "stale_after": report.stale_after},
                policy("stale_rows"),
                f"{report.stale_rows:,} rows are older than {report.stale_after} before the newest "
                "row; consider dropping or down-weighting them if the world has changed since.",
            )
        )
    return findings


def build_column_findings(
    item: ColumnHealth, is_feature: bool, rows: int, settings: DataChecksSettings
) -> list[Finding]:
    """Infinite, missing, constant, near-constant and outlying values of one column."""
    options = settings.report
    policy = settings.policy_for
    name = item.column
    found: list[Finding] = []
    if item.infinite:
        found.append(
            Finding(
                "infinite_values",
                (name,),
                {"infinite": item.infinite},
                policy("infinite_values"),
                f"Column '{name}' holds {item.infinite:,} infinite values, which the model cannot "
                "train on; replace them with missing values or cap them at the source.",
            )
        )
    missing_share = (item.missing + item.placeholders) / max(rows, 1)
    if missing_share > options.max_missing_fraction:
        placeholder_note = (
            f", {item.placeholders:,} as placeholders like '?'" if item.placeholders else ""
        )
        found.append(
            Finding(
                "missing_values",
                (name,),
                {
                    "missing": item.missing,
                    "placeholders": item.placeholders,
                    "fraction": round(missing_share, 4),
                },
                policy("missing_values"),
                f"Column '{name}' is missing in {100 * missing_share:.1f}% of rows ({item.missing:,} "
                f"empty{placeholder_note}); find out why before trusting imputation, or drop it.",
            )
        )
    if not is_feature:
        return found
    if item.distinct <= 1:
        found.append(
            Finding(
                "constant_column",
                (name,),
                {"distinct": item.distinct, "rows": rows},
                policy("constant_column"),
                f"Column '{name}' has {item.distinct} distinct value in all {rows:,} rows and carries "
                "no information; drop it.",
            )
        )
    elif item.top_fraction >= options.near_constant_fraction:
        found.append(
            Finding(
                "near_constant_column",
                (name,),
                {"top_fraction": round(item.top_fraction, 4)},
                policy("near_constant_column"),
                f"Column '{name}' has one value in {100 * item.top_fraction:.2f}% of rows; it can "
                "hardly help and may overfit on the rest; consider dropping it.",
            )
        )
    if item.outlier_fraction is not None and item.outlier_fraction > options.max_outlier_fraction:
        found.append(
            Finding(
                "outliers",
                (name,),
                {
                    "outliers": item.outliers,
                    "fraction": round(item.outlier_fraction, 4),
                    "lower_fence": item.lower_fence,
                    "upper_fence": item.upper_fence,
                },
                policy("outliers"),
                f"Column '{name}' has {item.outliers:,} values ({100 * item.outlier_fraction:.1f}%) "
                f"outside [{format_number(item.lower_fence)}, {format_number(item.upper_fence)}]; "
                "check for unit errors or sentinel codes such as 99999.",
            )
        )
    return found
