"""Bias: selection against a reference sample, label rates per group, model metrics per group with
intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mleng.card import DataChecksSettings
from mleng.quality import (
    ModelOutcomes,
    compare_with_reference,
    measure_group_performance,
    measure_label_rates,
)
from mleng.quality.bias import read_reference_sample
from mleng.quality.markdown import render_bias_markdown


def population(rows: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 80, rows),
            "region": rng.choice(["north", "south", "east"], rows, p=[0.5, 0.3, 0.2]),
            "sex": rng.choice(["f", "m"], rows),
            "y": rng.choice(["yes", "no"], rows),
        }
    )


def flagged(report, detector: str) -> set[str]:
    return {f.columns[0] for f in report.findings if f.detector == detector}


def test_two_samples_of_one_population_do_not_differ() -> None:
    report = compare_with_reference(
        population(seed=0), population(seed=1), ["age", "region"], DataChecksSettings()
    )
    assert report.findings == [] and len(report.comparisons) == 2


def test_a_sample_selected_on_a_column_differs_from_the_reference_on_it() -> None:
    train = population().query("age < 45")
    report = compare_with_reference(
        train, population(seed=1), ["age", "region"], DataChecksSettings()
    )
    assert flagged(report, "selection_bias") == {"age"}
    age = next(c for c in report.comparisons if c.column == "age")
    assert age.ks_statistic > 0.3 and age.wasserstein_scaled > 0.3


def test_category_shares_that_moved_are_flagged_by_total_variation_and_psi() -> None:
    train = population()
    train.loc[train.index[:900], "region"] = "east"
    report = compare_with_reference(train, population(seed=1), ["region"], DataChecksSettings())
    (comparison,) = report.comparisons
    assert comparison.total_variation > 0.2 and comparison.psi > 0.2
    assert flagged(report, "selection_bias") == {"region"}


def test_levels_never_seen_in_the_reference_are_unseen_categories() -> None:
    train = population().replace({"region": {"north": "North"}})
    report = compare_with_reference(train, population(seed=1), ["region"], DataChecksSettings())
    assert flagged(report, "unseen_categories") == {"region"}
    assert "North" in report.findings[-1].message


def test_columns_absent_from_the_reference_are_skipped() -> None:
    report = compare_with_reference(
        population(), population(seed=1).drop(columns="age"), ["age"], DataChecksSettings()
    )
    assert report.comparisons == []


def test_label_rates_that_differ_across_a_sensitive_group_are_flagged() -> None:
    frame = population()
    frame["y"] = np.where(
        (frame["sex"] == "m") & (np.random.default_rng(2).random(len(frame)) < 0.6),
        "yes",
        frame["y"],
    )
    settings = DataChecksSettings(sensitive_columns=["sex", "region"])
    report = measure_label_rates(frame, "y", "binary", "yes", settings)
    assert flagged(report, "label_bias") == {"sex"}
    rates = {s.group: s.value for s in report.group_statistics if s.column == "sex"}
    assert rates["m"] - rates["f"] > 0.2


def test_numeric_sensitive_columns_are_grouped_into_quartiles() -> None:
    frame = population()
    settings = DataChecksSettings(sensitive_columns=["age"])
    report = measure_label_rates(frame, "y", "binary", "yes", settings)
    assert len({s.group for s in report.group_statistics}) == 4


def test_regression_label_gap_is_measured_in_standard_deviations() -> None:
    frame = population().assign(
        income=lambda f: (
            np.where(f["sex"] == "m", 1.0, 0.0) + np.random.default_rng(1).normal(0, 1, len(f))
        )
    )
    report = measure_label_rates(
        frame, "income", "regression", None, DataChecksSettings(sensitive_columns=["sex"])
    )
    assert flagged(report, "label_bias") == {"sex"}


def test_a_model_worse_for_one_group_is_flagged_with_non_overlapping_intervals() -> None:
    frame = population(4000)
    y = frame["y"].to_numpy()
    wrong = (frame["sex"] == "f").to_numpy() & (np.random.default_rng(3).random(len(frame)) < 0.3)
    predictions = np.where(wrong, np.where(y == "yes", "no", "yes"), y)
    settings = DataChecksSettings(sensitive_columns=["sex", "region"])
    report = measure_group_performance(
        frame,
        ModelOutcomes(y, predictions, positive_label="yes"),
        settings,
        ["accuracy", "true_positive_rate"],
    )
    assert flagged(report, "performance_gap") == {"sex"}
    female = next(s for s in report.group_statistics if s.group == "f" and s.name == "accuracy")
    assert female.lower < female.value < female.upper and abs(female.value - 0.7) < 0.03


def test_equal_error_rates_across_groups_raise_no_performance_gap() -> None:
    frame = population(4000)
    y = frame["y"].to_numpy()
    wrong = np.random.default_rng(4).random(len(frame)) < 0.2
    predictions = np.where(wrong, np.where(y == "yes", "no", "yes"), y)
    settings = DataChecksSettings(sensitive_columns=["sex", "region", "age"])
    scores = np.where(predictions == "yes", 0.8, 0.2)
    report = measure_group_performance(
        frame,
        ModelOutcomes(y, predictions, scores, "yes"),
        settings,
        ["accuracy", "roc_auc", "false_positive_rate"],
    )
    assert report.findings == []
    assert {s.name for s in report.group_statistics} == {
        "accuracy",
        "roc_auc",
        "false_positive_rate",
    }


def test_regression_group_errors_and_unknown_metrics() -> None:
    frame = population(500)
    truth = np.linspace(0, 10, 500)
    settings = DataChecksSettings(sensitive_columns=["sex"])
    report = measure_group_performance(
        frame, ModelOutcomes(truth, truth + 1), settings, ["mae", "rmse"]
    )
    assert {round(s.value, 6) for s in report.group_statistics} == {1.0}
    with pytest.raises(ValueError, match="unknown group metric"):
        measure_group_performance(frame, ModelOutcomes(truth, truth), settings, ["f2"])


def test_reference_sample_is_read_from_csv_and_a_missing_one_is_a_clear_error(tmp_path) -> None:
    path = tmp_path / "reference.csv"
    population(10).to_csv(path, index=False)
    assert len(read_reference_sample(path)) == 10
    with pytest.raises(FileNotFoundError, match="reference_path"):
        read_reference_sample(tmp_path / "none.csv")


def test_bias_report_renders_and_serialises() -> None:
    report = compare_with_reference(
        population().query("age < 45"), population(seed=1), ["age"], DataChecksSettings()
    )
    assert "selection_bias" in render_bias_markdown(report)
    assert report.to_dict()["findings"][0]["detector"] == "selection_bias"
