"""The overhead benchmark's flow side: run `mleng train` against a standing Prefect server (or
its temporary one), time the process, and read back from MLflow which trials it scored and how
long each stage took. `bench/overhead.py` compares it with the bare scripts."""

from __future__ import annotations

import contextlib
import os
import re
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the process helpers the tests start real servers with

from tests.core.tracking.process_helpers import VENV_BIN, free_port, running, venv_env

LOG_STAMP = re.compile(r"^(\d\d:\d\d:\d\d\.\d{3}) \| ")  # a Prefect log line


def engine_environment(folder: Path, api_url: str | None) -> dict[str, str]:
    """The flow's environment: its own MLflow sqlite store and PREFECT_HOME in `folder`, the
    project's defaults, and the standing server's `api_url` (None: Prefect's temporary server,
    so any PREFECT_API_URL of the caller's is dropped)."""
    env = os.environ | {
        "PREFECT_HOME": str(folder / "prefect"),
        "MLFLOW_TRACKING_URI": tracking_uri(folder),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "OMP_WAIT_POLICY": "PASSIVE",
    }
    env.pop("PREFECT_API_URL", None)
    return env if api_url is None else env | {"PREFECT_API_URL": api_url}


def tracking_uri(folder: Path) -> str:
    """The MLflow sqlite store of one benchmark run."""
    return f"sqlite:///{folder / 'mlflow.db'}"


@contextlib.contextmanager
def standing_prefect_server(folder: Path) -> Iterator[tuple[str, int]]:
    """A real `prefect server start` on a free 127.0.0.1 port until the block ends, however it
    ends (its process group is stopped by pid); its API URL and pid once it answers its health
    check. Its own PREFECT_HOME (the server database) is in `folder`, as the stack keeps one."""
    port = free_port()
    env = venv_env(
        PREFECT_HOME=str(folder / "prefect-server"), PREFECT_SERVER_ANALYTICS_ENABLED="false"
    )
    env.pop("PREFECT_API_URL", None)  # the server is not a client of another one
    args = [str(VENV_BIN / "prefect"), "server", "start", "--host", "127.0.0.1"]
    args += ["--port", str(port)]
    health = f"http://127.0.0.1:{port}/api/health"
    with running(args, health, folder / "prefect-server.log", env, timeout=180) as server:
        yield f"http://127.0.0.1:{port}/api", server.pid


def migrate_tracking_store(folder: Path) -> float:
    """Create and migrate the MLflow sqlite store in a separate process, so the timed flow opens
    an existing store as it would in production; the seconds the one-off migration took."""
    script = "import sys, mlflow; mlflow.MlflowClient(sys.argv[1]).search_experiments()"
    command = [sys.executable, "-c", script, tracking_uri(folder)]
    started = time.perf_counter()
    done = subprocess.run(
        command, env=engine_environment(folder, None), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"migrating {tracking_uri(folder)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


WARM_UP_FLOW = """
from prefect import flow, task
from prefect.artifacts import create_markdown_artifact

@task
def touch(n: int) -> int:
    print(f"warm-up task {n}")
    return n

@flow(log_prints=True)
def warm_up() -> None:
    touch(0)
    touch.submit(1).result()
    create_markdown_artifact("warm-up", key="warm-up")

warm_up()
"""


def warm_up_server(folder: Path, api_url: str) -> float:
    """Run a one-task flow against the server in a separate process (its own PREFECT_HOME, so the
    timed client starts cold), so the timed flow meets a server that has served a flow before,
    as a standing one has; the seconds it took.

    A server's first requests pay its own warm-up (the first API call took 0.52 s against 10 ms
    after it); a standing server paid that when it first served, not in every flow run."""
    env = engine_environment(folder, api_url) | {"PREFECT_HOME": str(folder / "warm-up-client")}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", WARM_UP_FLOW], cwd=folder, env=env, capture_output=True,
        text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"the warm-up flow failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def session_cpu_seconds(session_id: int) -> float | None:
    """User + system CPU seconds so far of every live process in a session (the server runs
    its API in a child process), or None where /proc cannot say (not Linux)."""
    ticks, total = os.sysconf("SC_CLK_TCK"), 0
    try:
        stats = list(Path("/proc").glob("[0-9]*/stat"))
    except OSError:
        return None
    for path in stats:
        try:
            fields = path.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended while we looked
            continue
        if int(fields[3]) == session_id:  # fields after the name: state ppid pgrp session ...
            total += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return total / ticks if stats else None


def children_cpu_seconds() -> float:
    """User + system CPU seconds of every waited-for child process so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_process(
    command: list[str], folder: Path, log_name: str, env: dict[str, str]
) -> tuple[float, float]:
    """Run one command to completion in `folder`; its wall and CPU seconds (raises on failure).

    CPU seconds say more than wall time on a machine shared with other jobs."""
    log_path = folder / log_name
    cpu_before = children_cpu_seconds()
    started = time.perf_counter()
    with log_path.open("w") as log:
        code = subprocess.call(command, cwd=folder, env=env, stdout=log, stderr=log)
    seconds = time.perf_counter() - started
    if code != 0:
        tail = "\n".join(log_path.read_text().splitlines()[-30:])
        raise RuntimeError(f"{' '.join(command)} exited {code}; log {log_path}:\n{tail}")
    return seconds, children_cpu_seconds() - cpu_before


def parse_param(text: str) -> Any:
    """An MLflow parameter string back to the value the search proposed."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"None": None, "True": True, "False": False}.get(text, text)


def read_flow_run(tracking_uri: str) -> dict[str, Any]:
    """The parent run's stage seconds and best trial, and every child run's trial."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    ids = [e.experiment_id for e in client.search_experiments()]
    parent = client.search_runs(ids, filter_string="tags.`mleng.flow` = 'train'")[0]
    children = client.search_runs(
        ids, filter_string=f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'", max_results=5000
    )
    trials = []
    for child in children:
        tags, params = child.data.tags, child.data.params
        if "search.stage" not in tags:
            continue
        name = tags.get("mlflow.runName", "")
        trials.append(
            {
                "family": params["family"],
                "params": {k: parse_param(v) for k, v in params.items() if k != "family"},
                "stage": tags["search.stage"],
                "round": int(tags["search.round"]),
                "index": int(name.split("-")[1]),
                "fidelity": float(tags.get("search.fidelity", "1")),
                "score": child.data.metrics.get(f"cv_{parent.data.params['metric']}_mean"),
            }
        )
    stages = {
        k.removeprefix("stage_seconds_"): v
        for k, v in parent.data.metrics.items()
        if k.startswith("stage_seconds_")
    }
    return {
        "stage_seconds": stages,
        "trials": sorted(trials, key=lambda t: t["index"]),
        "best_trial": parent.data.tags.get("search.best_trial"),
        "ensemble_chosen": parent.data.tags.get("ensemble.chosen"),
        "decision_threshold": parent.data.params.get("decision_threshold"),
        "test_metric": parent.data.metrics.get(f"test_{parent.data.params['metric']}"),
    }


def read_log_span(log_path: Path, started: datetime) -> tuple[datetime, datetime] | None:
    """The times of the first and last Prefect log lines of a process started at `started`
    (Prefect stamps them HH:MM:SS.mmm in local time), or None when it logged none."""
    stamps = []
    for line in log_path.read_text(errors="replace").splitlines():
        match = LOG_STAMP.match(line)
        if match:
            clock = datetime.strptime(match.group(1), "%H:%M:%S.%f").time()
            stamp = datetime.combine(started.date(), clock)
            stamps.append(
                stamp + timedelta(days=1) if stamp < started - timedelta(hours=1) else stamp
            )
    return (stamps[0], stamps[-1]) if stamps else None


def split_start_up(log_path: Path, started: datetime, ended: datetime) -> dict[str, float] | None:
    """Where the flow process's time outside the flow run goes: from the process start to the
    flow run's first log line (imports, the Prefect client or temporary server, the flow run's
    creation) and from its last log line to the exit (the CLI's summary, flushing logs and
    events, stopping a temporary server)."""
    span = read_log_span(log_path, started)
    if span is None:
        return None
    return {
        "process_start_to_first_flow_log": round((span[0] - started).total_seconds(), 1),
        "last_flow_log_to_process_exit": round((ended - span[1]).total_seconds(), 1),
    }


def add_outside_stages(split: dict[str, float] | None, outside: float) -> dict | None:
    """The split of `start_up_and_exit` (the flow's wall time outside its stages) completed with
    what of it falls inside the flow run: opening and closing the MLflow run (in the ephemeral
    mode the new store's migration too), the summary artifacts, task and log calls between
    stages."""
    if split is None:
        return None
    rest = outside - sum(split.values())
    return split | {"flow_run_outside_stages": round(rest, 1)}


def time_flow(command: list[str], folder: Path, mode: str) -> dict[str, Any]:
    """Run the flow once in `mode`; its wall and CPU seconds, where its start-up went, and what
    was prepared untimed.

    Standing: the Prefect server is up and has served a warm-up flow, and the MLflow store is
    migrated, before the clock starts; the server is stopped once the flow has ended (so it
    does not share the cores with the bare script)."""
    if mode == "ephemeral":
        started = datetime.now()
        wall, cpu = run_process(command, folder, "flow.log", engine_environment(folder, None))
        span = split_start_up(folder / "flow.log", started, datetime.now())
        return {"wall": wall, "cpu": cpu, "start_up_split": span}
    clock = time.perf_counter()
    with standing_prefect_server(folder) as (api_url, server_pid):
        server_start = time.perf_counter() - clock
        warm_up = warm_up_server(folder, api_url)
        migration = migrate_tracking_store(folder)
        server_cpu_before = session_cpu_seconds(server_pid)
        started = datetime.now()
        wall, cpu = run_process(command, folder, "flow.log", engine_environment(folder, api_url))
        span = split_start_up(folder / "flow.log", started, datetime.now())
        server_cpu_after = session_cpu_seconds(server_pid)
    server_cpu = None
    if server_cpu_before is not None and server_cpu_after is not None:
        server_cpu = round(server_cpu_after - server_cpu_before, 1)
    return {
        "wall": wall,
        "cpu": cpu,
        "start_up_split": span,
        "untimed_preparation": {
            "prefect_server_start_seconds": round(server_start, 1),
            "prefect_server_warm_up_flow_seconds": round(warm_up, 1),
            "mlflow_store_migration_seconds": round(migration, 1),
        },
        "server_cpu_seconds_during_flow": server_cpu,
    }
