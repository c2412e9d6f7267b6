"""The real `train` flow end to end: Prefect engine, sqlite MLflow store, Great Expectations."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from mleng.cli import app
from tests.helpers import write_card

pytestmark = pytest.mark.slow


@pytest.fixture
def adult_card(isolated_store: Path, adult_frame: pd.DataFrame) -> Path:
    """A card over a real Adult sample, with its suite written by `mleng expectations init`."""
    data_path = isolated_store / "adult_sample.csv"
    adult_frame.to_csv(data_path, index=False)
    card = write_card(isolated_store, data_path)
    result = CliRunner().invoke(app, ["expectations", "init", str(card)])
    assert result.exit_code == 0, result.output
    return card


def registry_state(name: str) -> tuple[list[str], dict[str, str]]:
    client = MlflowClient()
    try:
        model = client.get_registered_model(name)
    except mlflow.exceptions.MlflowException:
        return [], {}
    versions = sorted(str(v.version) for v in client.search_model_versions(f"name='{name}'"))
    return versions, {k: str(v) for k, v in model.aliases.items()}


def test_train_flow_logs_search_stages_intervals_and_registers_a_servable_champion(prefect_server, adult_card, adult_frame):
    from flows.train import train

    summary = train(card_path=str(adult_card), budget=9, seed=1, bootstrap_resamples=300)

    client = MlflowClient()
    experiment = client.get_experiment_by_name("adult_test")
    parent = client.get_run(summary.parent_run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["prefect.flow_run_id"]
    children = client.search_runs([experiment.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    stages = {run.data.tags["search.stage"] for run in children}
    assert len(children) == 9 and stages == {"coarse", "fine"}
    assert all("cv_roc_auc_mean" in run.data.metrics and "fit_seconds" in run.data.metrics for run in children)

    metrics = parent.data.metrics
    for name in ("accuracy", "balanced_accuracy", "f1", "roc_auc", "log_loss"):
        assert metrics[f"test_{name}_ci_low"] <= metrics[f"test_{name}"] <= metrics[f"test_{name}_ci_high"]
    assert metrics["test_roc_auc"] > metrics["baseline_zero_rule_roc_auc"] + 0.2
    assert metrics["test_roc_auc"] > 0.8

    versions, aliases = registry_state("adult-test")
    assert versions == ["1"] and aliases == {"champion": "1", "challenger": "1"}
    version = client.get_model_version("adult-test", "1")
    assert version.tags["promotion.decision"] == "promoted"

    raw_rows = pd.read_csv(adult_card.parent / "adult_sample.csv").drop(columns=["class"]).head(50)
    model = mlflow.pyfunc.load_model("models:/adult-test@champion")
    predictions = model.predict(raw_rows)
    assert set(pd.Series(predictions).unique()) <= {">50K", "<=50K"}
    assert len(predictions) == 50

    # Same data, same seed: an identical challenger carries no evidence, so the champion stays.
    second = train(card_path=str(adult_card), budget=9, seed=1, bootstrap_resamples=300)
    versions, aliases = registry_state("adult-test")
    assert second.decision == "kept_champion"
    assert versions == ["1", "2"] and aliases == {"champion": "1", "challenger": "2"}
    assert "does not clearly beat champion v1" in client.get_model_version("adult-test", "2").tags["promotion.reason"]


def test_champion_serves_raw_csv_rows_with_unseen_categories_and_missing_values_in_a_fresh_process(prefect_server, adult_card):
    from flows.train import train

    train(card_path=str(adult_card), budget=3, seed=2, bootstrap_resamples=100)
    rows = pd.read_csv(adult_card.parent / "adult_sample.csv").drop(columns=["class"]).head(20)
    rows.loc[0, "workclass"] = "Never-seen-before"
    rows.loc[1, "age"] = None
    rows.loc[2, "occupation"] = None
    rows_path = adult_card.parent / "rows.csv"
    rows.to_csv(rows_path, index=False)
    script = (
        "import mlflow, pandas as pd, sys;"
        "m = mlflow.pyfunc.load_model('models:/adult-test@champion');"
        f"p = m.predict(pd.read_csv(r'{rows_path}'));"
        "print(len(p), sorted(set(map(str, p))))"
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.strip().splitlines()[-1].startswith("20 ")
