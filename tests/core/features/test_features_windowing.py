"""Windowing: shapes and statistics, no window sees its future, gaps handled, temporal split with a
gap."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mleng.card.features import WindowSettings
from mleng.features.windowing import build_window_examples, fill_short_gaps, split_temporal

CO2 = Path(__file__).resolve().parents[3] / "data" / "co2_weekly.csv"
FEATURE_COLUMNS = [
    "co2__mean",
    "co2__std",
    "co2__min",
    "co2__max",
    "co2__last",
    "co2__slope",
    "co2__returns",
]


def weekly(values: list[float] | np.ndarray, label: list[str] | None = None) -> pd.DataFrame:
    frame = pd.DataFrame(
        {"week": pd.date_range("2020-01-04", periods=len(values), freq="7D"), "co2": values}
    )
    if label is not None:
        frame["label"] = label
    return frame


def test_windows_have_the_requested_length_stride_and_horizon() -> None:
    frame = weekly(np.arange(20.0) + 1)
    examples = build_window_examples(
        frame, "week", ["co2"], WindowSettings(length=5, stride=2, horizon=3)
    )
    assert (
        len(examples) == 7
    )  # window ends at steps 4, 6, ..., 16, whose target is the last step, 19
    assert list(examples.columns) == [
        "window_start",
        "window_end",
        "target_time",
        *FEATURE_COLUMNS,
        "co2",
    ]
    first = examples.iloc[0]
    assert (first.window_start, first.window_end) == (frame.week[0], frame.week[4])
    assert first.target_time == frame.week[7] and first.co2 == 8.0
    assert (first.co2__mean, first.co2__min, first.co2__max, first.co2__last) == (
        3.0,
        1.0,
        5.0,
        5.0,
    )
    assert first.co2__slope == pytest.approx(1.0)
    assert first.co2__returns == pytest.approx(4.0)  # (5 - 1) / 1
    assert first.co2__std == pytest.approx(np.std([1, 2, 3, 4, 5]))


def test_every_target_comes_strictly_after_its_window() -> None:
    frame = weekly(np.random.default_rng(0).normal(size=60))
    examples = build_window_examples(frame, "week", ["co2"], WindowSettings(length=8, horizon=2))
    assert (examples.target_time > examples.window_end).all()
    by_time = frame.set_index("week").co2
    assert examples.co2.tolist() == by_time.loc[examples.target_time].tolist()


@pytest.mark.parametrize("gap_policy", ["interpolate", "drop"])
def test_no_window_uses_values_at_or_after_its_target_time(gap_policy: str) -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=120).cumsum()
    values[rng.choice(120, size=25, replace=False)] = np.nan  # scattered gaps, some at window ends
    settings = WindowSettings(length=6, horizon=1, gap_policy=gap_policy, max_gap=3)
    examples = build_window_examples(weekly(values), "week", ["co2"], settings)
    features = ["window_start", "window_end", *FEATURE_COLUMNS]
    for position in range(0, len(examples), 7):
        example = examples.iloc[position]
        times = weekly(values).week
        future = (times > example.window_end).to_numpy()
        after_target = (times > example.target_time).to_numpy()
        corrupted = values.copy()
        corrupted[future] = rng.normal(1e6, 1.0, size=int(future.sum()))  # the target too
        corrupted[after_target & (rng.random(120) < 0.3)] = np.nan  # and new gaps beyond it
        recomputed = build_window_examples(weekly(corrupted), "week", ["co2"], settings)
        same_window = recomputed.loc[recomputed.window_end == example.window_end, features]
        assert len(same_window) == 1, (
            "a window ending in the past must not depend on the future to exist"
        )
        pd.testing.assert_series_equal(same_window.iloc[0], example[features], check_names=False)


def test_short_gaps_are_interpolated_and_long_gaps_left_missing() -> None:
    values = np.array([1.0, np.nan, 3.0, np.nan, np.nan, np.nan, 7.0, np.nan])
    filled = fill_short_gaps(values, max_gap=2)
    np.testing.assert_array_equal(filled[:3], [1.0, 2.0, 3.0])
    assert np.isnan(filled[3:6]).all() and filled[6] == 7.0 and np.isnan(filled[7])


def test_windows_ending_on_a_missing_step_or_with_a_long_gap_are_dropped() -> None:
    values = np.arange(1.0, 13.0)
    values[[4, 8, 9, 10]] = np.nan  # one short gap, then a gap of three
    settings = WindowSettings(
        length=3, horizon=1, gap_policy="interpolate", max_gap=1, statistics=["last"]
    )
    examples = build_window_examples(weekly(values), "week", ["co2"], settings)
    frame = weekly(values)
    kept_ends = [frame.week.tolist().index(t) for t in examples.window_end]
    assert kept_ends == [2, 5, 6]  # end 3 has a missing target, 4 is missing, 7+ touch the long gap
    assert examples.co2__last.tolist() == [3.0, 6.0, 7.0]


def test_drop_policy_keeps_only_fully_observed_windows() -> None:
    values = np.arange(1.0, 11.0)
    values[4] = np.nan
    settings = WindowSettings(length=3, gap_policy="drop", statistics=["mean"])
    examples = build_window_examples(weekly(values), "week", ["co2"], settings)
    frame = weekly(values)
    assert [frame.week.tolist().index(t) for t in examples.window_end] == [2, 7, 8]


def test_absent_timestamps_become_missing_steps_with_a_frequency() -> None:
    frame = weekly(np.arange(1.0, 11.0)).drop(index=[5])
    settings = WindowSettings(length=3, gap_policy="drop", frequency="7D", statistics=["last"])
    examples = build_window_examples(frame, "week", ["co2"], settings)
    steps = pd.date_range("2020-01-04", periods=10, freq="7D").tolist()
    # Week 5 is absent: windows ending at 5, 6, 7 contain it and the one ending at 4 targets it.
    assert [steps.index(t) for t in examples.window_end] == [2, 3, 8]


def test_a_future_label_can_be_the_target_and_extra_statistics_are_named() -> None:
    values = np.arange(1.0, 9.0)
    label = ["low", "low", "low", "high", "high", "high", "high", "high"]
    settings = WindowSettings(length=3, horizon=2, statistics=["mean"])
    examples = build_window_examples(
        weekly(values, label),
        "week",
        ["co2"],
        settings,
        target_column="label",
        extra_statistics={"range": np.ptp},
    )
    assert list(examples.columns) == [
        "window_start",
        "window_end",
        "target_time",
        "co2__mean",
        "co2__range",
        "label",
    ]
    assert examples.label.tolist() == ["high"] * 4
    assert examples.co2__range.tolist() == [2.0] * 4


def test_repeated_timestamps_are_an_error_and_unsorted_rows_are_ordered() -> None:
    frame = weekly(np.arange(8.0))
    with pytest.raises(ValueError, match="repeated timestamps"):
        build_window_examples(
            pd.concat([frame, frame.head(1)]), "week", ["co2"], WindowSettings(length=3)
        )
    shuffled = frame.sample(frac=1.0, random_state=0)
    pd.testing.assert_frame_equal(
        build_window_examples(shuffled, "week", ["co2"], WindowSettings(length=3)),
        build_window_examples(frame, "week", ["co2"], WindowSettings(length=3)),
    )


def test_co2_weekly_missing_weeks_leave_only_complete_windows() -> None:
    frame = pd.read_csv(CO2)
    assert int(frame.co2.isna().sum()) == 59
    settings = WindowSettings(length=52, frequency="7D")
    interpolated = build_window_examples(frame, "date", ["co2"], settings)
    dropped = build_window_examples(
        frame, "date", ["co2"], settings.model_copy(update={"gap_policy": "drop"})
    )
    assert np.isfinite(interpolated[FEATURE_COLUMNS].to_numpy()).all()
    assert interpolated.co2.notna().all()
    assert len(dropped) < len(interpolated) < len(frame) - 52
    assert (interpolated.target_time - interpolated.window_end == pd.Timedelta(weeks=1)).all()


def test_temporal_split_leaves_the_gap_between_train_and_test() -> None:
    frame = weekly(np.arange(100.0))
    train, test = split_temporal(frame, "week", test_size=0.2, gap=5)
    assert (len(train), len(test)) == (75, 20)
    assert train.week.max() == frame.week[74] and test.week.min() == frame.week[80]
    train, test = split_temporal(frame, "week", test_size=0.2, gap="3W")
    assert (test.week.min() - train.week.max()) > pd.Timedelta(weeks=3)
    assert train.week.max() == frame.week[76]


def test_temporal_split_keeps_rows_with_the_same_time_together() -> None:
    frame = pd.DataFrame({"t": [1, 2, 3, 3, 3, 4], "x": range(6)})
    train, test = split_temporal(frame, "t", test_size=0.5)
    assert train.t.tolist() == [1, 2] and test.t.tolist() == [3, 3, 3, 4]


def test_temporal_split_refuses_a_gap_that_leaves_no_training_rows() -> None:
    with pytest.raises(ValueError, match="no training rows"):
        split_temporal(weekly(np.arange(10.0)), "week", test_size=0.5, gap=5)
