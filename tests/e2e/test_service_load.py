"""`mleng serve` under load, as real processes on loopback: alias moves, kill -9, rollback.

Two real Adult versions are registered as the train flow registers them (ONNX fast path
included) in a sqlite store. Each test starts its own `mleng serve` (refresh 0.5 s, its own
prediction log) and drives it from a few client threads, each with one keep-alive connection,
paced and bounded in count and time. Every answer is kept (when sent, when received, status,
version, request id) and checked against the prediction log the service wrote.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import mlflow
import pytest
from mlflow import MlflowClient

from mleng.serving.prediction_log import PredictionLog
from mleng.tracking import registry
from tests.core.tracking.process_helpers import venv_env
from tests.helpers import ROOT
from tests.serving_helpers import (
    NAME,
    ServiceProcess,
    adult_split,
    fit_adult_model,
    register_adult_version,
    request_rows,
    serve,
    tracking_store,
)

pytestmark = pytest.mark.slow

FOLLOW_SECONDS = 5.0  # refresh every 0.5 s, then the new version's download and load


@dataclass(frozen=True)
class Answer:
    sent: float  # time.monotonic() when the request left
    received: float
    status: int  # 0: no HTTP answer (connection refused or reset)
    version: str | None
    request_id: str | None
    error: str = ""


@dataclass
class Load:
    """Client threads posting 1-row requests at `rate` per second in all, until stopped,
    `max_requests` were sent or `seconds` passed."""

    service: ServiceProcess
    bodies: list[bytes]
    rate: float = 200.0
    threads: int = 4
    seconds: float = 30.0
    max_requests: int = 6000
    answers: list[Answer] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._sent = 0
        self._workers = [threading.Thread(target=self._run, args=(i,)) for i in range(self.threads)]

    def start(self) -> Load:
        self.started = time.monotonic()
        for worker in self._workers:
            worker.start()
        return self

    def join(self) -> list[Answer]:
        for worker in self._workers:
            worker.join(timeout=self.seconds + 60)
        return sorted(self.answers, key=lambda answer: answer.sent)

    def count(self, status: int = 200) -> int:
        with self._lock:
            return sum(answer.status == status for answer in self.answers)

    def _claim(self) -> int | None:
        with self._lock:
            if self.stop.is_set() or self._sent >= self.max_requests:
                return None
            if time.monotonic() - self.started > self.seconds:
                return None
            self._sent += 1
            return self._sent - 1

    def _run(self, worker: int) -> None:
        port = int(self.service.url.rsplit(":", 1)[1])
        headers = {
            "Authorization": f"Bearer {self.service.keys['predict']}",
            "Content-Type": "application/json",
        }
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        interval = self.threads / self.rate
        due = self.started + worker * interval / self.threads
        while (index := self._claim()) is not None:
            due += interval
            time.sleep(max(0.0, due - time.monotonic()))
            answer = _post(connection, self.bodies[index % len(self.bodies)], headers)
            if answer.status == 0:
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            with self._lock:
                self.answers.append(answer)
        connection.close()


def _post(connection: http.client.HTTPConnection, body: bytes, headers: dict) -> Answer:
    sent = time.monotonic()
    try:
        connection.request("POST", "/predict", body=body, headers=headers)
        response = connection.getresponse()
        payload = response.read()
    except (OSError, http.client.HTTPException) as error:
        return Answer(sent, time.monotonic(), 0, None, None, f"{type(error).__name__}: {error}")
    received = time.monotonic()
    if response.status != 200:
        return Answer(sent, received, response.status, None, None, payload[:300].decode())
    answer = json.loads(payload)
    return Answer(sent, received, 200, answer["model_version"], answer["request_id"])


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Iterator[dict]:
    """Two registered versions of the real Adult champion, and distinct request bodies."""
    folder = tmp_path_factory.mktemp("service-load")
    before = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", "")  # restored when the module's tests end
        uri = tracking_store(folder)
        split = adult_split(n_train=3000, n_test=6000)
        client = MlflowClient()
        model = fit_adult_model(split)
        versions = [register_adult_version(client, model, split) for _ in range(2)]
        bodies = [
            json.dumps({"dataframe_records": [row]}).encode() for row in request_rows(split, 6000)
        ]
        yield {
            "uri": uri,
            "client": client,
            "versions": versions,
            "bodies": bodies,
            "folder": folder,
        }
    mlflow.set_tracking_uri(before[0])
    mlflow.set_registry_uri(before[1])


def _champion(store: dict, *versions: str) -> None:
    for version in versions:
        registry.move_champion(store["client"], NAME, version, "load test")


def _failures(answers: list[Answer]) -> list[Answer]:
    return [answer for answer in answers if answer.status != 200]


def _logged(log_url: str) -> dict[str, str]:
    """request_id -> model_version of every served record in the log."""
    with PredictionLog(log_url) as log:
        frame = log.read_predictions(NAME)
    return dict(zip(frame["request_id"], frame["model_version"].astype(str), strict=True))


def _check_switch(answers: list[Answer], old: str, new: str, moved_at: float) -> float:
    """Seconds from the move to the first answer from `new`; no answer from `old` to a request
    sent after that first one was received."""
    first_new = next((a for a in answers if a.version == new), None)
    assert first_new is not None, f"no answer from v{new} after the move"
    assert all(a.version == old for a in answers if a.received < moved_at)
    late_old = [a for a in answers if a.sent > first_new.received and a.version != new]
    assert not late_old, f"{len(late_old)} answers flipped back, first {late_old[0]}"
    return first_new.received - moved_at


def test_alias_move_under_load_loses_nothing_and_switches_once(store):
    old, new = store["versions"]
    _champion(store, old)
    folder = store["folder"] / "move"
    folder.mkdir()
    with serve(folder, store["uri"], NAME) as service:
        load = Load(service, store["bodies"], rate=200, threads=4, seconds=24, max_requests=4800)
        load.start()
        time.sleep(10)
        moved_at = time.monotonic()
        _champion(store, new)
        answers = load.join()
        logged = _logged(service.log_url)
    assert not _failures(answers), _failures(answers)[:5]
    assert len(answers) >= 3000, f"only {len(answers)} requests in 24 s"
    took = _check_switch(answers, old, new, moved_at)
    span = answers[-1].received - answers[0].sent
    print(f"{len(answers)} answers in {span:.1f} s; v{new} answered {took:.2f} s after the move")
    assert took < FOLLOW_SECONDS
    missing = [a.request_id for a in answers if a.request_id not in logged]
    assert not missing, f"{len(missing)} answered requests are not in the log: {missing[:3]}"
    assert all(logged[a.request_id] == a.version for a in answers)


def test_kill_9_keeps_every_acknowledged_prediction(store):
    _champion(store, store["versions"][0])
    folder = store["folder"] / "kill"
    folder.mkdir()
    with serve(folder, store["uri"], NAME) as service:
        load = Load(service, store["bodies"], rate=2000, threads=4, seconds=30, max_requests=6000)
        load.start()
        deadline = time.monotonic() + 20
        while load.count() < 200 and time.monotonic() < deadline:
            time.sleep(0.005)
        os.kill(service.process.pid, signal.SIGKILL)  # `mleng serve` is the uvicorn process
        assert service.process.wait(timeout=10) == -signal.SIGKILL
        load.stop.set()
        answers = load.join()
        log_url = service.log_url
    acknowledged = [a.request_id for a in answers if a.status == 200]
    assert len(acknowledged) >= 200
    assert all(a.status in (0, 200) for a in answers), _failures(answers)[:5]
    logged = _logged(log_url)
    lost = [request_id for request_id in acknowledged if request_id not in logged]
    assert not lost, f"{len(lost)} of {len(acknowledged)} acknowledged predictions lost"
    print(f"{len(acknowledged)} acknowledged before kill -9, all in the log ({len(logged)} rows)")

    with serve(folder, store["uri"], NAME, "--log", log_url) as again:
        status, answer = again.call(
            "POST", "/predict", store["bodies"][-1], headers={"Content-Type": "application/json"}
        )
        assert status == 200, answer
        logged_again = _logged(log_url)
    assert set(logged) <= set(logged_again)
    assert answer["request_id"] in logged_again


def test_rollback_command_is_fast_and_the_service_follows_without_errors(store):
    previous, current = store["versions"]
    _champion(store, previous, current)
    folder = store["folder"] / "rollback"
    folder.mkdir()
    with serve(folder, store["uri"], NAME) as service:
        load = Load(service, store["bodies"][2000:], rate=150, threads=3, seconds=14)
        load.start()
        time.sleep(4)
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "mleng.cli", "rollback", "--model", NAME],
            env=venv_env(MLFLOW_TRACKING_URI=store["uri"], PYTHONPATH=str(ROOT)),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        process_seconds = time.monotonic() - started
        answers = load.join()
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"champion v{current} -> v{previous}" in done.stdout, done.stdout
    seconds = float(re.search(r"\((\d+(?:\.\d+)?) s\)", done.stdout).group(1))
    assert seconds < 1.0, done.stdout
    assert not _failures(answers), _failures(answers)[:5]
    took = _check_switch(answers, current, previous, started)  # from the command's start
    print(
        f"rollback: {seconds:.2f} s in the command ({process_seconds:.1f} s with start-up); "
        f"v{previous} answered {took:.2f} s after the command started; {len(answers)} answers, "
        "none failed"
    )
    assert took < process_seconds + FOLLOW_SECONDS
