"""Window settings for a file that is one series: a timestamp and the target, nothing else.

Such a file has no feature columns, so `mleng card init` models it from its own past: each
example is a window of the latest values and the target the next one. The window's length
follows the series' step (a day of hours, a week of days, a year of weeks or months), and the
file is refused when its timestamps cannot be ordered or repeat.
"""

from __future__ import annotations

import pandas as pd

from mleng.data.inference import find_order_problem, format_count, parse_times
from mleng.errors import DataError

# A series' step -> (window length, what it spans): a day of hours, a week of days, a year of
# weeks, a year of months; any other step gets 12 steps.
SEASONS = (
    (pd.Timedelta(hours=1), pd.Timedelta(hours=1), 24, "a day"),
    (pd.Timedelta(days=1), pd.Timedelta(days=1), 7, "a week"),
    (pd.Timedelta(days=7), pd.Timedelta(days=7), 52, "a year"),
    (pd.Timedelta(days=28), pd.Timedelta(days=31), 12, "a year"),
)


def infer_windows(frame: pd.DataFrame, timestamp: str, source: str) -> tuple[dict, str]:
    """Window settings for a file that is one series (a timestamp and the target only)."""
    problem = find_order_problem(frame[timestamp].dropna(), strict=True)
    if problem:
        raise DataError(
            f"Data file {source} ({format_count(len(frame))} rows) has only a timestamp "
            f"('{timestamp}') and the target, a series, but its timestamps do not all parse "
            f"({problem}); rewrite them in one format and timezone (ISO 8601, UTC)"
        )
    times = parse_times(frame[timestamp]).dropna()
    repeated = int(times.duplicated().sum())
    if repeated:
        raise DataError(
            f"Data file {source} ({format_count(len(frame))} rows) has only a timestamp "
            f"('{timestamp}') and the target, but {repeated} repeated timestamps: a series needs "
            "one row per step; aggregate it per step or add feature columns"
        )
    steps = times.sort_values().diff().dropna()
    step = steps.median() if not steps.empty else pd.Timedelta(0)
    length, span = 12, "12 steps"
    for shortest, longest, season, label in SEASONS:
        if shortest * 0.95 <= step <= longest * 1.05:
            length, span = season, label
    length = max(2, min(length, len(times) // 10))
    windows: dict = {"length": length, "horizon": 1}
    if step > pd.Timedelta(0) and (steps % step == pd.Timedelta(0)).all():
        windows["frequency"] = _offset(step)
    note = (
        f"the file is one series ('{timestamp}' and the target only, median step "
        f"{_describe_step(step)}): each example is a window of the past {length} values "
        f"({span}) and the target the next value. Set length to the series' season"
    )
    return windows, note


def _describe_step(step: pd.Timedelta) -> str:
    if step > pd.Timedelta(0) and step % pd.Timedelta(days=1) == pd.Timedelta(0):
        days = step.days
        return f"{days} day{'s' if days != 1 else ''}"
    return str(step)


def _offset(step: pd.Timedelta) -> str:
    seconds = int(step.total_seconds())
    for size, unit in ((86400, "D"), (3600, "h"), (60, "min")):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
