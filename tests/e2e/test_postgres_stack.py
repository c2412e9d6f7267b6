"""The stack a team runs: Prefect server, MLflow tracking server and the prediction log in a real
PostgreSQL server (started by the test), MLflow artifacts in a shared folder; `train` runs end to
end through the deployment and the worker, and the service logs its answers to PostgreSQL."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest
from mlflow import MlflowClient
from sqlalchemy import create_engine, text

from mleng.stack import StackSettings, start_stack, stop_stack
from mleng.stack.processes import http_call, http_get
from mleng.stack.settings import database_in
from tests.core.tracking.process_helpers import free_port
from tests.helpers import ROOT
from tests.postgres_helpers import postgres_server

pytestmark = pytest.mark.slow
MODEL = "adult-income"  # configs/adult.yaml, the deployment's default card


def run_training(settings: StackSettings) -> tuple[str, str]:
    """A short train/weekly run started as the UI's Run button does; its id and final state."""
    deployments = json.loads(http_call(f"{settings.prefect_api}/deployments/filter", {}, 30)[1])
    (weekly,) = [entry for entry in deployments if entry["name"] == "weekly"]
    url = f"{settings.prefect_api}/deployments/{weekly['id']}/create_flow_run"
    parameters = {"budget": 3, "bootstrap_resamples": 100}
    run = json.loads(http_call(url, {"parameters": parameters}, 30)[1])
    deadline, state = time.monotonic() + 900, "PENDING"
    while time.monotonic() < deadline:
        answer = http_get(f"{settings.prefect_api}/flow_runs/{run['id']}", 10)
        state = json.loads(answer[1])["state"]["type"]
        if state in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            break
        time.sleep(2)
    return run["id"], state


def predict(settings: StackSettings, rows: list[dict]) -> dict:
    """POST /predict with the predict key `up` made."""
    keys = dict(line.split() for line in settings.clear_keys_file.read_text().splitlines())
    response = httpx.post(
        f"{settings.service_url}/predict", json={"dataframe_records": rows},
        headers={"Authorization": f"Bearer {keys['predict']}"}, timeout=30,
    )  # fmt: skip
    assert response.status_code == 200, response.text
    return response.json()


def count_rows(url: str, query: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text(query)).scalar_one())
    finally:
        engine.dispose()


def test_a_stack_on_postgresql_trains_through_the_worker_and_serves_with_every_store_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("PREFECT_WORKER_QUERY_SECONDS", "1")  # the worker's environment
    with postgres_server() as server:
        shared = tmp_path / "shared-artifacts"
        settings = StackSettings(
            project_dir=ROOT, home=tmp_path / "stack", prefect_port=free_port(),
            mlflow_port=free_port(), service_port=free_port(), model_name=MODEL,
            database_url=server, artifact_root=shared,
        )  # fmt: skip
        try:
            state = start_stack(settings)
            assert state.started == ["prefect", "mlflow", "worker"], state
            created = [note for note in state.notes if note.startswith("created database")]
            assert len(created) == 3, state.notes

            run_id, final = run_training(settings)
            assert final == "COMPLETED", settings.log_path("worker").read_text()[-4000:]

            # Every store is in PostgreSQL, none in the home folder's SQLite files.
            assert not settings.path("mlflow.db").exists()
            assert not list(settings.path("prefect").glob("*.db"))
            prefect_db = database_in(server, "prefect", "psycopg")
            assert count_rows(prefect_db, f"SELECT count(*) FROM flow_run WHERE id = '{run_id}'")
            mlflow_db = database_in(server, "mlflow", "psycopg")
            query = f"SELECT count(*) FROM model_versions WHERE name = '{MODEL}'"
            assert count_rows(mlflow_db, query) == 1
            champion = MlflowClient(
                settings.mlflow_url, settings.mlflow_url
            ).get_model_version_by_alias(MODEL, "champion")
            assert champion.version == "1"
            # The model's files are in the shared artifact folder.
            assert list(shared.rglob("MLmodel")), list(shared.rglob("*"))[:20]

            # With a champion, `up` starts the service; its answers are logged to PostgreSQL.
            again = start_stack(settings)
            assert again.started == ["service"], again
            frame = pd.read_csv(ROOT / "data" / "adult.csv.gz", nrows=3).drop(columns=["class"])
            rows = json.loads(frame.to_json(orient="records"))
            answer = predict(settings, rows)
            assert len(answer["predictions"]) == 3 and answer["model_version"] == "1"
            # An answer is sent only once its record is committed: it is there already.
            log = database_in(server, "predictions", "psycopg")
            request = answer["request_id"]
            query = f"SELECT count(*) FROM prediction_log WHERE request_id = '{request}'"
            assert count_rows(log, query) >= 1
        finally:
            stop_stack(settings)
