"""Turn an ordered series into supervised examples whose features only see the past.

Each example is a window of `length` consecutive steps summarised by statistics per value column,
and a target taken `horizon` steps after the window's last step, so no window sees the time its
target comes from, or anything later. Missing steps follow `WindowSettings.gap_policy`; see
`fill_short_gaps` for why interpolation cannot leak the future into a kept window.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from mleng.card.features import WindowSettings

Statistic = Callable[[np.ndarray], np.ndarray]


def _slope(windows: np.ndarray) -> np.ndarray:
    steps = np.arange(windows.shape[1], dtype=float)
    centred = steps - steps.mean()
    return (windows - windows.mean(axis=1, keepdims=True)) @ centred / (centred @ centred)


def _returns(windows: np.ndarray) -> np.ndarray:
    first, last = windows[:, 0], windows[:, -1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(first != 0, (last - first) / np.abs(first), np.nan)


# Each maps windows of shape (n_windows, length) to one value per window.
STATISTICS: dict[str, Statistic] = {
    "mean": lambda w: w.mean(axis=1),
    "std": lambda w: w.std(axis=1),
    "min": lambda w: w.min(axis=1),
    "max": lambda w: w.max(axis=1),
    "last": lambda w: w[:, -1],
    "slope": _slope,  # least-squares change per step
    "returns": _returns,  # (last - first) / |first|; missing when first is 0
}


def fill_short_gaps(values: np.ndarray, max_gap: int) -> np.ndarray:
    """Linearly interpolate runs of at most `max_gap` missing steps between two observations.

    A filled step uses only the observations just before and just after its run, so a window
    whose last step was observed contains no filled step that depends on anything after the
    window. Longer runs, and runs at either end of the series, stay missing.
    """
    values = np.asarray(values, dtype=float)
    missing = np.isnan(values)
    observed = np.flatnonzero(~missing)
    if len(observed) < 2 or not missing.any():
        return values.copy()
    filled = values.copy()
    gaps = np.diff(observed) - 1  # missing steps between consecutive observations
    for left, gap in zip(observed[:-1], gaps, strict=True):
        if 0 < gap <= max_gap:
            right = left + gap + 1
            filled[left + 1 : right] = np.interp(
                np.arange(left + 1, right), [left, right], values[[left, right]]
            )
    return filled


def _order_series(
    frame: pd.DataFrame, timestamp_column: str, columns: Sequence[str], frequency: str | None
) -> pd.DataFrame:
    """Sorted, unique timestamps; with `frequency`, absent timestamps are inserted as missing
    rows."""
    missing = sorted({timestamp_column, *columns} - set(frame.columns))
    if missing:
        raise ValueError(f"columns {missing} are not in the frame (it has {list(frame.columns)})")
    ordered = frame[
        [timestamp_column, *dict.fromkeys(c for c in columns if c != timestamp_column)]
    ].copy()
    times = ordered[timestamp_column]
    if not (pd.api.types.is_numeric_dtype(times) or pd.api.types.is_datetime64_any_dtype(times)):
        ordered[timestamp_column] = pd.to_datetime(times)
    ordered = ordered.sort_values(timestamp_column, kind="stable").reset_index(drop=True)
    duplicated = ordered[timestamp_column].duplicated()
    if duplicated.any():
        raise ValueError(
            f"{int(duplicated.sum())} repeated timestamps in {timestamp_column!r} "
            f"(first: {ordered.loc[duplicated, timestamp_column].iloc[0]}); aggregate them to one "
            "row per step first"
        )
    if frequency is None:
        return ordered
    grid = pd.date_range(
        ordered[timestamp_column].iloc[0], ordered[timestamp_column].iloc[-1], freq=frequency
    )
    off_grid = ~ordered[timestamp_column].isin(grid)
    if off_grid.any():
        raise ValueError(
            f"{int(off_grid.sum())} timestamps do not fall on the {frequency!r} grid starting at "
            f"{grid[0]} (first: {ordered.loc[off_grid, timestamp_column].iloc[0]}); fix `frequency`"
        )
    return (
        ordered.set_index(timestamp_column)
        .reindex(grid)
        .rename_axis(timestamp_column)
        .reset_index()
    )


def build_window_examples(
    frame: pd.DataFrame,
    timestamp_column: str,
    value_columns: Sequence[str],
    settings: WindowSettings,
    target_column: str | None = None,
    extra_statistics: Mapping[str, Callable[[np.ndarray], float]] | None = None,
) -> pd.DataFrame:
    """One row per window: `window_start`, `window_end`, `target_time`,
    `<column>__<statistic>`, target.

    The target column (default: the first value column; it may also be a label column that is
    not a feature) is read `settings.horizon` steps after `window_end`, never filled, and rows
    whose target is missing are dropped. `extra_statistics` maps a name to a function of one
    window's values (1D array, oldest first) returning a float, added as `<column>__<name>`.
    """
    if not value_columns:
        raise ValueError("value_columns is empty; name at least one column to summarise")
    target_column = target_column or value_columns[0]
    extra = dict(extra_statistics or {})
    clashes = sorted(set(extra) & set(STATISTICS))
    if clashes:
        raise ValueError(f"extra statistics {clashes} reuse built-in names; rename them")
    ordered = _order_series(
        frame, timestamp_column, [*value_columns, target_column], settings.frequency
    )
    length, horizon = settings.length, settings.horizon
    ends = np.arange(length - 1, len(ordered) - horizon, settings.stride)
    starts = ends - length + 1
    keep = np.ones(len(ends), dtype=bool)
    features: dict[str, np.ndarray] = {}
    for column in value_columns:
        raw = ordered[column].to_numpy(dtype=float)
        values = (
            fill_short_gaps(raw, settings.max_gap) if settings.gap_policy == "interpolate" else raw
        )
        windows = (
            sliding_window_view(values, length)[starts] if len(ends) else np.empty((0, length))
        )
        keep &= ~np.isnan(windows).any(axis=1) & ~np.isnan(raw[ends])
        for name in settings.statistics:
            features[f"{column}__{name}"] = STATISTICS[name](windows)
        for name, function in extra.items():
            features[f"{column}__{name}"] = np.array(
                [function(window) for window in windows], dtype=float
            )
    target = ordered[target_column].to_numpy()[ends + horizon]
    keep &= pd.notna(target)
    times = ordered[timestamp_column].to_numpy()
    examples = pd.DataFrame(
        {
            "window_start": times[starts],
            "window_end": times[ends],
            "target_time": times[ends + horizon],
            **features,
            target_column: target,
        }
    )
    return examples.loc[keep].reset_index(drop=True)


def split_temporal(
    frame: pd.DataFrame, timestamp_column: str, test_size: float, gap: int | str | pd.Timedelta = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train on the past, test on the last `test_size` share of rows, with `gap` left out between.

    `gap` is a number of rows, or a duration ('8W', a Timedelta) such that every training row is
    more than that before the first test row. Rows sharing a timestamp stay on the same side. For
    window examples split on `target_time` with a gap of at least `length + horizon - 1` steps,
    so no test window overlaps a training window or its target.
    """
    if not 0 < test_size < 1:
        raise ValueError(f"test_size must be a fraction in (0, 1), got {test_size}")
    ordered = frame.sort_values(timestamp_column, kind="stable")
    times = ordered[timestamp_column]
    n_test = int(np.ceil(test_size * len(ordered)))
    if n_test >= len(ordered):
        raise ValueError(f"test_size {test_size} leaves no training rows out of {len(ordered)}")
    first_test_time = times.iloc[len(ordered) - n_test]
    test = ordered.loc[(times >= first_test_time).to_numpy()]
    before = ordered.loc[(times < first_test_time).to_numpy()]
    if isinstance(gap, int):
        if gap < 0:
            raise ValueError(f"gap must be >= 0 rows, got {gap}")
        train = before.iloc[: max(len(before) - gap, 0)]
    else:
        train = before.loc[
            (before[timestamp_column] < first_test_time - pd.Timedelta(gap)).to_numpy()
        ]
    if train.empty:
        raise ValueError(
            f"no training rows left before {first_test_time} with gap {gap!r}; lower test_size "
            "or gap"
        )
    return train, test
