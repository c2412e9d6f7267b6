"""Expectation suites profiled from real Adult rows: what must pass, what must fail, and the
reports."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from mleng.card import DatasetCard, validate_card
from mleng.errors import DataError, MlengError, ValidationFailed
from mleng.validation.suites import (
    ExpectationOutcome,
    ValidationReport,
    build_suite,
    load_suite,
    raise_for_failures,
    render_validation_html,
    render_validation_markdown,
    save_suite,
    validate_frame,
)
from tests.helpers import ADULT, ADULT_CATEGORICAL, ADULT_NUMERIC


def make_card(**overrides) -> DatasetCard:
    fields = {
        "name": "adult",
        "path": str(ADULT),
        "target": "class",
        "task": "binary",
        "positive_label": ">50K",
        "model_name": "adult-income",
        "numeric_columns": ADULT_NUMERIC,
        "categorical_columns": ADULT_CATEGORICAL,
    }
    return validate_card({**fields, **overrides})


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return pd.read_csv(ADULT, nrows=2000)


@pytest.fixture(scope="module")
def suite(reference: pd.DataFrame) -> dict:
    return build_suite(reference, make_card(), ADULT_NUMERIC, ADULT_CATEGORICAL)


@pytest.fixture
def frame(reference: pd.DataFrame) -> pd.DataFrame:
    return reference.copy()


def failed(report: ValidationReport, expectation: str, column: str | None) -> ExpectationOutcome:
    """The failure of `expectation` on `column`; fails the test if there is none."""
    matches = [o for o in report.failures if o.expectation == expectation and o.column == column]
    assert matches, f"no failure of {expectation} on {column}; failures: {report.failures}"
    return matches[0]


def test_suite_built_from_data_validates_that_same_data(reference, suite):
    report = validate_frame(reference, suite, source="reference")

    assert report.success, report.failures
    assert report.n_rows == 2000
    assert [o.expectation for o in report.outcomes] == [e["type"] for e in suite["expectations"]]


def test_suite_is_named_after_card_and_holds_each_kind_of_check(suite):
    by_type: dict[str, list[dict]] = {}
    for expectation in suite["expectations"]:
        by_type.setdefault(expectation["type"], []).append(expectation["kwargs"])

    assert suite["name"] == "adult"
    assert by_type["expect_table_columns_to_match_set"][0]["exact_match"] is False
    assert by_type["expect_table_row_count_to_be_between"][0]["min_value"] == 200
    assert {k["column"] for k in by_type["expect_column_values_to_be_in_type_list"]} == set(
        ADULT_NUMERIC
    )
    assert {k["column"] for k in by_type["expect_column_values_to_be_of_type"]} == set(
        ADULT_CATEGORICAL
    )
    category_sets = {k["column"]: k for k in by_type["expect_column_values_to_be_in_set"]}
    assert (
        category_sets["class"]["value_set"] == ["<=50K", ">50K"]
        and "mostly" not in category_sets["class"]
    )
    assert category_sets["sex"]["mostly"] == 0.99
    workclass_nulls = next(
        k for k in by_type["expect_column_values_to_not_be_null"] if k["column"] == "workclass"
    )
    assert 0.8 < workclass_nulls["mostly"] < 0.99  # the reference itself has ~6% missing workclass


def test_numeric_range_is_widened_by_tolerance_times_span(reference, suite):
    age_ranges = [
        k
        for e in suite["expectations"]
        if e["type"] == "expect_column_values_to_be_between"
        for k in [e["kwargs"]]
        if k["column"] == "age"
    ]
    soft = next(k for k in age_ranges if "mostly" in k)
    low, high = reference["age"].min(), reference["age"].max()

    assert soft["max_value"] == pytest.approx(high + 0.1 * (high - low), abs=1e-5)
    assert soft["min_value"] == pytest.approx(low - 0.1 * (high - low), abs=1e-5)


@pytest.fixture(scope="module")
def broken_frame(reference: pd.DataFrame) -> pd.DataFrame:
    """One frame with a different fault per column, validated once to keep the file fast."""
    frame = reference.drop(columns=["education"])
    frame["fnlwgt"] = frame["fnlwgt"].astype(str)
    frame["sex"] = (frame["sex"] == "Male").astype(int)
    frame.loc[:6, "class"] = ">50K."
    frame["capital-gain"] = frame["capital-gain"].astype(float)
    frame.loc[5, "capital-gain"] = np.inf
    frame["hours-per-week"] = frame["hours-per-week"].astype(float)
    frame.loc[:99, "hours-per-week"] = np.nan  # 5% missing where the reference had none
    frame.loc[:99, "age"] = 150  # many rows beyond the widened range
    frame.loc[0, "education-num"] = 10_000  # one absurd value beyond the hard bounds
    frame.loc[:299, "occupation"] = [f"new-{i % 30}" for i in range(300)]
    return frame


@pytest.fixture(scope="module")
def broken_report(broken_frame: pd.DataFrame, suite: dict) -> ValidationReport:
    return validate_frame(broken_frame, suite, source="broken.csv")


@pytest.fixture(scope="module")
def harmless_report(reference: pd.DataFrame, suite: dict) -> ValidationReport:
    """Changes real data shows without being wrong: other numeric dtypes, one new category."""
    frame = reference.copy()
    frame["age"] = frame["age"].astype("Int64")
    frame["fnlwgt"] = frame["fnlwgt"].astype("float32")
    frame["hours-per-week"] = frame["hours-per-week"].astype("Float64")
    frame["workclass"] = frame["workclass"].astype(object)
    frame.loc[3, "occupation"] = "Space-force"
    return validate_frame(frame, suite)


def test_frame_missing_a_column_fails_naming_the_column(broken_report):
    outcome = failed(broken_report, "expect_table_columns_to_match_set", None)

    assert outcome.observed["missing"] == ["education"]
    column_errors = {o.observed["error"] for o in broken_report.failures if o.column == "education"}
    assert column_errors == {"column 'education' is missing"}
    assert not broken_report.success


def test_wrong_types_fail(broken_report):
    numeric = failed(broken_report, "expect_column_values_to_be_in_type_list", "fnlwgt")
    text = failed(broken_report, "expect_column_values_to_be_of_type", "sex")

    assert (numeric.observed, text.observed) == ("str", "int64")


def test_nullable_and_narrow_numeric_dtypes_pass_the_type_check(harmless_report):
    assert harmless_report.success, harmless_report.failures


def test_unknown_target_label_fails_with_count_of_bad_rows(broken_report):
    outcome = failed(broken_report, "expect_column_values_to_be_in_set", "class")

    assert outcome.unexpected_count == 7
    assert outcome.observed == [{"value": ">50K.", "count": 7}]


def test_target_full_of_nulls_fails(frame, suite):
    frame["class"] = None

    outcome = failed(validate_frame(frame, suite), "expect_column_values_to_not_be_null", "class")

    assert outcome.unexpected_count == 2000


def test_a_single_inf_fails_the_range_check(broken_report):
    outcome = failed(broken_report, "expect_column_values_to_be_between", "capital-gain")

    assert outcome.unexpected_count == 1
    assert outcome.observed == [{"value": "inf", "count": 1}]


def test_nan_counts_as_null(broken_report):
    outcome = failed(broken_report, "expect_column_values_to_not_be_null", "hours-per-week")

    assert outcome.unexpected_count == 100


def test_far_out_of_range_values_fail(broken_report):
    many = failed(broken_report, "expect_column_values_to_be_between", "age")
    one_absurd = failed(broken_report, "expect_column_values_to_be_between", "education-num")

    assert (many.unexpected_count, many.kwargs["mostly"]) == (100, 0.99)
    assert (one_absurd.unexpected_count, "mostly" in one_absurd.kwargs) == (1, False)


def test_one_rare_new_category_passes_but_many_unknown_categories_fail(
    broken_report, harmless_report
):
    outcome = failed(broken_report, "expect_column_values_to_be_in_set", "occupation")

    assert outcome.unexpected_count == 300
    assert harmless_report.success, harmless_report.failures


def test_too_few_rows_fail(frame, suite):
    outcome = failed(
        validate_frame(frame.head(50), suite), "expect_table_row_count_to_be_between", None
    )

    assert outcome.observed == 50


def test_regression_target_is_checked_against_a_widened_range(frame):
    card = make_card(
        target="hours-per-week",
        task="regression",
        positive_label=None,
        numeric_columns=ADULT_NUMERIC[:-1],
    )
    suite = build_suite(frame, card, ADULT_NUMERIC[:-1], [])
    frame.loc[:49, "hours-per-week"] = 1_000

    report = validate_frame(frame, suite)

    assert (
        failed(report, "expect_column_values_to_be_between", "hours-per-week").unexpected_count
        == 50
    )


def test_building_rejects_columns_absent_or_mistyped_in_the_reference(frame):
    with pytest.raises(DataError, match="not in the reference"):
        build_suite(frame.drop(columns=["age"]), make_card(), ADULT_NUMERIC, ADULT_CATEGORICAL)
    with pytest.raises(DataError, match="'sex' is listed as numeric"):
        build_suite(
            frame,
            make_card(),
            [*ADULT_NUMERIC, "sex"],
            [c for c in ADULT_CATEGORICAL if c != "sex"],
        )


def test_saved_suite_loads_and_validates_the_same(tmp_path, suite, broken_frame, broken_report):
    path = tmp_path / "nested" / "adult.json"

    save_suite(suite, path)
    loaded = load_suite(path)

    assert loaded == suite
    assert validate_frame(broken_frame, loaded, "broken.csv").to_dict() == broken_report.to_dict()


def test_save_refuses_to_overwrite_unless_asked(tmp_path, suite):
    path = tmp_path / "adult.json"
    save_suite(suite, path)

    with pytest.raises(MlengError, match=re.escape(str(path))):
        save_suite(suite, path)
    save_suite({**suite, "notes": "edited"}, path, overwrite=True)
    assert load_suite(path)["notes"] == "edited"


def test_loading_a_missing_suite_names_the_file_and_the_init_command(tmp_path):
    path = tmp_path / "missing.json"

    with pytest.raises(MlengError, match=re.escape(str(path))) as error:
        load_suite(path)
    assert "mleng expectations init" in str(error.value)


@pytest.mark.parametrize(
    "tampered",
    [
        {"type": "expect_column_values_to_be_between", "kwargs": {"colum": "age", "min_value": 0}},
        {
            "type": "expect_column_to_be_lovely",
            "kwargs": {"column": "age"},
        },  # GX alone would skip it
    ],
)
def test_tampered_suite_with_an_invalid_expectation_raises_instead_of_skipping(
    tmp_path, suite, tampered
):
    path = tmp_path / "adult.json"
    broken = json.loads(json.dumps(suite))
    broken["expectations"].append(tampered)
    path.write_text(json.dumps(broken))

    with pytest.raises(MlengError, match=rf"{re.escape(str(path))}.*#{len(suite['expectations'])}"):
        load_suite(path)


def test_markdown_report_names_each_failed_expectation_column_and_bad_rows(broken_report):
    markdown = render_validation_markdown(broken_report)

    failures, passes = markdown.split("## Passed expectations")
    assert "**FAILED**" in failures and "`broken.csv`" in failures
    for outcome in broken_report.failures:
        count = "" if outcome.unexpected_count is None else f"{outcome.unexpected_count:,}"
        row = rf"\| {outcome.expectation} \| {re.escape(outcome.column or '(table)')} \| {count} \|"
        assert re.search(row, failures), row
    assert re.search(r"\| expect_column_values_to_be_in_set \| class \| 7 \|", failures)
    assert "expect_column_values_to_not_be_null" in passes


def test_html_report_is_self_contained_and_escapes_values(broken_report):
    injected = ExpectationOutcome(
        "expect_column_values_to_be_in_set",
        "<b>",
        False,
        1,
        0.1,
        [{"value": "<script>", "count": 1}],
        {},
    )
    report = ValidationReport("adult", "x.csv", 10, False, [injected])

    for page in (render_validation_html(broken_report), render_validation_html(report)):
        assert "<style>" in page
        assert not re.search(r"https?://", page)
        assert "<script" not in page and "<link" not in page and "<b>" not in page
    assert "&lt;script&gt;" in render_validation_html(report)


def test_report_dict_is_strict_json_even_with_inf_values(broken_report):
    data = json.loads(json.dumps(broken_report.to_dict(), allow_nan=False))

    assert data["success"] is False and data["n_failures"] == len(broken_report.failures)
    with pytest.raises(ValidationFailed, match="capital-gain"):
        raise_for_failures(broken_report)
