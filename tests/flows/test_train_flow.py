"""The real `train` flow end to end: Prefect engine, sqlite MLflow store, Great Expectations."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient
from prefect.artifacts import Artifact
from typer.testing import CliRunner

from mleng.cli import app
from tests.helpers import write_card_with_suite

pytestmark = pytest.mark.slow


@pytest.fixture
def adult_card(isolated_store: Path, adult_frame: pd.DataFrame) -> Path:
    """A card over a real Adult sample, with its suite written by `mleng expectations init`."""
    data_path = isolated_store / "adult_sample.csv"
    adult_frame.to_csv(data_path, index=False)
    return write_card_with_suite(isolated_store, data_path)


def registry_state(name: str) -> tuple[list[str], dict[str, str]]:
    client = MlflowClient()
    try:
        model = client.get_registered_model(name)
    except mlflow.exceptions.MlflowException:
        return [], {}
    versions = sorted(str(v.version) for v in client.search_model_versions(f"name='{name}'"))
    return versions, {k: str(v) for k, v in model.aliases.items()}


def test_train_flow_logs_search_stages_intervals_and_registers_a_servable_champion(
    prefect_server, adult_card, adult_frame
):
    from flows.train import train

    summary = train(card_path=str(adult_card), budget=9, seed=1, bootstrap_resamples=300)

    client = MlflowClient()
    experiment = client.get_experiment_by_name("adult_test")
    parent = client.get_run(summary.parent_run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["prefect.flow_run_id"]
    children = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
    )
    stages = {run.data.tags["search.stage"] for run in children}
    assert len(children) == 9 and stages == {"coarse", "fine"}
    assert all(
        "cv_roc_auc_mean" in run.data.metrics and "fit_seconds" in run.data.metrics
        for run in children
    )

    metrics = parent.data.metrics
    for name in ("accuracy", "balanced_accuracy", "f1", "roc_auc", "log_loss"):
        assert (
            metrics[f"test_{name}_ci_low"]
            <= metrics[f"test_{name}"]
            <= metrics[f"test_{name}_ci_high"]
        )
    assert metrics["test_roc_auc"] > metrics["baseline_zero_rule_roc_auc"] + 0.2
    assert metrics["test_roc_auc"] > 0.8

    versions, aliases = registry_state("adult-test")
    assert versions == ["1"] and aliases == {"champion": "1", "challenger": "1"}
    version = client.get_model_version("adult-test", "1")
    assert version.tags["promotion.decision"] == "promoted"

    # What the MLflow UI shows: the logged model knows its version, a trial's duration covers
    # its work, metric names have no spaces, the run and the version say what they are.
    logged = client.get_logged_model(version.source.removeprefix("models:/"))
    assert logged.name == "adult-test"
    assert {"name": "adult-test", "version": "1"} in json.loads(logged.tags["mlflow.modelVersions"])
    for run in children:
        duration_ms = run.info.end_time - run.info.start_time
        assert duration_ms >= 1000 * run.data.metrics["wall_seconds"] - 5
    assert not [name for name in metrics if " " in name]
    assert parent.data.tags["mlflow.note.content"].startswith("# Training summary")
    assert parent.data.tags["search.best_family"] == summary.best_family
    # The data stage's learning-curve extrapolation reaches the worth lines it is cited in.
    more_data = parent.data.tags.get("data.more_data")
    cited = [line for line in summary.worth if line.startswith("more data")]
    assert cited == (
        [f"more data (learning-curve extrapolation): {more_data}"] if more_data else []
    )
    assert version.description.startswith("promoted: all gate checks passed")
    card_text = Path(
        client.download_artifacts(summary.parent_run_id, "model_card.md", str(adult_card.parent))
    ).read_text()
    if metrics["data_findings_warn"] > 0:
        assert "no findings" not in card_text.split("Data findings:")[1].split("##")[0]
    assert str(adult_card.parent) not in card_text  # no absolute path of this machine
    # The card's figures travel inside the pages the UIs show: HTML for MLflow, Prefect's markdown.
    page = Path(
        client.download_artifacts(summary.parent_run_id, "model_card.html", str(adult_card.parent))
    ).read_text()
    figures = re.findall(r'<img alt="[^"]*" src="data:image/png;base64,([^"]+)"', page)
    assert len(figures) >= 4 and 'src="plots/' not in page
    assert all(base64.b64decode(figure).startswith(b"\x89PNG") for figure in figures)
    prefect_card = Artifact.get("model-card")
    assert prefect_card.data.count("](data:image/png;base64,") == len(figures)

    raw_rows = pd.read_csv(adult_card.parent / "adult_sample.csv").drop(columns=["class"]).head(50)
    model = mlflow.pyfunc.load_model("models:/adult-test@champion")
    predictions = model.predict(raw_rows)
    assert set(predictions["prediction"].unique()) <= {">50K", "<=50K"}
    assert len(predictions) == 50
    probabilities = predictions[["probability_<=50K", "probability_>50K"]].sum(axis=1)
    np.testing.assert_allclose(probabilities, 1.0)

    # Same data, card and code: a retrained copy carries no evidence, so nothing is registered.
    second = train(card_path=str(adult_card), budget=9, seed=1, bootstrap_resamples=300)
    assert second.decision == "unchanged" and "unchanged since version 1" in second.reason
    assert registry_state("adult-test") == (["1"], {"champion": "1", "challenger": "1"})


def test_a_deliberately_worse_model_is_registered_but_never_promoted(prefect_server, adult_card):
    from flows.train import train

    first = train(card_path=str(adult_card), budget=3, seed=3, bootstrap_resamples=200)
    assert first.decision == "promoted"
    # One uninformative feature: the challenger is far worse than the champion on the same rows.
    card = yaml.safe_load(adult_card.read_text())
    card.update(numeric_columns=["fnlwgt"], categorical_columns=[])
    adult_card.write_text(yaml.safe_dump(card))
    worse = train(card_path=str(adult_card), budget=3, seed=3, bootstrap_resamples=200)

    versions, aliases = registry_state("adult-test")
    assert worse.decision == "kept_champion"
    assert versions == ["1", "2"] and aliases == {"champion": "1", "challenger": "2"}
    tags = MlflowClient().get_model_version("adult-test", "2").tags
    assert tags["promotion.check.beat_champion"].startswith("failed")
    assert tags["promotion.check.beat_baselines"].startswith("failed")


def test_registered_model_in_a_fresh_process_predicts_exactly_as_the_in_process_pipeline(
    prefect_server, adult_card
):
    from flows.train import train
    from mleng.card import load_card
    from mleng.data.loading import infer_feature_columns, load_dataset
    from mleng.data.split import split_dataset
    from mleng.training.cv import build_pipeline

    summary = train(card_path=str(adult_card), budget=3, seed=2, bootstrap_resamples=100)
    rows = pd.read_csv(adult_card.parent / "adult_sample.csv").drop(columns=["class"]).head(40)
    rows.loc[0, "workclass"] = "Never-seen-before"
    rows.loc[1, "age"] = None
    rows.loc[2, "occupation"] = None
    rows.loc[3, "native-country"] = "Atlantis"
    rows_path = adult_card.parent / "rows.csv"
    rows.to_csv(rows_path, index=False)
    script = (
        "import mlflow, numpy as np, pandas as pd;"
        f"rows = pd.read_csv(r'{rows_path}');"
        "out = mlflow.pyfunc.load_model('models:/adult-test@champion').predict(rows);"
        "labels = out['prediction'];"
        "proba = mlflow.sklearn.load_model('models:/adult-test@champion').predict_proba(rows);"
        f"np.save(r'{adult_card.parent / 'proba.npy'}', proba);"
        "print('labels', len(labels), sorted(set(map(str, labels))))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.strip().splitlines()[-1].startswith("labels 40 ")

    # Rebuild the winner in this process from the same card, split and seed: same numbers, exactly.
    card = load_card(adult_card)
    frame = load_dataset(card)
    columns = infer_feature_columns(frame, card)
    split = split_dataset(frame, card, columns)
    best = summary.best_per_family[summary.best_family]
    pipeline = build_pipeline(card, columns, summary.best_family, best["params"], seed=2)
    pipeline.fit(split.train_x, split.train_y)
    expected = pipeline.predict_proba(rows)
    # Equal up to floating-point summation order (BLAS threads differ between processes).
    np.testing.assert_allclose(
        np.load(adult_card.parent / "proba.npy"), expected, rtol=0, atol=1e-9
    )


def test_weekly_co2_series_trains_on_windows_with_a_gap_before_the_test_weeks(
    prefect_server, isolated_store
):
    import shutil

    from flows.train import train
    from tests.helpers import ROOT

    shutil.copy(ROOT / "data" / "co2_weekly.csv", isolated_store / "co2_weekly.csv")
    card = yaml.safe_load((ROOT / "configs" / "co2_weekly.yaml").read_text())
    card.update(
        path=str(isolated_store / "co2_weekly.csv"), expectations=str(isolated_store / "co2.json")
    )
    card_path = isolated_store / "co2.yaml"
    card_path.write_text(yaml.safe_dump(card))
    assert CliRunner().invoke(app, ["expectations", "init", str(card_path)]).exit_code == 0

    summary = train(card_path=str(card_path), budget=3, seed=0, bootstrap_resamples=200)
    model = mlflow.pyfunc.load_model("models:/co2-weekly@champion")
    contract = model.metadata.flavors["python_function"]["mleng_contract"]
    inputs = [*contract["numeric_columns"], *contract["categorical_columns"]]
    assert inputs and all(name.startswith("co2__") for name in inputs)
    # 2,100 windows: 420 test weeks, 52 left out as the gap, the rest to train.
    assert summary.rows == {"train": 2100 - 420 - 52, "test": 420}
    assert summary.test_metrics["r2"][0] > 0.9
