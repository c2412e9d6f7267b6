"""Reliable: timestamp glitches, label delays and level shifts over time are measured and
flagged."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from mleng.card.data_checks import DataChecksSettings
from mleng.quality.columns import resolve_feature_columns
from mleng.quality.reliability import (
    build_reliability_findings,
    check_reliability,
    find_level_shift,
)
from tests.corpus import synthetic_card


def time_series(rows: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "t": pd.date_range("2022-01-01", periods=rows, freq="D"),
            "x": rng.normal(10, 2, rows),
            "c": rng.choice(["u", "v"], rows),
            "y": rng.choice(["a", "b"], rows),
        }
    )


def findings_for(frame: pd.DataFrame, settings: DataChecksSettings | None = None):
    card = synthetic_card(timestamp_column="t", positive_label="b")
    settings = settings or DataChecksSettings()
    report = check_reliability(frame, card, resolve_feature_columns(frame, card), settings)
    return report, build_reliability_findings(report, settings)


def test_stable_series_has_no_reliability_findings() -> None:
    report, findings = findings_for(time_series())
    assert findings == [] and report.level_shifts == []


def test_a_jump_in_the_mean_is_found_near_where_it_happened() -> None:
    values = np.r_[
        np.random.default_rng(1).normal(0, 1, 300), np.random.default_rng(2).normal(2, 1, 300)
    ]
    position, before, after, effect, t_value = find_level_shift(values)
    assert abs(position - 300) <= 15 and after - before > 1.5 and effect > 0.7 and t_value > 6


def test_level_shift_of_a_column_is_flagged_with_its_date() -> None:
    frame = time_series()
    frame.loc[400:, "x"] += 4
    _, findings = findings_for(frame)
    (shift,) = [f for f in findings if f.detector == "level_shift"]
    assert shift.columns == ("x",) and "2023-02" in shift.message


def test_a_column_that_stops_being_recorded_is_a_shift_in_its_missing_share() -> None:
    frame = time_series()
    frame.loc[300:, "c"] = None
    _, findings = findings_for(frame)
    assert any(f.detector == "level_shift" and "c (missing share)" in f.message for f in findings)


def test_a_change_in_the_label_rate_over_time_is_flagged() -> None:
    frame = time_series()
    frame.loc[300:, "y"] = "b"
    _, findings = findings_for(frame)
    assert any(f.detector == "level_shift" and "share of b" in f.message for f in findings)


def test_shift_is_found_even_when_rows_are_not_stored_in_time_order() -> None:
    frame = time_series()
    frame.loc[400:, "x"] += 4
    _, findings = findings_for(frame.sample(frac=1, random_state=0))
    assert any(f.detector == "level_shift" for f in findings)
    assert not any(f.detector == "timestamp_order" for f in findings)  # shuffled, not a glitch


def test_a_few_rows_out_of_order_and_unreadable_dates_are_flagged() -> None:
    frame = time_series().astype({"t": str})
    frame.loc[[100, 200], "t"] = ["2021-06-01", "not a date"]
    report, findings = findings_for(frame)
    assert report.unparseable_timestamps == 1
    assert any(f.detector == "timestamp_order" for f in findings)


def test_label_delays_before_the_event_and_immature_labels_are_flagged() -> None:
    frame = time_series(100)
    frame["label_time"] = frame["t"] + pd.Timedelta(days=3)
    frame.loc[5, "label_time"] = frame.loc[5, "t"] - pd.Timedelta(days=1)
    frame.loc[95:, "label_time"] = pd.NaT
    settings = DataChecksSettings(label_time_column="label_time")
    report, findings = findings_for(frame, settings)
    assert report.negative_label_delays == 1 and report.immature_label_rows == 5
    assert report.label_delay_median_hours == 72
    assert any(f.detector == "label_delay" for f in findings)


def test_a_declared_label_delay_marks_the_most_recent_rows_immature() -> None:
    report, _ = findings_for(time_series(100), DataChecksSettings(label_delay=timedelta(days=10)))
    assert report.immature_label_rows == 10


def test_without_a_timestamp_column_reliability_says_what_was_not_checked() -> None:
    frame = time_series().drop(columns="t")
    card = synthetic_card()
    report = check_reliability(
        frame, card, resolve_feature_columns(frame, card), DataChecksSettings()
    )
    assert "no timestamp column" in report.note
