"""Reliable: can the data be trusted over time? Timestamp order, label delay and level shifts.

A column whose mean jumps at one moment (a sensor swap, a new form, a changed definition)
teaches the model a relation that no longer holds; these checks need a timestamp column.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from mleng.card import DatasetCard
from mleng.card.data_checks import DataChecksSettings
from mleng.data.loading import FeatureColumns
from mleng.quality.columns import find_positive_label, parse_times, to_float_array
from mleng.quality.findings import Finding
from mleng.reports.formatting import to_jsonable

MIN_SHIFT_ROWS = 40
EDGE_FRACTION = (
    0.1  # ignore change points in the first and last 10%, where a mean rests on few rows
)
MAX_GLITCH_FRACTION = 0.05  # mostly ordered rows with a few out of place point at a loading glitch


@dataclass(frozen=True)
class LevelShift:
    """The largest jump of a column's mean over time: where, how big, how sure."""

    column: str
    at_time: str | None
    before_mean: float
    after_mean: float
    effect: float
    t_statistic: float


@dataclass(frozen=True)
class ReliabilityReport:
    """Measurements behind the 'reliable' question; empty when there is no timestamp column."""

    timestamp_column: str | None
    unparseable_timestamps: int = 0
    out_of_order_fraction: float | None = None
    label_delay_median_hours: float | None = None
    label_delay_p90_hours: float | None = None
    negative_label_delays: int = 0
    immature_label_rows: int = 0
    level_shifts: list[LevelShift] = field(default_factory=list)
    note: str = ""

    def to_dict(self) -> dict[str, object]:
        return to_jsonable(asdict(self))


def find_level_shift(values: np.ndarray) -> tuple[int, float, float, float, float] | None:
    """The best single change point of a time-ordered series: index, means before/after, effect, t.

    Effect is the jump in standard deviations of the whole series; t is the jump over its
    standard error. Missing values are dropped first.
    """
    finite = values[np.isfinite(values)]
    n = len(finite)
    std = float(finite.std()) if n else 0.0
    if n < MIN_SHIFT_ROWS or std == 0:
        return None
    cumulative = np.cumsum(finite)
    splits = np.arange(max(int(n * EDGE_FRACTION), 2), min(int(n * (1 - EDGE_FRACTION)), n - 2))
    if len(splits) == 0:
        return None
    left = cumulative[splits - 1] / splits
    right = (cumulative[-1] - cumulative[splits - 1]) / (n - splits)
    t_values = np.abs(left - right) / (std * np.sqrt(1 / splits + 1 / (n - splits)))
    best = int(np.argmax(t_values))
    position = int(np.flatnonzero(np.isfinite(values))[splits[best]])
    return (
        position,
        float(left[best]),
        float(right[best]),
        float(abs(left[best] - right[best]) / std),
        float(t_values[best]),
    )


def detect_level_shifts(
    times: pd.Series, columns: dict[str, np.ndarray], min_effect: float, min_t: float
) -> list[LevelShift]:
    """Columns whose mean jumps by at least `min_effect` standard deviations with t >= `min_t`."""
    shifts = []
    for name, values in columns.items():
        found = find_level_shift(values)
        if found is None:
            continue
        position, before, after, effect, t_value = found
        if effect >= min_effect and t_value >= min_t:
            shifts.append(
                LevelShift(name, to_jsonable(times.iloc[position]), before, after, effect, t_value)
            )
    return sorted(shifts, key=lambda shift: -shift.effect)


def build_shift_series(
    ordered: pd.DataFrame,
    features: FeatureColumns,
    target: str,
    task: str,
    positive_label: object | None,
) -> dict[str, np.ndarray]:
    """The series watched for shifts: numeric values, each column's missingness, and the label."""
    series: dict[str, np.ndarray] = {c: to_float_array(ordered[c]) for c in features.numeric}
    for column in features.all:
        missing = ordered[column].isna().to_numpy(dtype=float)
        series[f"{column} (missing share)"] = missing
    if target in ordered.columns:
        if task == "regression":
            series[f"{target} (target)"] = to_float_array(ordered[target])
        elif task == "binary":
            positive = find_positive_label(ordered[target], positive_label)
            series[f"{target} (share of {positive})"] = (ordered[target] == positive).to_numpy(
                dtype=float
            )
    return series


def check_reliability(
    frame: pd.DataFrame, card: DatasetCard, features: FeatureColumns, settings: DataChecksSettings
) -> ReliabilityReport:
    """Timestamp order, label delays and level shifts, when the card names a timestamp column."""
    column = card.timestamp_column
    if not column or column not in frame.columns:
        return ReliabilityReport(
            column, note="no timestamp column: time order, label delay and level shifts not checked"
        )
    times = parse_times(frame[column])
    unparseable = int((times.isna() & frame[column].notna()).sum())
    valid = times.dropna()
    out_of_order = float((valid.diff().dt.total_seconds() < 0).mean()) if len(valid) > 1 else 0.0
    median = p90 = None
    negative = immature = 0
    if settings.label_time_column and settings.label_time_column in frame.columns:
        delays = (parse_times(frame[settings.label_time_column]) - times).dt.total_seconds() / 3600
        if delays.notna().any():
            median, p90 = float(delays.median()), float(delays.quantile(0.9))
        negative = int((delays < 0).sum())
        immature = int((frame[settings.label_time_column].isna() & times.notna()).sum())
    if settings.label_delay is not None and len(valid):
        immature = max(
            immature, int((times > valid.max() - pd.Timedelta(settings.label_delay)).sum())
        )
    order = np.argsort(times.to_numpy(), kind="stable")
    ordered = frame.iloc[order]
    series = build_shift_series(ordered, features, card.target, card.task, card.positive_label)
    options = settings.report
    shifts = detect_level_shifts(
        times.iloc[order], series, options.level_shift_min_effect, options.level_shift_min_t
    )
    return ReliabilityReport(
        column, unparseable, out_of_order, median, p90, negative, immature, shifts
    )


def build_reliability_findings(
    report: ReliabilityReport, settings: DataChecksSettings
) -> list[Finding]:
    """Findings for unparseable or glitchy timestamps, label delay problems and level shifts."""
    policy = settings.policy_for
    column = report.timestamp_column
    findings: list[Finding] = []
    glitch = (
        report.out_of_order_fraction is not None
        and 0 < report.out_of_order_fraction <= MAX_GLITCH_FRACTION
    )
    if report.unparseable_timestamps or glitch:
        findings.append(
            Finding(
                "timestamp_order",
                (column,) if column else (),
                {
                    "unparseable": report.unparseable_timestamps,
                    "out_of_order_fraction": report.out_of_order_fraction,
                },
                policy("timestamp_order"),
                f"Timestamp column '{column}': {report.unparseable_timestamps:,} values cannot "
                f"be read as dates and {100 * (report.out_of_order_fraction or 0):.2f}% of rows "
                "come earlier than the row before them in an otherwise ordered file; check the "
                "export for late or mis-dated rows.",
            )
        )
    if report.negative_label_delays or report.immature_label_rows:
        findings.append(
            Finding(
                "label_delay",
                (),
                {
                    "negative_delays": report.negative_label_delays,
                    "immature_rows": report.immature_label_rows,
                    "median_hours": report.label_delay_median_hours,
                },
                policy("label_delay"),
                f"{report.negative_label_delays:,} rows have a label dated before their event and "
                f"{report.immature_label_rows:,} rows are too recent for their label to be final; "
                "fix the label times and leave the immature rows out of training.",
            )
        )
    for shift in report.level_shifts:
        findings.append(
            Finding(
                "level_shift",
                (shift.column.split(" (")[0],),
                {
                    "at": shift.at_time,
                    "before": shift.before_mean,
                    "after": shift.after_mean,
                    "effect_sd": round(shift.effect, 3),
                    "t": round(shift.t_statistic, 1),
                },
                policy("level_shift"),
                f"'{shift.column}' jumps from a mean of {shift.before_mean:.4g} to "
                f"{shift.after_mean:.4g} ({shift.effect:.2f} standard deviations, "
                f"t = {shift.t_statistic:.1f}) around {shift.at_time}; find what changed then "
                "(definition, source, units) and train on the consistent period.",
            )
        )
    return findings
