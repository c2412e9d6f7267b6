"""`up`, `down` and `status` of the local stack: Prefect server, MLflow server, worker, service."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import signal
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from mleng.stack.databases import ensure_databases
from mleng.stack.processes import (
    ProcessRecord,
    http_call,
    http_get,
    is_alive,
    log_tail,
    port_is_free,
    port_owner,
    read_record,
    spawn,
    stop,
    wait_until,
    write_record,
)
from mleng.stack.settings import (
    DEFAULT_CARD,
    PROCESS_NAMES,
    ProcessSpec,
    StackError,
    StackSettings,
    bin_path,
    child_environment,
    process_specs,
)

PROJECT_VARIABLE = "mleng_project_dir"


@dataclass(frozen=True)
class ProcessStatus:
    """One process as `status` sees it."""

    name: str
    pid: int | None
    alive: bool
    healthy: bool
    url: str
    log_path: Path
    note: str = ""  # running | not running | exited | not answering | waiting for a champion
    hint: str = ""  # what to do about it, when something is to be done


@dataclass
class StackState:
    """What `up` found and did."""

    processes: list[ProcessStatus]
    started: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class StopReport:
    """What `down` stopped, and the ports still taken afterwards (by something else)."""

    stopped: list[tuple[str, int, bool]] = field(default_factory=list)  # name, pid, killed
    busy_ports: list[str] = field(default_factory=list)
    crashed_runs: list[str] = field(default_factory=list)  # flow runs stopped mid-way


def start_stack(settings: StackSettings) -> StackState:
    """Start whatever of the stack does not run yet, wait until each answers, deploy the flows.

    Running processes are left alone, so a second `up` starts nothing. The service starts only
    once the registry has a champion for the model; run `up` again after training."""
    if not settings.model_name:
        card = settings.project_dir / DEFAULT_CARD
        raise StackError(f"no model name: {card} is not readable; pass --model NAME")
    state = StackState(processes=[])
    specs = process_specs(settings)
    env = child_environment(settings)
    with _locked(settings):
        running = _running_records(settings, specs, state.notes)
        _check_ports(settings, [spec for name, spec in specs.items() if name not in running])
        state.notes.extend(ensure_databases(settings))
        for name in ("prefect", "mlflow"):
            if name not in running:
                running[name] = _start(settings, specs[name], env, state)
        for name in ("prefect", "mlflow"):  # the steps below need both servers
            _wait_healthy(settings, running[name], name in state.started)
        _ensure_pool(settings, env)
        if "worker" not in running:
            running["worker"] = _start(settings, specs["worker"], env, state)
        if "service" not in running and has_champion(settings):
            state.notes.extend(ensure_keys(settings))
            running["service"] = _start(settings, specs["service"], env, state)
        _ensure_project_variable(settings)
        _ensure_deployed(settings, env, state)
        for name in ("worker", "service"):
            if name in state.started:
                _wait_healthy(settings, running[name], True)
            elif name in running and not _healthy(settings, name):
                state.notes.append(
                    f"{name} (pid {running[name].pid}) runs but does not answer its health "
                    f"check; see {settings.log_path(name)}, or restart: `mleng stack down`, `up`"
                )
    state.processes = stack_status(settings)
    return state


def stop_stack(settings: StackSettings) -> StopReport:
    """Stop exactly the recorded processes (their process groups), clients before servers."""
    report = StopReport()
    if not settings.path("pids").is_dir():
        return report  # this home never ran a stack: nothing of ours to stop
    specs = process_specs(settings)
    with _locked(settings):
        for name in reversed(PROCESS_NAMES):
            path = settings.record_path(name)
            record = read_record(path)
            if record is None:
                continue
            if is_alive(record):
                # A worker ignores its first SIGTERM for a while: SIGINT stops it at once.
                first = signal.SIGINT if name == "worker" else signal.SIGTERM
                killed, children = stop(record, first, settings.stop_timeout)
                report.stopped.append((name, record.pid, killed))
                if name == "worker":
                    report.crashed_runs = _mark_runs_crashed(settings, children)
            path.unlink(missing_ok=True)
    stopped = {name for name, _, _ in report.stopped}
    for spec in specs.values():
        timeout = 10 if spec.name in stopped else 0  # a socket may close just after its process
        if spec.port is not None and not _wait_port_free(settings.host, spec.port, timeout):
            owner = port_owner(spec.port) or "a process we cannot see"
            report.busy_ports.append(f"port {spec.port} ({spec.name}) is still taken by {owner}")
    return report


def stack_status(settings: StackSettings) -> list[ProcessStatus]:
    """Each process of the stack: recorded pid, alive, answering its health check, URL, log."""
    statuses = []
    for name, spec in process_specs(settings).items():
        record = read_record(settings.record_path(name))
        alive = record is not None and is_alive(record)
        healthy = alive and _healthy(settings, name)
        note, hint = "running", ""
        if record is None and name == "service":
            note, hint = _service_note(settings)
        elif record is None:
            note = "not running"
        elif not alive:
            note, hint = "exited", f"{name} (pid {record.pid}) exited: see its log"
        elif not healthy:
            note = "not answering"
            hint = f"{name} (pid {record.pid}) runs but does not answer {spec.health_url}"
        pid = record.pid if record else None
        log_path = settings.log_path(name)
        statuses.append(ProcessStatus(name, pid, alive, healthy, spec.url, log_path, note, hint))
    return statuses


def has_champion(settings: StackSettings) -> bool:
    """Whether the stack's registry has a `champion` alias for the model."""
    query = urllib.parse.urlencode({"name": settings.model_name, "alias": "champion"})
    answer = http_get(f"{settings.mlflow_url}/api/2.0/mlflow/registered-models/alias?{query}", 5)
    return answer is not None and answer[0] == 200


def ensure_keys(settings: StackSettings) -> list[str]:
    """Make an admin and a predict key at the first start of the service.

    Only hashes go into keys.json (what the service reads). The clear keys are written once to
    keys.txt, mode 0600: a local stack needs them at hand, and the file is as private as the
    owner's home. Delete both files and run `up` again for new keys."""
    from mleng.serving.keys import create_key, read_keys

    if read_keys(settings.keys_file):
        return []
    lines = [f"{role} {create_key(settings.keys_file, role)[1]}\n" for role in ("predict", "admin")]
    descriptor = os.open(settings.clear_keys_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        os.fchmod(descriptor, 0o600)
        file.writelines(lines)
    where = settings.clear_keys_file
    return [f"created a predict and an admin key for the service in {where} (owner-only)"]


def _service_note(settings: StackSettings) -> tuple[str, str]:
    """(state, advice) of a service that `up` did not start."""
    if http_get(f"{settings.mlflow_url}/health") is None:
        return "not running", ""
    if has_champion(settings):
        return "not running", "a champion exists now: run `mleng stack up` to start the service"
    return "waiting for a champion", (
        f"the service starts once {settings.model_name} has a champion: train into this stack "
        f"(MLFLOW_TRACKING_URI={settings.mlflow_url} mleng train configs/adult.yaml, or run the "
        "train/weekly deployment), then run `mleng stack up` again"
    )


@contextlib.contextmanager
def _locked(settings: StackSettings) -> Iterator[None]:
    """One `up` or `down` at a time per home folder."""
    settings.home.mkdir(parents=True, exist_ok=True)
    with open(settings.path("stack.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _running_records(
    settings: StackSettings, specs: dict[str, ProcessSpec], notes: list[str]
) -> dict[str, ProcessRecord]:
    """The recorded processes that still run; stale records are removed."""
    running = {}
    for name, spec in specs.items():
        path = settings.record_path(name)
        record = read_record(path)
        if record is None:
            continue
        if not is_alive(record):
            path.unlink()
            notes.append(f"removed the stale record of {name} (pid {record.pid} is gone)")
            continue
        if record.argv != spec.argv:
            raise StackError(
                f"{name} already runs (pid {record.pid}) with other settings than these "
                f"(ports, model or home); run `mleng stack down` first, then `up` again"
            )
        running[name] = record
    return running


def _check_ports(settings: StackSettings, to_start: list[ProcessSpec]) -> None:
    """Refuse to start anything when a port we need is taken by another process (never killed)."""
    for spec in to_start:
        if spec.port is not None and not port_is_free(settings.host, spec.port):
            owner = port_owner(spec.port) or "a process this user cannot see"
            raise StackError(
                f"port {spec.port} for {spec.name} is taken by {owner}; stop that process or "
                f"choose another port (--{spec.name}-port); nothing was started"
            )


def _start(
    settings: StackSettings, spec: ProcessSpec, env: dict[str, str], state: StackState
) -> ProcessRecord:
    record = spawn(spec, env, settings.project_dir, settings.log_path(spec.name))
    write_record(settings.record_path(spec.name), record)  # at once: `down` can stop it
    state.started.append(spec.name)
    return record


def _wait_healthy(settings: StackSettings, record: ProcessRecord, just_started: bool) -> None:
    """Wait for a process to answer: the start timeout after starting it, briefly otherwise."""
    timeout = settings.start_timeout if just_started else min(15.0, settings.start_timeout)
    wait_until(
        lambda: _healthy(settings, record.name), record, settings.log_path(record.name), timeout
    )


def _healthy(settings: StackSettings, name: str) -> bool:
    spec = process_specs(settings)[name]
    if name == "worker":
        answer = http_call(spec.health_url, {}, 5)
        if answer is None or answer[0] != 200:
            return False
        workers = json.loads(answer[1])
        return any(w["name"] == settings.worker_name and w["status"] == "ONLINE" for w in workers)
    answer = http_get(spec.health_url, 5)
    return answer is not None and answer[0] == 200


def _prefect_cli(settings: StackSettings, env: dict[str, str], *args: str) -> None:
    """Run `prefect ARGS` against the stack's server; its output goes to logs/setup.log."""
    log_path = settings.log_path("setup")
    argv = [bin_path("prefect"), *args]
    done = subprocess.run(
        argv,
        cwd=settings.project_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    with log_path.open("a") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(argv)}\n")
        log.write(done.stdout + done.stderr)
    if done.returncode != 0:
        raise StackError(
            f"`prefect {' '.join(args)}` failed ({done.returncode}); {log_path} ends with:\n"
            f"{log_tail(log_path)}"
        )


def _ensure_pool(settings: StackSettings, env: dict[str, str]) -> None:
    answer = http_get(f"{settings.prefect_api}/work_pools/{settings.work_pool}", 10)
    if answer is not None and answer[0] == 200:
        return
    _prefect_cli(settings, env, "work-pool", "create", settings.work_pool, "--type", "process")


def _ensure_project_variable(settings: StackSettings) -> None:
    """The folder each deployment run starts in (read by deployment.yaml's pull step)."""
    value = str(settings.project_dir)
    base = f"{settings.prefect_api}/variables"
    answer = http_get(f"{base}/name/{PROJECT_VARIABLE}", 10)
    if answer is not None and answer[0] == 200:
        if json.loads(answer[1]).get("value") == value:
            return
        answer = http_call(f"{base}/name/{PROJECT_VARIABLE}", {"value": value}, 10, "PATCH")
    else:
        answer = http_call(f"{base}/", {"name": PROJECT_VARIABLE, "value": value}, 10)
    if answer is None or answer[0] >= 300:
        raise StackError(f"could not set the Prefect variable {PROJECT_VARIABLE}: {answer}")


def deployment_names(settings: StackSettings) -> list[str]:
    document = yaml.safe_load(settings.deployment_file.read_text()) or {}
    return [entry["name"] for entry in document.get("deployments") or []]


def _ensure_deployed(settings: StackSettings, env: dict[str, str], state: StackState) -> None:
    """`prefect deploy` deployment.yaml unless this very file is deployed for this stack already.

    The file's runs log to the stack's tracking server and read the service's prediction log:
    its job variables read MLFLOW_TRACKING_URI and MLENG_PREDICTION_LOG when deploying, and the
    children's environment (this deploy's too) sets both."""
    if not settings.deployment_file.exists():
        state.notes.append(f"no {settings.deployment_file}: nothing deployed")
        return
    content = settings.deployment_file.read_bytes()
    facts = [content.hex(), settings.mlflow_url, settings.prediction_log, settings.work_pool]
    facts.append(str(settings.project_dir))
    fingerprint = hashlib.sha256("\n".join(facts).encode()).hexdigest()
    marker = settings.path("deployed.json")
    with contextlib.suppress(OSError, ValueError):
        if json.loads(marker.read_text()).get("fingerprint") == fingerprint:
            answer = http_call(f"{settings.prefect_api}/deployments/filter", {}, 10)
            ok = answer is not None and answer[0] == 200
            deployed = {entry["name"] for entry in json.loads(answer[1])} if ok else set()
            if set(deployment_names(settings)) <= deployed:
                return
    file = str(settings.deployment_file)
    _prefect_cli(settings, env, "deploy", "--prefect-file", file, "--all", "--no-prompt")
    marker.write_text(json.dumps({"fingerprint": fingerprint, "deployed_at": time.time()}))
    state.notes.append(f"deployed {settings.deployment_file.name}: {deployment_names(settings)}")


def _mark_runs_crashed(settings: StackSettings, pids: list[int]) -> list[str]:
    """Mark the flow runs whose processes `down` stopped as crashed (the server still runs).

    A run killed with its worker stays RUNNING otherwise, and holds its deployment's concurrency
    slot for good: every later run of `train/weekly` would wait behind it."""
    if not pids:
        return []
    query = {
        "flow_runs": {"state": {"type": {"any_": ["PENDING", "RUNNING", "CANCELLING"]}}},
        "work_pools": {"name": {"any_": [settings.work_pool]}},
    }
    answer = http_call(f"{settings.prefect_api}/flow_runs/filter", query, 10)
    if answer is None or answer[0] != 200:
        return []
    stopped = {str(pid) for pid in pids}
    crashed = []
    state = {"type": "CRASHED", "name": "Crashed", "message": "stopped by `mleng stack down`"}
    for run in json.loads(answer[1]):
        if str(run.get("infrastructure_pid") or "").rsplit(":", 1)[-1] in stopped:
            url = f"{settings.prefect_api}/flow_runs/{run['id']}/set_state"
            done = http_call(url, {"state": state}, 10)  # orchestrated: frees the slot
            if done is not None and done[0] < 300:
                crashed.append(run["name"])
    return crashed


def _wait_port_free(host: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not port_is_free(host, port):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True
