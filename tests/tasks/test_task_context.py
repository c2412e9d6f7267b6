"""tasks.context: the parent run's lifecycle and the one way tasks log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from matplotlib.figure import Figure
from mlflow import MlflowClient

from mleng.card import DatasetCard
from tasks.context import open_run
from tests.tasks.task_helpers import (
    BOOTSTRAP_RESAMPLES,
    SEED,
    artifact_paths,
    read_artifact_bytes,
    read_artifact_text,
)


def test_open_run_ends_the_parent_run_finished_with_its_tags_in_the_card_experiment(
    card: DatasetCard, client: MlflowClient, isolated_store: Path
):
    tags = {"mleng.flow": "train", "prefect.flow_run_id": "abc"}
    with open_run(card, SEED, "train-ok", tags, BOOTSTRAP_RESAMPLES) as context:
        assert client.get_run(context.run_id).info.status == "RUNNING"
        assert (context.card, context.seed, context.bootstrap_resamples) == (card, SEED, 200)

    run = client.get_run(context.run_id)
    experiment = client.get_experiment(context.experiment_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "train-ok"
    assert {k: run.data.tags[k] for k in tags} == tags
    assert "mleng.error" not in run.data.tags
    assert experiment.name == card.name
    assert experiment.artifact_location == (isolated_store / "mlartifacts" / card.name).as_uri()


def test_open_run_ends_the_parent_run_failed_with_the_error_tag_and_reraises(
    card: DatasetCard, client: MlflowClient
):
    with (
        pytest.raises(ValueError, match="boom"),
        open_run(card, SEED, "train-bad", {}, BOOTSTRAP_RESAMPLES) as context,
    ):
        raise ValueError("boom: the body failed")

    run = client.get_run(context.run_id)
    assert run.info.status == "FAILED"
    assert run.data.tags["mleng.error"] == "ValueError: boom: the body failed"


def test_open_run_reuses_the_card_experiment_across_runs(card: DatasetCard, client: MlflowClient):
    with open_run(card, SEED, "first", {}, BOOTSTRAP_RESAMPLES) as first:
        pass
    with open_run(card, SEED, "second", {}, BOOTSTRAP_RESAMPLES) as second:
        pass
    assert first.experiment_id == second.experiment_id
    assert first.run_id != second.run_id
    assert len(client.search_runs([first.experiment_id])) == 2


def test_log_writes_params_metrics_and_tags_on_the_parent_run(context, client: MlflowClient):
    context.log(
        params={"seed": 3, "search": {"budget": 6, "cv_folds": 3}},
        metrics={"data_rows": 1200, "skipped": None},
        tags={"data.validation": "passed"},
    )
    data = client.get_run(context.run_id).data
    assert data.params == {"seed": "3", "search.budget": "6", "search.cv_folds": "3"}
    assert data.metrics == {"data_rows": 1200.0}
    assert data.tags["data.validation"] == "passed"


def test_log_text_and_log_json_write_artifacts_that_read_back_equal(context, client: MlflowClient):
    context.log_text("# Report\n\nall good\n", "reports/report.md")
    context.log_json({"rows": 3, "path": Path("/data/x.csv")}, "reports/report.json")

    assert artifact_paths(client, context.run_id, "reports") == {
        "reports/report.md",
        "reports/report.json",
    }
    assert read_artifact_text(client, context.run_id, "reports/report.md") == (
        "# Report\n\nall good\n"
    )
    payload = json.loads(read_artifact_text(client, context.run_id, "reports/report.json"))
    assert payload == {"rows": 3, "path": "/data/x.csv"}


def test_log_figures_writes_one_png_per_figure_and_returns_captions_to_paths(
    context, client: MlflowClient
):
    figures = {}
    for name in ("roc_curve", "confusion_matrix"):
        figure = Figure()
        figure.add_subplot().plot([0, 1], [0, 1])
        figures[name] = figure

    paths = context.log_figures(figures, folder="charts")

    assert paths == {
        "roc curve": "charts/roc_curve.png",
        "confusion matrix": "charts/confusion_matrix.png",
    }
    assert artifact_paths(client, context.run_id, "charts") == set(paths.values())
    for path in paths.values():
        assert read_artifact_bytes(client, context.run_id, path).startswith(b"\x89PNG")


def test_log_figures_defaults_to_the_plots_folder(context, client: MlflowClient):
    figure = Figure()
    figure.add_subplot().bar(["a", "b"], [1, 2])
    assert context.log_figures({"bars": figure}) == {"bars": "plots/bars.png"}
    assert artifact_paths(client, context.run_id, "plots") == {"plots/bars.png"}


def test_start_child_run_creates_a_running_child_of_the_parent_with_its_tags(
    context, client: MlflowClient
):
    child_id = context.start_child_run("coarse-000-logistic_regression", {"search.stage": "coarse"})

    child = client.get_run(child_id)
    assert child.info.status == "RUNNING"
    assert child.info.run_name == "coarse-000-logistic_regression"
    assert child.info.experiment_id == context.experiment_id
    assert child.data.tags["mlflow.parentRunId"] == context.run_id
    assert child.data.tags["search.stage"] == "coarse"
    children = client.search_runs(
        [context.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{context.run_id}'"
    )
    assert [run.info.run_id for run in children] == [child_id]


@pytest.mark.slow
def test_publish_markdown_creates_the_prefect_artifact_and_the_mlflow_artifact(
    prefect_server, context, client: MlflowClient, isolated_store: Path
):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    markdown = f"# Summary\n\nwritten from {isolated_store}\n"
    context.publish_markdown(markdown, "task-test-summary", "Summary of a task test", "summary.md")

    assert read_artifact_text(client, context.run_id, "summary.md") == markdown
    with get_client(sync_client=True) as prefect:
        artifacts = prefect.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["task-test-summary"]))
        )
    published = [artifact for artifact in artifacts if artifact.data == markdown]
    assert len(published) == 1
    assert published[0].type == "markdown"
    assert published[0].description == "Summary of a task test"
