"""The prediction log on real SQLite files: round trips, group commit, kill -9, a locked database,
unopenable paths and a reader in another process."""

from __future__ import annotations

import asyncio
import math
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from mleng.errors import MlengError
from mleng.serving.prediction_log import (
    FeedbackRecord,
    LogUnavailable,
    PredictionLog,
    PredictionRecord,
)

ROOT = Path(__file__).resolve().parents[3]

# A child that acknowledges a request id on stdout only after write() returned, from 4 threads.
WRITER_CHILD = """
import sys, threading, time
from mleng.serving.prediction_log import PredictionLog, PredictionRecord
log = PredictionLog(sys.argv[1], max_wait_seconds=5.0)
out = threading.Lock()
def work(thread):
    for i in range(10**9):
        rid = f"{thread}-{i}"
        log.write(PredictionRecord(rid, time.time(), "m", "1", "champion", True, "k",
                                   [{"x": i}], {"predictions": [0]}, 1.0))
        with out:
            sys.stdout.write(rid + "\\n")
            sys.stdout.flush()
threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
for t in threads:
    t.start()
"""

# A child that reads the log 15 times while the parent writes, printing the row count each time.
READER_CHILD = """
import sys, time
from mleng.serving.prediction_log import PredictionLog
with PredictionLog(sys.argv[1]) as log:
    for _ in range(15):
        print(len(log.read_predictions(model_name="m")), flush=True)
        time.sleep(0.05)
"""


def prediction(request_id: str, **changes) -> PredictionRecord:
    """A served champion prediction; `changes` override fields."""
    fields = {
        "request_id": request_id,
        "received_at": time.time(),
        "model_name": "m",
        "model_version": "1",
        "arm": "champion",
        "served": True,
        "caller": "key-1",
        "inputs": [{"age": 39, "hours": 40.0}],
        "outputs": {"predictions": [">50K"], "probabilities": [[0.3, 0.7]]},
        "latency_ms": 2.5,
    }
    return PredictionRecord(**(fields | changes))


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def child_env() -> dict[str, str]:
    return os.environ | {"PYTHONPATH": str(ROOT)}


def test_records_round_trip_and_latest_feedback_wins(tmp_path: Path) -> None:
    with PredictionLog(sqlite_url(tmp_path / "log.db")) as log:
        log.write(
            prediction(
                "a",
                received_at=100.0,
                inputs=[{"age": math.nan, "city": "Oslo"}],
                outputs={"predictions": [1], "probabilities": [[np.float64("nan"), 1.0]]},
            )
        )
        log.write(prediction("a", received_at=100.1, served=False, arm="challenger"))
        log.write(prediction("b", received_at=200.0, arm="holdout", model_version="", holdout=True))
        log.write(prediction("c", received_at=300.0, model_name="other"))
        log.write(FeedbackRecord("a", 150.0, "key-1", outcome=0, reward=1.0))
        log.write(FeedbackRecord("a", 160.0, "key-1", outcome={"label": 1}, reward=None))
        log.write(FeedbackRecord("a", 155.0, "key-1", outcome=2, reward=5.0))  # late, older
        log.write(FeedbackRecord("b", 250.0, "key-2", outcome=None, reward=float("nan")))

        found = log.find_request("a")
        assert found is not None
        assert found["served"] is True and found["arm"] == "champion"
        assert found["inputs"] == [{"age": None, "city": "Oslo"}]  # NaN -> null -> None
        assert found["outputs"]["probabilities"] == [[None, 1.0]]
        assert log.find_request("unknown") is None

        served = log.read_predictions(model_name="m")
        assert list(served["request_id"]) == ["a", "b"]
        assert list(served["holdout"]) == [False, True]
        everything = log.read_predictions(model_name="m", served_only=False)
        assert list(everything["served"]) == [True, False, True]
        assert list(log.read_predictions(since=250.0)["request_id"]) == ["c"]

        outcomes = log.read_outcomes("m").set_index("request_id")
        assert outcomes.loc["a", "outcome"] == {"label": 1}
        assert math.isnan(outcomes.loc["a", "reward"])
        assert outcomes.loc["b", "outcome"] is None and outcomes.loc["b", "model_version"] == ""
        assert list(outcomes.columns[:8]) == [
            "received_at",
            "model_version",
            "arm",
            "holdout",
            "caller",
            "outputs",
            "outcome",
            "reward",
        ]
        assert log.read_outcomes("other").empty
        assert list(log.read_outcomes("other", with_missing=True)["request_id"]) == ["c"]


def test_sixteen_threads_share_few_transactions(tmp_path: Path) -> None:
    with PredictionLog(sqlite_url(tmp_path / "log.db")) as log:
        start = threading.Barrier(16)
        errors: list[BaseException] = []

        def write_many(thread: int) -> None:
            start.wait()
            try:
                for i in range(125):
                    log.write(prediction(f"{thread}-{i}"))
            except BaseException as error:  # noqa: BLE001 - reported by the assert below
                errors.append(error)

        threads = [threading.Thread(target=write_many, args=(t,)) for t in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert errors == []
        ids = log.read_predictions()["request_id"]
        assert len(ids) == ids.nunique() == 2000 == log.records_written
        assert log.commits < 500, f"{log.commits} transactions for 2,000 records"


def test_every_acknowledged_record_survives_kill_9(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "log.db")
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER_CHILD, url],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=child_env(),
    )
    try:
        acked = [child.stdout.readline().strip() for _ in range(400)]
    finally:
        child.send_signal(signal.SIGKILL)
    acked += child.stdout.read().split()  # acks already in the pipe when the kill landed
    assert child.wait(10) == -signal.SIGKILL
    assert all(acked), "the child stopped acknowledging before 400 records"

    with PredictionLog(url) as log:
        logged = set(log.read_predictions()["request_id"])
    missing = [rid for rid in acked if rid not in logged]
    assert missing == [], f"{len(missing)} of {len(acked)} acknowledged records lost"


def test_a_locked_database_bounds_the_wait_and_the_writer_recovers(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    with PredictionLog(sqlite_url(path), max_wait_seconds=0.3) as log:
        log.write(prediction("before"))
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            started = time.perf_counter()
            with pytest.raises(LogUnavailable, match=str(path)):
                log.write(prediction("blocked-sync"))
            assert time.perf_counter() - started < 0.3 + 0.4

            started = time.perf_counter()
            with pytest.raises(LogUnavailable):
                asyncio.run(log.write_async(prediction("blocked-async")))
            assert time.perf_counter() - started < 0.3 + 0.4
            time.sleep(0.5)  # past busy_timeout: the writer's transaction has failed
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()

        log.write(prediction("after"))
        ids = set(log.read_predictions()["request_id"])
        # A failed transaction rolls back; a record cancelled while queued is never written.
        assert ids == {"before", "after"}
        assert log.records_failed + log.records_dropped == 2


@pytest.mark.parametrize("where", ["missing folder", "a folder, not a file"])
def test_an_unopenable_path_is_named(tmp_path: Path, where: str) -> None:
    path = tmp_path / "missing" / "log.db" if where == "missing folder" else tmp_path
    with pytest.raises(LogUnavailable, match=str(path)) as raised:
        PredictionLog(sqlite_url(path))
    assert "writable" in str(raised.value)


def test_settings_and_urls_are_checked_without_leaking_passwords() -> None:
    with pytest.raises(MlengError, match="synchronous"):
        PredictionLog("sqlite:///unused.db", synchronous="off")
    with pytest.raises(MlengError, match="in-memory"):
        PredictionLog("sqlite://")
    with pytest.raises(MlengError) as raised:
        PredictionLog("postgresql://writer:s3cret@127.0.0.1:1/predictions")
    assert "writer:***@127.0.0.1" in str(raised.value)
    assert "s3cret" not in str(raised.value)


def test_shadow_records_are_flushed_on_close_in_bounded_batches(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "log.db")
    log = PredictionLog(url, max_batch=8)
    with pytest.raises(TypeError):
        log.submit(prediction("bad", outputs={"predictions": [object()]}))
    futures = [log.submit(prediction(f"s{i}", served=False)) for i in range(200)]
    log.close()
    log.close()
    assert all(f.done() and f.exception() is None for f in futures)
    assert log.commits >= 200 / 8
    with pytest.raises(LogUnavailable, match="closed"):
        log.write(prediction("late"))

    with PredictionLog(url) as reopened:
        assert len(reopened.read_predictions(served_only=False)) == 200


def test_another_process_reads_while_the_service_writes(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "log.db")
    with PredictionLog(url) as log:
        log.write(prediction("first"))
        stop = threading.Event()
        errors: list[BaseException] = []

        def keep_writing() -> None:
            i = 0
            while not stop.is_set():
                try:
                    log.write(prediction(f"w{i}"))
                except BaseException as error:  # noqa: BLE001 - reported by the assert below
                    errors.append(error)
                i += 1
                time.sleep(0.001)  # a steady stream, not a flood the reader must decode

        writer = threading.Thread(target=keep_writing)
        writer.start()
        try:
            reader = subprocess.run(
                [sys.executable, "-c", READER_CHILD, url],
                check=False,
                capture_output=True,
                text=True,
                cwd=ROOT,
                env=child_env(),
                timeout=60,
            )
        finally:
            stop.set()
            writer.join()

    assert reader.returncode == 0, reader.stderr
    counts = [int(line) for line in reader.stdout.split()]
    assert len(counts) == 15
    assert counts == sorted(counts) and counts[-1] > counts[0] >= 1
    assert errors == []
