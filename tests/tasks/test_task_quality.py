"""tasks.quality: sampling, the data checks and their policies, the split's overlap checks and
model metrics per sensitive group."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from mlflow import MlflowClient

from mleng.data.loading import FeatureColumns
from mleng.data.split import split_dataset
from mleng.errors import DataQualityFailed
from mleng.evaluation import predict_with
from tasks.quality import check_data, check_split_rows, measure_group_fairness, sample_data
from tests.tasks.task_helpers import COLUMNS, SAMPLE_ROWS, SEED, artifact_paths, read_artifact_text

# The sample's columns missing in more than 5% of rows (data_checks.report.max_missing_fraction):
# workclass and occupation (6.8% each); native-country (1.4%) stays under it.
COLUMNS_WITH_MISSING = ["workclass", "occupation"]


def test_the_sample_misses_values_in_exactly_the_expected_columns(adult_sample, card):
    limit = card.data_checks.report.max_missing_fraction
    shares = adult_sample[COLUMNS.all].isna().mean()
    assert sorted(shares[shares > limit].index) == sorted(COLUMNS_WITH_MISSING)


def test_sample_data_caps_rows_keeping_the_class_shares(make_card, adult_sample):
    card = make_card(data_checks={"sampling": {"max_rows": 400, "strategy": "stratified"}})

    sampled = sample_data.fn(adult_sample, card, SEED)

    assert len(sampled) == 400
    assert set(sampled.columns) == set(adult_sample.columns)
    full_share = (adult_sample["class"] == ">50K").mean()
    assert (sampled["class"] == ">50K").mean() == pytest.approx(full_share, abs=0.01)
    assert (
        sampled.merge(adult_sample.drop_duplicates(), how="left", indicator=True)["_merge"]
        .eq("both")
        .all()
    )


def test_sample_data_keeps_every_row_without_a_cap(card, adult_sample):
    assert len(sample_data.fn(adult_sample, card, SEED)) == SAMPLE_ROWS


@pytest.mark.slow
def test_check_data_returns_the_frame_columns_and_warnings_and_logs_the_report(
    prefect_server, context, client: MlflowClient, adult_sample: pd.DataFrame
):
    checked = check_data.fn(context, adult_sample, COLUMNS)
    frame, columns, warned = checked.frame, checked.columns, checked.warnings

    pd.testing.assert_frame_equal(frame, adult_sample)
    assert columns == COLUMNS
    assert warned and all(finding.policy == "warn" for finding in warned)
    missing = {c for f in warned if f.detector == "missing_values" for c in f.columns}
    assert missing == set(COLUMNS_WITH_MISSING)
    run = client.get_run(context.run_id)
    metrics = run.data.metrics
    # the learning curve's extrapolation: tagged on the run and handed on for the model card
    assert checked.more_data is not None
    assert checked.more_data == run.data.tags["data.more_data"]
    assert metrics["data_findings_warn"] == len(warned)
    assert metrics["data_findings_fail"] == 0 and metrics["data_findings_drop"] == 0
    assert {"data_check_seconds_usable", "data_check_seconds_sizeable"} <= set(metrics)
    assert {
        "data_report/report.md",
        "data_report/report.json",
        "data_report/missing_values.png",
        "data_report/learning_curve.png",
    } <= artifact_paths(client, context.run_id, "data_report")
    report = json.loads(read_artifact_text(client, context.run_id, "data_report/report.json"))
    assert set(report) == {"report", "leakage", "bias"}


@pytest.mark.slow
def test_check_data_drops_the_columns_a_drop_policy_names_and_tags_them(
    prefect_server, make_card, open_context, client: MlflowClient, adult_sample: pd.DataFrame
):
    card = make_card(data_checks={"policies": {"missing_values": "drop"}})
    context = open_context(card)

    checked = check_data.fn(context, adult_sample, COLUMNS)
    frame, columns, warned = checked.frame, checked.columns, checked.warnings

    assert not set(COLUMNS_WITH_MISSING) & set(frame.columns)
    assert len(frame) == SAMPLE_ROWS
    assert columns.numeric == COLUMNS.numeric
    assert columns.categorical == [c for c in COLUMNS.categorical if c not in COLUMNS_WITH_MISSING]
    assert all(finding.detector != "missing_values" for finding in warned)
    run = client.get_run(context.run_id)
    assert set(run.data.tags["data.dropped_columns"].split(",")) == set(COLUMNS_WITH_MISSING)
    assert run.data.metrics["data_findings_drop"] == len(COLUMNS_WITH_MISSING)


@pytest.mark.slow
def test_check_data_stops_on_a_copy_of_the_target_after_logging_the_report(
    prefect_server, context, client: MlflowClient, adult_sample: pd.DataFrame
):
    leaky = adult_sample.assign(
        salary_band=adult_sample["class"].map({">50K": "high", "<=50K": "low"})
    )
    columns = FeatureColumns(COLUMNS.numeric, [*COLUMNS.categorical, "salary_band"])

    with pytest.raises(DataQualityFailed, match="salary_band") as raised:
        check_data.fn(context, leaky, columns)

    assert "Nothing was trained or registered" in str(raised.value)
    metrics = client.get_run(context.run_id).data.metrics
    assert metrics["data_findings_fail"] >= 1
    assert "data_report/report.md" in artifact_paths(client, context.run_id, "data_report")


def test_check_split_rows_passes_a_key_split_and_logs_nothing(context, client: MlflowClient, split):
    assert check_split_rows.fn(context, split) is None
    assert artifact_paths(client, context.run_id, "data_report") == set()


def test_check_split_rows_stops_on_rows_shared_by_train_and_test_and_logs_them(
    make_card, open_context, client: MlflowClient, adult_sample: pd.DataFrame
):
    card = make_card(id_columns=["row_id"])
    context = open_context(card)
    # The same 300 rows twice under new ids: ids decide the side, so 89 of the 290 test rows
    # are copies of training rows, equal in every column but the id.
    copies = adult_sample.head(300)
    frame = pd.concat([adult_sample, copies], ignore_index=True)
    frame["row_id"] = range(len(frame))
    split = split_dataset(frame, card, COLUMNS)

    with pytest.raises(DataQualityFailed, match="Split checks"):
        check_split_rows.fn(context, split)

    assert artifact_paths(client, context.run_id, "data_report") == {"data_report/split_checks.md"}
    assert "split_overlap" in read_artifact_text(
        client, context.run_id, "data_report/split_checks.md"
    )


def test_measure_group_fairness_does_nothing_without_sensitive_columns(
    context, client: MlflowClient, split, fitted_model
):
    predictions = predict_with(fitted_model, split.test_x)
    assert measure_group_fairness.fn(context, split.test_rows, predictions) is None
    assert artifact_paths(client, context.run_id, "evaluation") == set()


@pytest.mark.slow
def test_measure_group_fairness_logs_metrics_per_sensitive_group(
    prefect_server, make_card, open_context, client: MlflowClient, adult_sample, fitted_model
):
    card = make_card(data_checks={"sensitive_columns": ["sex"]})
    context = open_context(card)
    split = split_dataset(adult_sample, card, COLUMNS)
    predictions = predict_with(fitted_model, split.test_x)

    measure_group_fairness.fn(context, split.test_rows, predictions)

    assert artifact_paths(client, context.run_id, "evaluation") == {
        "evaluation/group_fairness.md",
        "evaluation/group_fairness.json",
    }
    markdown = read_artifact_text(client, context.run_id, "evaluation/group_fairness.md")
    assert markdown.startswith("# Model metrics per group") and "Female" in markdown
    payload = read_artifact_text(client, context.run_id, "evaluation/group_fairness.json")
    assert "Male" in payload and "roc_auc" in payload
