"""tasks.features: the features report for reviewers."""

from __future__ import annotations

import json

import pytest
from mlflow import MlflowClient

from tasks.features import report_features
from tests.tasks.task_helpers import COLUMNS, artifact_paths, read_artifact_text


@pytest.mark.slow
def test_report_features_measures_every_feature_and_logs_markdown_and_json(
    prefect_server, context, client: MlflowClient, split
):
    report = report_features.fn(context, split)

    assert set(report["features"]) == set(COLUMNS.all)
    assert report["rows"]["train"] == len(split.train_rows)
    assert report["rows"]["test"] == len(split.test_rows)
    for name in COLUMNS.numeric:
        assert report["features"][name]["kind"] == "numeric"
    for name in COLUMNS.categorical:
        assert report["features"][name]["kind"] == "categorical"
    assert all(entry["mutual_information"] >= 0 for entry in report["features"].values())
    # Marital status and relationship carry much of the Adult signal; fnlwgt (a census weight)
    # carries almost none.
    information = {name: entry["mutual_information"] for name, entry in report["features"].items()}
    assert information["relationship"] > information["fnlwgt"]
    assert artifact_paths(client, context.run_id, "features") == {
        "features/report.md",
        "features/report.json",
    }
    assert json.loads(read_artifact_text(client, context.run_id, "features/report.json")) == report
    markdown = read_artifact_text(client, context.run_id, "features/report.md")
    assert all(name in markdown for name in COLUMNS.all)
