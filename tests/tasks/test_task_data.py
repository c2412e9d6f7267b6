"""tasks.data: reading the card and the data, validating against the suite, the split's record."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient

from mleng.card import DatasetCard
from mleng.data.split import compute_row_keys, format_row_keys
from mleng.errors import CardError, DataError, ValidationFailed
from mleng.tracking.datasets import TRAIN_KEYS_ARTIFACT, digest_keys
from tasks.data import load_data, read_card, split_data, validate_data
from tests.helpers import write_card
from tests.tasks.task_helpers import COLUMNS, SAMPLE_ROWS, artifact_paths, read_artifact_text

VALIDATION_ARTIFACTS = {
    "data_validation/report.md",
    "data_validation/report.html",
    "data_validation/report.json",
}


def test_read_card_applies_budget_and_strategy_overrides(isolated_store: Path, adult_files: Path):
    path = write_card(isolated_store, adult_files / "adult_sample.csv")

    plain = read_card.fn(str(path))
    overridden = read_card.fn(str(path), budget=9, strategy="random")

    assert (plain.search.budget, plain.search.strategy) == (6, "coarse_to_fine")
    assert (overridden.search.budget, overridden.search.strategy) == (9, "random")
    assert overridden.path == adult_files / "adult_sample.csv"


def test_read_card_refuses_an_unknown_strategy_naming_the_flag(
    isolated_store: Path, adult_files: Path
):
    path = write_card(isolated_store, adult_files / "adult_sample.csv")
    with pytest.raises(CardError, match="--strategy bayes"):
        read_card.fn(str(path), strategy="bayes")


def test_load_data_returns_every_row_of_the_card_file(card: DatasetCard, adult_sample):
    frame = load_data.fn(card)
    assert len(frame) == SAMPLE_ROWS
    assert list(frame.columns) == list(adult_sample.columns)
    pd.testing.assert_frame_equal(frame, adult_sample)


def test_load_data_fails_at_once_naming_a_missing_file(make_card, isolated_store: Path):
    card = make_card(path=str(isolated_store / "absent.csv"))
    with pytest.raises(DataError, match="absent.csv does not exist"):
        load_data.fn(card)


def test_split_data_logs_training_and_test_dataset_inputs_with_their_digests(
    context, client: MlflowClient, adult_sample: pd.DataFrame
):
    split = split_data.fn(context, adult_sample, COLUMNS)

    inputs = client.get_run(context.run_id).inputs.dataset_inputs
    by_context = {
        next(tag.value for tag in item.tags if tag.key == "mlflow.data.context"): item.dataset
        for item in inputs
    }
    assert set(by_context) == {"training", "test"}
    train_keys = format_row_keys(split.train_keys)
    test_keys = format_row_keys(split.test_keys)
    assert by_context["training"].name == "adult_test-training"
    assert by_context["test"].name == "adult_test-test"
    assert by_context["training"].digest == digest_keys(train_keys)
    assert by_context["test"].digest == digest_keys(test_keys)
    assert json.loads(by_context["training"].profile)["num_rows"] == len(split.train_rows)
    assert json.loads(by_context["test"].profile)["num_rows"] == len(split.test_rows)
    assert len(split.train_rows) + len(split.test_rows) == SAMPLE_ROWS


def test_split_data_logs_the_training_rows_keys_one_per_line(
    context, client: MlflowClient, adult_sample: pd.DataFrame
):
    split = split_data.fn(context, adult_sample, COLUMNS)

    lines = read_artifact_text(client, context.run_id, TRAIN_KEYS_ARTIFACT).splitlines()
    assert lines == format_row_keys(compute_row_keys(split.train_rows, context.card))
    assert len(lines) == len(split.train_rows)
    assert not set(lines) & set(format_row_keys(split.test_keys))


def test_split_data_puts_a_row_on_the_same_side_whatever_else_is_in_the_file(
    context, adult_sample: pd.DataFrame
):
    full = split_data.fn(context, adult_sample, COLUMNS)
    half = split_data.fn(context, adult_sample.iloc[: SAMPLE_ROWS // 2], COLUMNS)

    full_test = set(format_row_keys(full.test_keys))
    assert set(format_row_keys(half.test_keys)) <= full_test
    assert not set(format_row_keys(half.train_keys)) & full_test


@pytest.mark.slow
def test_validate_data_passes_the_profiled_sample_and_logs_its_report(
    prefect_server, context, client: MlflowClient, adult_sample: pd.DataFrame
):
    report = validate_data.fn(context, adult_sample)

    assert report.success and report.n_rows == SAMPLE_ROWS and not report.failures
    run = client.get_run(context.run_id)
    assert run.data.tags["data.validation"] == "passed"
    assert run.data.tags["data.suite"] == context.card.expectations.name  # no absolute path
    assert run.data.metrics["data_rows"] == SAMPLE_ROWS
    assert run.data.metrics["data_expectations_failed"] == 0
    assert artifact_paths(client, context.run_id, "data_validation") == VALIDATION_ARTIFACTS


@pytest.mark.slow
def test_validate_data_raises_naming_the_column_and_bad_row_count_and_logs_the_report(
    prefect_server, context, client: MlflowClient, adult_sample: pd.DataFrame
):
    broken = adult_sample.copy()
    broken.loc[:16, "age"] = 500  # 17 rows far above the profiled range [17, 90]

    with pytest.raises(ValidationFailed) as raised:
        validate_data.fn(context, broken)

    message = str(raised.value)
    assert "failed 1 of" in message
    assert "expect_column_values_to_be_between on column 'age': 17 bad rows" in message
    assert "Nothing was trained or registered" in message
    run = client.get_run(context.run_id)
    assert run.data.tags["data.validation"] == "failed"
    assert run.data.metrics["data_expectations_failed"] == 1
    assert artifact_paths(client, context.run_id, "data_validation") == VALIDATION_ARTIFACTS
    report = json.loads(read_artifact_text(client, context.run_id, "data_validation/report.json"))
    assert not report["success"] and report["n_failures"] == 1
    [failure] = [outcome for outcome in report["outcomes"] if not outcome["success"]]
    assert (failure["column"], failure["unexpected_count"]) == ("age", 17)
    markdown = read_artifact_text(client, context.run_id, "data_validation/report.md")
    assert "**FAILED**" in markdown and "age" in markdown
    html = read_artifact_text(client, context.run_id, "data_validation/report.html")
    assert html.startswith("<!DOCTYPE html>") and "<script" not in html
