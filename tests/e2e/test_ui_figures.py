"""The model card's figures load in both UIs, seen by a real browser: the Prefect UI's artifact
page and the MLflow UI's HTML artifact view, each served by its own real server process."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient

from tests.core.tracking.process_helpers import VENV_BIN, free_port, running, venv_env
from tests.e2e.browser import CHROMIUM, Browser
from tests.helpers import ADULT, write_card_with_suite

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
]
FIGURES = 4  # at least ROC, PR, calibration and confusion matrix


def find_artifact_id(api: str, key: str) -> str:
    request = urllib.request.Request(
        f"{api}/artifacts/filter",
        data=json.dumps({"artifacts": {"key": {"any_": [key]}}}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)[0]["id"]


def test_the_model_card_figures_load_in_the_prefect_and_mlflow_uis(tmp_path: Path):
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    data = tmp_path / "adult.csv"
    pd.read_csv(ADULT).sample(n=2000, random_state=7).to_csv(data, index=False)
    card = write_card_with_suite(tmp_path, data)
    prefect_port, mlflow_port = free_port(), free_port()
    api = f"http://127.0.0.1:{prefect_port}/api"
    prefect_env = venv_env(
        PREFECT_HOME=str(tmp_path / "prefect"), PREFECT_UI_API_URL=api,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )  # fmt: skip
    prefect_server = [str(VENV_BIN / "prefect"), "server", "start", "--host", "127.0.0.1",
                      "--port", str(prefect_port)]  # fmt: skip
    with running(prefect_server, f"{api}/health", tmp_path / "prefect.log", prefect_env):
        trained = subprocess.run(
            [sys.executable, "-m", "mleng.cli", "train", str(card), "--budget", "3"],
            env=venv_env(PREFECT_API_URL=api, MLFLOW_TRACKING_URI=store),
            cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        assert trained.returncode == 0, trained.stderr[-3000:]
        browser = Browser()
        try:
            browser.open(f"http://127.0.0.1:{prefect_port}/artifacts/artifact/"
                         f"{find_artifact_id(api, 'model-card')}")  # fmt: skip
            in_prefect = browser.wait_for_images(FIGURES)
            client = MlflowClient(store, store)
            experiment = client.get_experiment_by_name("adult_test")
            (run,) = client.search_runs([experiment.experiment_id], "tags.`mleng.flow` = 'train'")
            mlflow_server = [
                str(VENV_BIN / "mlflow"), "server", "--backend-store-uri", store,
                "--host", "127.0.0.1", "--port", str(mlflow_port), "--workers", "1",
            ]  # fmt: skip
            ui = f"http://127.0.0.1:{mlflow_port}"
            mlflow_env = venv_env(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
            with running(mlflow_server, f"{ui}/health", tmp_path / "mlflow.log", mlflow_env):
                browser.open(f"{ui}/#/experiments/{experiment.experiment_id}/runs/"
                             f"{run.info.run_id}/artifacts/model_card.html")  # fmt: skip
                in_mlflow = browser.wait_for_images(FIGURES, session=browser.attach_frame())
        finally:
            browser.close()
    for images in (in_prefect, in_mlflow):
        assert len(images) >= FIGURES and all(done and width > 100 for done, width in images)
