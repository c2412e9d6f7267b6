"""The features report: predictive power, cost, reliability and associations per raw feature."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mleng.data.loading import FeatureColumns
from mleng.features.report import build_features_report, render_features_markdown
from tests.corpus import synthetic_card


@pytest.fixture(scope="module")
def report() -> dict:
    rng = np.random.default_rng(0)
    rows = 600
    signal = rng.normal(size=rows)
    train = pd.DataFrame(
        {
            "signal": signal,
            "signal_copy": signal * 2 + 1,
            "noise": rng.normal(size=rows),
            "city": rng.choice(["a", "b", "c"], rows),
        }
    )
    train["city_alias"] = train.city.map({"a": "x", "b": "y", "c": "z"})
    train.loc[:59, "noise"] = np.nan
    y = pd.Series((signal > 0).astype(int))
    test = train.head(8).copy()
    test["city"] = ["a", "b", "new", "new", "a", None, "c", "c"]
    test["signal"] = [0.0] * 7 + [99.0]
    columns = FeatureColumns(["signal", "signal_copy", "noise"], ["city", "city_alias"])
    return build_features_report(train, y, test, columns, synthetic_card())


def test_predictive_power_ranks_the_signal_above_noise(report: dict) -> None:
    information = {name: row["mutual_information"] for name, row in report["features"].items()}
    assert information["signal"] > 0.3
    assert information["signal"] > 10 * max(information["noise"], information["city"], 1e-3)


def test_reliability_counts_missing_values_unseen_levels_and_out_of_range_values(
    report: dict,
) -> None:
    noise, city, signal = (report["features"][name] for name in ("noise", "city", "signal"))
    assert noise["missing_fraction_train"] == pytest.approx(0.1)
    assert city["missing_fraction_test"] == pytest.approx(1 / 8, abs=1e-4)
    assert city["unseen_or_out_of_range_test_fraction"] == pytest.approx(
        2 / 7, abs=1e-4
    )  # of the 7 present values
    assert signal["unseen_or_out_of_range_test_fraction"] == pytest.approx(1 / 8, abs=1e-4)


def test_associated_pairs_are_named_on_both_sides(report: dict) -> None:
    pairs = {tuple(pair["features"]): pair["measure"] for pair in report["correlated_pairs"]}
    assert pairs == {("signal", "signal_copy"): "spearman", ("city", "city_alias"): "cramers_v"}
    assert report["features"]["signal_copy"]["correlated_with"] == ["signal"]
    assert report["features"]["noise"]["correlated_with"] == []


def test_cost_is_measured_per_ten_thousand_rows(report: dict) -> None:
    for row in report["features"].values():
        assert 0 < row["fit_seconds_per_10k_rows"] < 5
        assert 0 < row["transform_seconds_per_10k_rows"] < 5


def test_report_is_json_and_renders_a_markdown_table(report: dict) -> None:
    json.dumps(report)
    markdown = render_features_markdown(report)
    table = [line for line in markdown.splitlines() if line.startswith("| ")]
    assert len(table) == 1 + 5  # header + one row per feature
    assert table[1].startswith("| signal |")  # most predictive first
    assert "- signal ~ signal_copy: 1.000 (spearman)" in markdown


def test_cost_follows_the_configured_encoders() -> None:
    rng = np.random.default_rng(1)
    train = pd.DataFrame({"x": rng.normal(size=200), "city": rng.choice(["a", "b"], 200)})
    y = pd.Series(rng.integers(0, 2, 200))
    card = synthetic_card(
        features={
            "categorical": {"columns": {"city": "log_odds_ratio"}},
            "numeric": {"columns": {"x": {"strategy": "kmeans"}}},
        }
    )
    report = build_features_report(train, y, train.head(20), FeatureColumns(["x"], ["city"]), card)
    assert set(report["features"]) == {"x", "city"}
    assert report["rows"] == {"train": 200, "test": 20, "sampled": 200}
