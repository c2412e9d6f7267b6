"""`mleng stack up | status | down` as `make up` runs it: real Prefect and MLflow servers, a real
worker and the real service, on free ports with the stack's home in a temporary folder."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import mlflow
import pytest
import typer
from mlflow import MlflowClient
from rich.console import Console
from typer.testing import CliRunner

from mleng.stack import StackError, StackSettings, stack_status, start_stack, stop_stack
from mleng.stack.processes import ProcessRecord, http_call, http_get, port_is_free, write_record
from mleng.stack_commands import register
from mleng.tracking import registry
from tests.core.tracking.process_helpers import free_port
from tests.helpers import ROOT
from tests.serving_helpers import NAME, adult_split, fit_adult_model, register_adult_version

pytestmark = pytest.mark.slow


def settings_in(folder: Path, **ports: int) -> StackSettings:
    given = {
        "prefect_port": free_port(), "mlflow_port": free_port(), "service_port": free_port(),
    } | ports  # fmt: skip
    return StackSettings(project_dir=ROOT, home=folder / "stack", model_name=NAME, **given)


def pids(settings: StackSettings) -> dict[str, int]:
    return {p.name: p.pid for p in stack_status(settings) if p.alive}


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    stat = Path(f"/proc/{pid}/stat")  # a zombie nobody reaped yet is gone too
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"


def cli(*args: str) -> str:
    """`mleng stack ARGS` through the real Typer commands, in this process."""
    app = typer.Typer()
    app.callback()(lambda: None)

    def fail(error: Exception) -> None:
        raise error

    register(app, Console(width=200), fail)
    done = CliRunner().invoke(app, ["stack", *args], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    return done.output


def deployment_names(settings: StackSettings) -> set[str]:
    answer = http_call(f"{settings.prefect_api}/deployments/filter", {}, 10)
    assert answer is not None and answer[0] == 200, answer
    return {entry["name"] for entry in json.loads(answer[1])}


def make_champion(settings: StackSettings) -> str:
    """A small Adult version registered on the stack's tracking server, made champion."""
    before = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", settings.mlflow_url)
        mlflow.set_tracking_uri(settings.mlflow_url)
        mlflow.set_registry_uri(settings.mlflow_url)
        try:
            split = adult_split(n_train=800, n_test=200)
            client = MlflowClient(settings.mlflow_url)
            version = register_adult_version(client, fit_adult_model(split), split)
            registry.move_champion(client, NAME, version, "test_stack")
        finally:
            mlflow.set_tracking_uri(before[0])
            mlflow.set_registry_uri(before[1])
    return version


def start_training(settings: StackSettings) -> str:
    """A short run of train/weekly, as the UI's Run button starts it; its id once it runs."""
    deployments = json.loads(http_call(f"{settings.prefect_api}/deployments/filter", {})[1])
    (weekly,) = [entry for entry in deployments if entry["name"] == "weekly"]
    url = f"{settings.prefect_api}/deployments/{weekly['id']}/create_flow_run"
    parameters = {"budget": 3, "bootstrap_resamples": 100}
    run = json.loads(http_call(url, {"parameters": parameters}, 30)[1])
    deadline = time.monotonic() + 90
    while run_state(settings, run["id"]) != "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert run_state(settings, run["id"]) == "RUNNING"
    return run["id"]


def run_state(settings: StackSettings, run_id: str) -> str:
    answer = http_get(f"{settings.prefect_api}/flow_runs/{run_id}", 10)
    return json.loads(answer[1])["state"]["type"]


def test_up_status_down_up_runs_exactly_the_recorded_processes_and_keeps_the_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("PREFECT_WORKER_QUERY_SECONDS", "1")  # the worker's environment
    settings = settings_in(tmp_path)
    options = ["--home", str(settings.home), "--project-dir", str(ROOT)]
    options += ["--prefect-port", str(settings.prefect_port)]
    options += ["--mlflow-port", str(settings.mlflow_port)]
    options += ["--service-port", str(settings.service_port), "--model", NAME]
    try:
        # Cold: both servers and the worker start; no champion yet, so no service.
        state = start_stack(settings)
        assert state.started == ["prefect", "mlflow", "worker"], state
        assert http_get(f"{settings.prefect_api}/health")[0] == 200
        assert http_get(f"{settings.mlflow_url}/health")[0] == 200
        assert {"weekly"} <= deployment_names(settings)
        answer = http_get(f"{settings.prefect_api}/variables/name/mleng_project_dir")
        assert json.loads(answer[1])["value"] == str(ROOT)
        status = {p.name: p for p in stack_status(settings)}
        assert all(status[name].healthy for name in ("prefect", "mlflow", "worker")), status
        assert status["service"].note == "waiting for a champion", status["service"]
        first = pids(settings)
        shown = cli("status", *options)
        assert all(str(pid) in shown for pid in first.values()), shown
        # Each log is in the one folder; the data made now must survive `down`.
        assert all(settings.log_path(name).stat().st_size > 0 for name in first)
        experiment = MlflowClient(settings.mlflow_url).create_experiment("kept-across-restarts")

        # Again: nothing new starts, nothing is redeployed.
        started = time.perf_counter()
        again = start_stack(settings)
        assert again.started == [] and pids(settings) == first, again
        assert time.perf_counter() - started < 5
        assert not any(note.startswith("deployed") for note in again.notes), again.notes

        # A champion exists: `up` starts the service, which answers /ready.
        make_champion(settings)
        with_service = start_stack(settings)
        assert with_service.started == ["service"], with_service
        assert http_get(f"{settings.service_url}/ready", 10)[0] == 200
        assert settings.clear_keys_file.stat().st_mode & 0o777 == 0o600
        running = pids(settings)
        assert running.keys() == {"prefect", "mlflow", "worker", "service"}

        # Down stops exactly those, clients first, and frees every port; a flow run stopped
        # mid-way is marked crashed, or it would hold the deployment's one slot for good.
        training = start_training(settings)
        shown = cli("down", *options)
        for name, pid in running.items():
            assert f"{name} (pid {pid}): stopped" in shown, shown
        assert "marked crashed" in shown, shown
        assert shown.index("service") < shown.index("worker") < shown.index("prefect (pid")
        assert all(gone(pid) for pid in running.values())
        ports = (settings.prefect_port, settings.mlflow_port, settings.service_port)
        assert all(port_is_free(settings.host, port) for port in ports)
        assert not list(settings.path("pids").iterdir())

        # Up again: new processes over the same data (deployment, experiment, champion).
        restarted = start_stack(settings)
        assert sorted(restarted.started) == ["mlflow", "prefect", "service", "worker"]
        assert {"weekly"} <= deployment_names(settings)
        assert not any(note.startswith("deployed") for note in restarted.notes)
        kept = MlflowClient(settings.mlflow_url).get_experiment(experiment)
        assert kept.name == "kept-across-restarts"
        assert http_get(f"{settings.service_url}/ready", 10)[0] == 200
        assert run_state(settings, training) == "CRASHED"
        limits = http_call(f"{settings.prefect_api}/v2/concurrency_limits/filter", {})
        assert all(limit["active_slots"] == 0 for limit in json.loads(limits[1]))
    finally:
        stop_stack(settings)


def test_a_port_taken_by_another_process_is_named_and_nothing_is_started(tmp_path: Path):
    with socket.socket() as foreign:
        foreign.bind(("127.0.0.1", 0))
        foreign.listen()
        port = foreign.getsockname()[1]
        settings = settings_in(tmp_path, mlflow_port=port)
        # A record whose process is gone is cleaned up, never signalled.
        stale = ProcessRecord("prefect", 2**22 + 12345, None, time.time(), ["prefect"])
        write_record(settings.record_path("prefect"), stale)
        with pytest.raises(
            StackError, match=rf"port {port} for mlflow is taken by pid {os.getpid()}"
        ):
            start_stack(settings)
        assert not list(settings.path("pids").iterdir())
        assert not port_is_free("127.0.0.1", port)  # the foreign socket is left alone
        assert stop_stack(settings).stopped == []
