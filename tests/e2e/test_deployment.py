"""The `train/weekly` deployment as users run it: a real Prefect server, `prefect deploy` of
deployment.yaml, a process worker, and a run started the way the UI's Run button starts it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.core.tracking.process_helpers import VENV_BIN, free_port, running, venv_env
from tests.helpers import ROOT

pytestmark = pytest.mark.slow


def call_api(api: str, path: str, payload: dict, method: str = "POST") -> object:
    request = urllib.request.Request(
        f"{api}{path}", data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"}, method=method,
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as response:
        body = response.read()
        return json.loads(body) if body else None


def wait_for_state(api: str, flow_run_id: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    state = "PENDING"
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{api}/flow_runs/{flow_run_id}", timeout=30) as response:
            state = json.load(response)["state"]["type"]
        if state in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            return state
        time.sleep(2)
    return state


def run_triggered_retraining(api: str, env: dict, deployment_id: str) -> str:
    """Emit the monitor's drift event as `monitor` does; the deployment's trigger must start a
    `train` run, which the worker runs. Returns its final state."""
    emit = (
        "from prefect.events import emit_event; "
        "emit_event(event='mleng.drift.detected', resource={'prefect.resource.id': "
        "'mleng.model.adult-income', 'prefect.resource.name': 'adult-income'}, "
        "payload={'reason': 'test'})"
    )
    done = subprocess.run(
        [str(VENV_BIN / "python"), "-c", emit], env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        runs = call_api(
            api, "/flow_runs/filter",
            {"flow_runs": {"deployment_id": {"any_": [deployment_id]}}},
        )  # fmt: skip
        started = [run for run in runs if not run.get("auto_scheduled")]  # not the cron's
        if len(started) >= 2:  # the Run button's, then the trigger's
            newest = max(started, key=lambda run: run["created"])
            return wait_for_state(api, newest["id"], timeout=400)
        time.sleep(2)
    return f"no triggered run within 120 s ({len(started)} started runs)"


def test_a_run_of_the_deployment_trains_in_the_project_folder_and_logs_where_deployed(
    tmp_path: Path,
):
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = venv_env(
        PREFECT_HOME=str(tmp_path / "prefect"), PREFECT_API_URL=api, MLFLOW_TRACKING_URI=store,
        PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_WORKER_QUERY_SECONDS="2",
    )  # fmt: skip
    prefect = str(VENV_BIN / "prefect")

    def cli(*args: str) -> None:
        done = subprocess.run(
            [prefect, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300,
            check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]

    server = [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    with running(server, f"{api}/health", tmp_path / "server.log", env):
        cli("work-pool", "create", "local-process", "--type", "process")
        cli("variable", "set", "mleng_project_dir", str(ROOT))
        cli("deploy", "--prefect-file", "deployment.yaml", "--all", "--no-prompt")
        flows = {f["id"]: f["name"] for f in call_api(api, "/flows/filter", {})}
        deployments = {
            f"{flows[d['flow_id']]}/{d['name']}": d
            for d in call_api(api, "/deployments/filter", {})
        }
        assert sorted(deployments) == [
            "monitor/hourly", "promote/manual", "rollback/manual", "train/weekly",
        ]  # fmt: skip
        deployment = deployments["train/weekly"]
        limit = deployment.get("global_concurrency_limit") or {}
        assert limit.get("limit") == 1, {k: v for k, v in deployment.items() if "concurren" in k}
        worker_log = (tmp_path / "worker.log").open("wb")
        worker = subprocess.Popen(
            [prefect, "worker", "start", "--pool", "local-process"], env=env, cwd=tmp_path,
            stdout=worker_log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            flow_run = call_api(
                api, f"/deployments/{deployment['id']}/create_flow_run",
                {"parameters": {"budget": 3, "bootstrap_resamples": 100}},
            )  # fmt: skip
            state = wait_for_state(api, flow_run["id"], timeout=600)
            # The triggered run takes the deployment's parameters: the same small budget, so it
            # finds nothing changed and registers no copy (and the test stays short).
            call_api(
                api, f"/deployments/{deployment['id']}",
                {"parameters": {"card_path": "configs/adult.yaml", "seed": 42, "budget": 3,
                                "bootstrap_resamples": 100}},
                method="PATCH",
            )  # fmt: skip
            triggered = run_triggered_retraining(api, env, deployment["id"])
        finally:
            os.killpg(worker.pid, signal.SIGINT)  # a worker ignores its first SIGTERM
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
            worker_log.close()
    log = (tmp_path / "worker.log").read_text()
    assert state == "COMPLETED", log[-4000:]
    # The run found configs/adult.yaml in the project folder and logged to the deployed store.
    versions = MlflowClient(store, store).search_model_versions("name='adult-income'")
    first = min(versions, key=lambda v: int(v.version))
    assert str(first.version) == "1" and first.tags["mleng.metric"] == "roc_auc"
    # The trigger's run completed: "unchanged since version 1", or, when the code changed
    # between the two runs (a checkout being edited), a second version gated like any other.
    assert triggered == "COMPLETED", log[-4000:]
    assert len(versions) in (1, 2)
