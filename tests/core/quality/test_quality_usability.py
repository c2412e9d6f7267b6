"""Usable: missing, placeholder, infinite, duplicated, constant, imbalanced, outlying, mistyped,
stale."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from mleng.card.data_checks import DataChecksSettings, ReportSettings
from mleng.quality.columns import resolve_feature_columns
from mleng.quality.usability import (
    check_usability,
    count_duplicate_rows,
    find_outlier_fences,
    measure_column_health,
)
from mleng.quality.usability_findings import build_usability_findings
from tests.corpus import synthetic_card


def detectors_for(
    frame: pd.DataFrame, settings: DataChecksSettings | None = None, **card_changes
) -> dict[str, set]:
    card = synthetic_card(**card_changes)
    settings = settings or DataChecksSettings()
    features = resolve_feature_columns(frame, card)
    findings = build_usability_findings(
        check_usability(frame, card, features, settings), features, settings
    )
    found: dict[str, set] = {}
    for finding in findings:
        found.setdefault(finding.detector, set()).update(finding.columns)
    return found


def base_frame(rows: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "x": rng.normal(size=rows),
            "c": rng.choice(["p", "q", "r"], rows),
            "y": rng.choice(["a", "b"], rows),
        }
    )


def test_clean_frame_has_no_usability_findings() -> None:
    assert detectors_for(base_frame()) == {}


def test_missing_values_and_placeholders_count_together_against_the_threshold() -> None:
    frame = base_frame()
    frame.loc[:11, "x"] = np.nan
    frame.loc[12:17, "c"] = "?"
    frame.loc[18:23, "c"] = np.nan
    assert detectors_for(frame)["missing_values"] == {"x", "c"}  # 12 of 200 rows each, above 5%
    health = measure_column_health(frame["c"], "c", 3.0)
    assert health.placeholders == 6 and health.missing == 6


def test_infinite_values_fail_by_default() -> None:
    frame = base_frame().assign(x=lambda f: f["x"].where(f.index != 3, np.inf))
    assert detectors_for(frame)["infinite_values"] == {"x"}


def test_duplicates_and_conflicting_labels_are_counted() -> None:
    frame = pd.DataFrame({"x": [1, 1, 1, 2], "y": ["a", "a", "b", "a"]})
    assert count_duplicate_rows(frame, "y") == (1, 3)
    doubled = pd.concat([base_frame(), base_frame().head(20)])
    assert "duplicate_rows" in detectors_for(doubled)


def test_constant_and_near_constant_features_are_flagged_but_not_the_target() -> None:
    frame = base_frame(1000).assign(k=5, rare=lambda f: np.where(f.index == 0, "x", "z"))
    found = detectors_for(frame)
    assert found["constant_column"] == {"k"}
    assert found["near_constant_column"] == {"rare"}


def test_class_imbalance_below_ratio_is_flagged() -> None:
    frame = base_frame(500).assign(y=["rare"] * 10 + ["common"] * 490)
    assert "class_imbalance" in detectors_for(frame)


def test_outlier_fences_ignore_the_dominant_value_of_zero_inflated_columns() -> None:
    values = np.r_[np.zeros(900), np.linspace(1000, 5000, 99), 99999.0]
    lower, upper, excluded = find_outlier_fences(values, 3.0)
    assert excluded == 0.0 and lower < 1000 and 5000 < upper < 99999
    health = measure_column_health(pd.Series(values), "gain", 3.0)
    assert health.outliers == 1


def test_peaked_columns_do_not_turn_ordinary_values_into_outliers() -> None:
    hours = pd.Series(np.r_[np.full(600, 40), np.arange(10, 70, 0.15)])
    assert measure_column_health(hours, "hours", 3.0).outliers == 0


def test_outliers_beyond_threshold_are_flagged() -> None:
    frame = base_frame(400)
    frame.loc[:9, "x"] = 1e6
    assert detectors_for(frame)["outliers"] == {"x"}


def test_declared_numeric_holding_words_is_a_wrong_type_and_undeclared_one_is_numbers_as_text() -> (
    None
):
    frame = base_frame().assign(
        n=[str(i) for i in range(199)] + ["forty"], m=[str(i) for i in range(199)] + ["n/a?"]
    )
    found = detectors_for(frame, numeric_columns=["x", "n"])
    assert found["wrong_type"] == {"n"}
    assert detectors_for(frame)["numbers_as_text"] == {"n", "m"}


def test_declared_columns_missing_from_the_data_fail() -> None:
    found = detectors_for(base_frame(), numeric_columns=["x", "gone"])
    assert found["missing_column"] == {"gone"}


def test_stale_rows_are_counted_relative_to_the_newest_timestamp() -> None:
    frame = base_frame(100).assign(t=pd.date_range("2020-01-01", periods=100, freq="7D"))
    settings = DataChecksSettings(report=ReportSettings(stale_after=timedelta(days=365)))
    card = synthetic_card(timestamp_column="t")
    report = check_usability(frame, card, resolve_feature_columns(frame, card), settings)
    assert report.stale_rows == 47  # weeks older than 52 weeks before the last of 100 weekly rows
