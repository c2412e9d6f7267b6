"""The data report answers five questions on any table, serialises to JSON, renders, and plots."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from mleng.card import DataChecksSettings
from mleng.quality import (
    build_data_report,
    detect_leakage,
    plot_learning_curve,
    plot_missing_values,
    render_data_report_markdown,
)
from mleng.quality.columns import resolve_feature_columns
from mleng.quality.report import QUESTIONS, check_descriptions
from tests.corpus import adult_card, synthetic_card

ADULT_DESCRIPTIONS = {"age": "Age in years", "class": "Income above 50K dollars"}


@pytest.fixture(scope="module")
def adult_report(adult_frame: pd.DataFrame):
    settings = DataChecksSettings(descriptions=ADULT_DESCRIPTIONS, sensitive_columns=["sex"])
    return build_data_report(adult_frame, adult_card(), settings)


def test_adult_report_answers_every_question_with_measurements(adult_report) -> None:
    data = adult_report.to_dict()
    assert set(QUESTIONS) <= set(data)
    assert data["sizeable"]["rules"]["rows"] == 3000
    assert data["sizeable"]["learning_curve"]["verdict"] in ("plateau", "more_data_would_help")
    assert data["sizeable"]["learning_curve"]["mean_scores"][-1] > 0.85
    missing = {c["column"]: c["missing"] for c in data["usable"]["columns"]}
    assert missing["workclass"] > 0 and missing["age"] == 0
    assert (
        "age" not in data["understandable"]["undocumented"]
        and "fnlwgt" in data["understandable"]["undocumented"]
    )
    json.dumps(data, allow_nan=False)


def test_adult_report_fails_on_nothing_and_warns_about_missing_descriptions(adult_report) -> None:
    assert [f for f in adult_report.findings if f.policy == "fail"] == []
    assert "undocumented_column" in {f.detector for f in adult_report.findings}
    assert (
        "class" not in adult_report.findings_for("understandable")[0].columns
    )  # a drop policy never drops the label


def test_markdown_has_a_section_per_question_and_the_findings_table(adult_report) -> None:
    text = render_data_report_markdown(adult_report)
    for heading in (
        "## Findings",
        "## Accessible",
        "## Sizeable",
        "## Usable",
        "## Understandable",
        "## Reliable",
    ):
        assert heading in text
    assert "| workclass |" in text and "Verdict:" in text


def test_plots_return_figures_without_showing_anything(adult_report) -> None:
    curve, missing = (
        plot_learning_curve(adult_report.learning_curve),
        plot_missing_values(adult_report.usability),
    )
    assert isinstance(curve, Figure) and isinstance(missing, Figure)
    assert curve.axes[0].get_xlabel() == "training rows"
    assert len(missing.axes[0].patches) == adult_report.columns


def test_settings_naming_absent_columns_are_reported() -> None:
    frame = pd.DataFrame({"a": [1, 2], "y": [0, 1]})
    check = check_descriptions(
        frame, DataChecksSettings(descriptions={"a": "x", "b": "y"}, known_at={"zz": "after_event"})
    )
    assert check.undocumented == ["y"]
    assert check.unknown_in_settings == {"descriptions": ["b"], "known_at": ["zz"]}


def odd_frames() -> dict[str, tuple[pd.DataFrame, dict]]:
    rng = np.random.default_rng(0)
    wide = pd.DataFrame(rng.normal(size=(60, 300)), columns=[f"f{i}" for i in range(300)]).assign(
        y=rng.choice(["a", "b"], 60)
    )
    nasty = pd.DataFrame({"n": rng.normal(size=200), "y": rng.choice(["a", "b"], 200)})
    nasty.loc[::7, "n"] = np.inf
    nasty.loc[::5, "n"] = np.nan
    nasty["all_missing"] = np.nan
    nasty["flag"] = rng.choice([True, False], 200)
    return {
        "all_numeric": (
            pd.DataFrame(rng.normal(size=(300, 4)), columns=list("abcd")).assign(
                y=lambda f: f["a"] > 0
            ),
            {},
        ),
        "all_categorical": (
            pd.DataFrame({c: rng.choice(list("pqr"), 300) for c in "abc"}).assign(
                y=rng.choice(["u", "v", "w"], 300)
            ),
            {"task": "multiclass"},
        ),
        "tiny": (pd.DataFrame({"a": [1.0, 2.0, 3.0], "y": ["a", "b", "a"]}), {}),
        "one_row": (pd.DataFrame({"a": [1.0], "y": ["a"]}), {}),
        "wide": (wide, {}),
        "nan_and_inf": (nasty, {}),
        "regression": (
            pd.DataFrame(
                {
                    "a": rng.normal(size=300),
                    "c": rng.choice(["p", "q"], 300),
                    "y": rng.normal(size=300),
                }
            ),
            {"task": "regression"},
        ),
        "no_features": (pd.DataFrame({"y": rng.choice(["a", "b"], 50)}), {}),
        "odd_column_names": (
            pd.DataFrame(
                {
                    "weird name|1": rng.normal(size=120),
                    "ünï": rng.choice(["x", "y"], 120),
                    "y": rng.choice([0, 1], 120),
                }
            ),
            {},
        ),
    }


@pytest.mark.parametrize("name", sorted(odd_frames()))
def test_report_and_leakage_run_on_any_table_shape(name: str) -> None:
    frame, changes = odd_frames()[name]
    card = synthetic_card(**changes)
    settings = DataChecksSettings()
    report = build_data_report(frame, card, settings)
    json.dumps(report.to_dict(), allow_nan=False)
    assert render_data_report_markdown(report).startswith("# Data report")
    leakage = detect_leakage(frame, card, resolve_feature_columns(frame, card), settings)
    json.dumps(leakage.to_dict(), allow_nan=False)
    plot_missing_values(report.usability)
    if report.learning_curve is not None:
        plot_learning_curve(report.learning_curve)


def test_infinite_and_all_missing_columns_are_reported_on_the_nasty_frame() -> None:
    frame, _ = odd_frames()["nan_and_inf"]
    report = build_data_report(frame, synthetic_card(), DataChecksSettings(), learning_curve=False)
    by_detector = {(f.detector, f.columns[0]) for f in report.findings if f.columns}
    assert ("infinite_values", "n") in by_detector
    assert ("missing_values", "all_missing") in by_detector and (
        "constant_column",
        "all_missing",
    ) in by_detector


def test_the_report_times_each_question(adult_report) -> None:
    assert set(adult_report.seconds) == set(QUESTIONS)
    assert sum(adult_report.seconds.values()) < 20
