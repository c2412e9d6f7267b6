"""The durable prediction log: every request and answer, committed before the answer is sent.

Promise: a prediction whose answer was sent is never lost, even on kill -9, and the log never
holds the answer path for longer than `max_wait_seconds`.

How (group commit): one writer thread owns the database connection. `submit` encodes a record
(JSON errors surface in the caller, not in someone else's batch), queues it and returns a
`concurrent.futures.Future`. The writer takes everything queued (up to `max_batch`), inserts it
in one transaction, commits, then resolves every future of the batch, or sets the same failure
on all of them. The service awaits the future (`write`, `write_async`) and answers only once it
resolved, returning 503 on `LogUnavailable`; so an acknowledged answer is always in the log.
Shadow records (a challenger scored off the hot path) are submitted without waiting.

What a failed or late `write` means for its record:

* the future failed (the transaction raised, e.g. `database is locked` after busy_timeout):
  the transaction was rolled back, the record is not in the log;
* the wait timed out while the record was still queued: the future is cancelled and the writer
  drops it, the record is never written;
* the wait timed out while its transaction was in flight: it may still commit. Such a record
  is in the log although its caller got a 503. Success is never reported for an uncommitted one.

SQLite (the default) runs in WAL mode with `synchronous=NORMAL`: committed transactions survive
a process crash (kill -9) but a power loss may drop the last ones; pass `synchronous="full"` to
fsync every commit. busy_timeout equals `max_wait_seconds`, so the writer gives up on another
writer's lock when its callers do. Several processes may write one SQLite file (each has its own
writer; they take turns on the lock) and any number may read it. Use a local disk, not NFS.
Any other SQLAlchemy URL (PostgreSQL for teams) works with the same tables.

Inputs and outputs are stored as JSON text (orjson): NaN and infinities become `null` and read
back as None; numpy scalars and arrays are accepted.

Create the log after forking worker processes (threads do not survive a fork) and `close()` it
on shutdown: records submitted without waiting are flushed only then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Self

import pandas as pd
from sqlalchemy import Connection, Table, insert
from sqlalchemy.engine import make_url

from mleng.errors import MlengError
from mleng.serving import prediction_log_store as store
from mleng.tracking.registry import redact_uri

__all__ = ["FeedbackRecord", "LogUnavailable", "PredictionLog", "PredictionRecord"]

_log = logging.getLogger(__name__)
_STOP = object()
_CHECKPOINT_SECONDS = 1.0
_CLOSE_TIMEOUT_SECONDS = 30.0
_PENDING_PER_BATCH = 64  # queue bound: max_batch * this, so a stalled database cannot eat memory


class LogUnavailable(MlengError):
    """The prediction log did not commit a record in time, or failed; the answer must not go."""


@dataclass(frozen=True)
class PredictionRecord:
    """One request and its answer (`served`) or a shadow score of it (not served)."""

    request_id: str
    received_at: float  # unix seconds
    model_name: str
    model_version: str  # version that produced the outputs ("" when none did: a holdout)
    arm: str  # "champion", "challenger", "holdout", or a bandit arm "v3"
    served: bool  # True: the answer the caller got; False: a shadow score
    caller: str  # key id of the caller (never the key)
    inputs: list[dict]  # the validated input rows (JSON-able dicts)
    outputs: dict  # {"predictions": [...], "probabilities": [...]} JSON-able
    latency_ms: float
    status: int = 200
    holdout: bool = False  # caller held out from the model (hidden feedback loops)


@dataclass(frozen=True)
class FeedbackRecord:
    """The true outcome and/or a business reward for an earlier request; the latest one wins."""

    request_id: str
    received_at: float
    caller: str
    outcome: Any | None  # the true label or value (JSON-able), or None
    reward: float | None  # a business reward, or None


@dataclass(frozen=True)
class _Pending:
    table: Table
    row: dict[str, Any]
    future: Future[None]


class PredictionLog:
    """Group-committing writer plus the reads the monitor flow and `mleng ab-test` need.

    Counters (read them, do not set them): `commits` (transactions committed), `records_written`,
    `records_failed` (in a failed transaction), `records_dropped` (cancelled while queued).
    """

    def __init__(
        self,
        url: str,
        *,
        max_wait_seconds: float = 1.0,
        max_batch: int = 512,
        synchronous: str = "normal",
    ) -> None:
        if max_wait_seconds <= 0 or max_batch < 1:
            raise MlengError("the prediction log needs max_wait_seconds > 0 and max_batch >= 1")
        self.url = url
        self.max_wait_seconds = max_wait_seconds
        self.max_batch = max_batch
        self.commits = 0
        self.records_written = 0
        self.records_failed = 0
        self.records_dropped = 0
        self._shown_url = redact_uri(url)
        self._password = make_url(url).password
        busy_ms = max(1, round(max_wait_seconds * 1000))
        self._engine = store.open_engine(url, synchronous, busy_ms)
        try:
            store.create_schema(self._engine)
        except MlengError:
            self._engine.dispose()
            raise
        except Exception as error:  # noqa: BLE001 - any driver error: explained, not swallowed
            self._engine.dispose()
            raise LogUnavailable(self._explain("cannot be opened", error)) from None
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_batch * _PENDING_PER_BATCH)
        self._lock = threading.Lock()
        self._closed = False
        self._writer = threading.Thread(
            target=self._run_writer, name="prediction-log-writer", daemon=True
        )
        self._writer.start()
        self._stopping = threading.Event()
        self._checkpointer: threading.Thread | None = None
        if store.is_sqlite(self._engine):
            self._checkpointer = threading.Thread(
                target=self._run_checkpoints, name="prediction-log-checkpoint", daemon=True
            )
            self._checkpointer.start()

    # -- writing ------------------------------------------------------------------------------

    def submit(self, record: PredictionRecord | FeedbackRecord) -> Future[None]:
        """Queue `record`; the future resolves once its transaction committed (never blocks).

        A closed log or a full queue (the database stalled) gives an already failed future.
        Raises TypeError at once for a record that is not JSON-able.
        """
        table, row = _encode(record)
        future: Future[None] = Future()
        with self._lock:
            if self._closed:
                future.set_exception(
                    LogUnavailable(f"The prediction log {self._shown_url} is closed")
                )
                return future
            try:
                self._queue.put_nowait(_Pending(table, row, future))
            except queue.Full:
                future.set_exception(LogUnavailable(self._backlog_message()))
        return future

    def write(self, record: PredictionRecord | FeedbackRecord) -> None:
        """Submit and wait up to `max_wait_seconds` for the commit; LogUnavailable otherwise."""
        future = self.submit(record)
        try:
            future.result(timeout=self.max_wait_seconds)
        except TimeoutError:
            future.cancel()
            raise LogUnavailable(self._timeout_message()) from None
        except LogUnavailable as error:
            raise LogUnavailable(str(error)) from error

    async def write_async(self, record: PredictionRecord | FeedbackRecord) -> None:
        """`write` for asyncio callers: the event loop keeps serving while the commit happens."""
        future = self.submit(record)
        try:
            await asyncio.wait_for(asyncio.wrap_future(future), self.max_wait_seconds)
        except TimeoutError:
            future.cancel()
            raise LogUnavailable(self._timeout_message()) from None
        except LogUnavailable as error:
            raise LogUnavailable(str(error)) from error

    def close(self) -> None:
        """Flush everything queued, stop the writer, release the engine; safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._queue.put(_STOP)  # outside the lock: nothing can be queued behind it any more
        self._writer.join(_CLOSE_TIMEOUT_SECONDS)
        self._stopping.set()
        if self._checkpointer is not None:
            self._checkpointer.join(_CLOSE_TIMEOUT_SECONDS)
        if self._writer.is_alive():
            _log.warning("prediction log %s: writer still busy after close", self._shown_url)
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def shown_url(self) -> str:
        """The log's URL with any password masked, for messages."""
        return self._shown_url

    @property
    def pending(self) -> int:
        """Records queued and not yet taken by the writer."""
        return self._queue.qsize()

    # -- reading ------------------------------------------------------------------------------

    def find_request(self, request_id: str) -> dict | None:
        """The served prediction row of `request_id` (for /feedback: 404 if None)."""
        with self._engine.connect() as conn:
            return store.find_request(conn, request_id)

    def read_predictions(
        self,
        model_name: str | None = None,
        since: float | None = None,
        served_only: bool = True,
    ) -> pd.DataFrame:
        """One row per record (columns: PredictionRecord's fields), inputs/outputs decoded."""
        with self._engine.connect() as conn:
            return store.read_predictions(conn, model_name, since, served_only)

    def read_outcomes(self, model_name: str, *, with_missing: bool = False) -> pd.DataFrame:
        """Served predictions joined with their latest feedback.

        Columns: request_id, received_at, model_version, arm, holdout, caller, outputs, outcome,
        reward, feedback_at. Only predictions that got feedback, unless `with_missing`.
        """
        with self._engine.connect() as conn:
            return store.read_outcomes(conn, model_name, with_missing)

    # -- the writer thread --------------------------------------------------------------------

    def _run_writer(self) -> None:
        """Commit batches until close(); a failed batch never stops the writer."""
        conn: Connection | None = None
        stop = False
        while not stop:
            batch, stop = self._take_batch()
            if batch:
                conn = self._commit_batch(conn, batch)
        if conn is not None:
            conn.close()

    def _run_checkpoints(self) -> None:
        """Checkpoint the WAL every second, off the commit path, so it never grows unbounded
        and no commit pays for it."""
        while not self._stopping.wait(_CHECKPOINT_SECONDS):
            try:
                store.checkpoint(self._engine)
            except Exception as error:  # noqa: BLE001 - a busy database: try again next time
                _log.debug("prediction log checkpoint skipped: %s", error)
        with contextlib.suppress(Exception):
            store.checkpoint(self._engine)

    def _take_batch(self) -> tuple[list[_Pending], bool]:
        """Wait for one record, then take whatever else is queued, up to max_batch.

        Futures cancelled while queued (their caller gave up) are dropped here; the others are
        marked running, so from now on a caller's cancel() fails and the record may commit.
        """
        taken = [self._queue.get()]
        while len(taken) < self.max_batch and taken[-1] is not _STOP:
            try:
                taken.append(self._queue.get_nowait())
            except queue.Empty:
                break
        stop = taken[-1] is _STOP
        batch = [p for p in taken if p is not _STOP and p.future.set_running_or_notify_cancel()]
        self.records_dropped += len(taken) - len(batch) - int(stop)
        return batch, stop

    def _commit_batch(self, conn: Connection | None, batch: list[_Pending]) -> Connection | None:
        """Insert the batch in one transaction; resolve its futures. Returns the connection to
        reuse, or None after a failure so the next batch starts on a fresh one."""
        try:
            if conn is None:
                conn = self._engine.connect()
            with conn.begin():
                for table, rows in _group_rows(batch):
                    conn.execute(insert(table), rows)
        except Exception as error:  # noqa: BLE001 - every failure must reach the futures
            failure = LogUnavailable(self._explain("could not commit", error))
            self.records_failed += len(batch)
            _log.warning("prediction log: %d records not written: %s", len(batch), failure)
            for pending in batch:
                pending.future.set_exception(failure)
            _close_quietly(conn)
            return None
        self.commits += 1
        self.records_written += len(batch)
        for pending in batch:
            pending.future.set_result(None)
        return conn

    # -- messages -----------------------------------------------------------------------------

    def _explain(self, what: str, error: BaseException) -> str:
        """A message naming the URL (password masked), the database's own words and the fix."""
        cause = getattr(error, "orig", None) or error
        detail = f"{type(cause).__name__}: {cause}".splitlines()[0]
        if self._password:
            detail = detail.replace(self._password, "***")
        fix = store.what_to_check(self.url)
        return f"The prediction log {self._shown_url} {what} ({detail}); {fix}"

    def _timeout_message(self) -> str:
        return (
            f"The prediction log {self._shown_url} did not commit within "
            f"{self.max_wait_seconds:g} s; {store.what_to_check(self.url)}"
        )

    def _backlog_message(self) -> str:
        return (
            f"The prediction log {self._shown_url} has {self._queue.maxsize} records waiting: "
            f"the database is too slow or unavailable; {store.what_to_check(self.url)}"
        )


def _encode(record: PredictionRecord | FeedbackRecord) -> tuple[Table, dict[str, Any]]:
    """The table and row for a record, JSON columns encoded (NaN -> null)."""
    if isinstance(record, PredictionRecord):
        return store.PREDICTIONS, {
            "request_id": record.request_id,
            "received_at": float(record.received_at),
            "model_name": record.model_name,
            "model_version": record.model_version,
            "arm": record.arm,
            "served": bool(record.served),
            "caller": record.caller,
            "inputs": store.dump_json(record.inputs),
            "outputs": store.dump_json(record.outputs),
            "latency_ms": float(record.latency_ms),
            "status": int(record.status),
            "holdout": bool(record.holdout),
        }
    if isinstance(record, FeedbackRecord):
        reward = None if record.reward is None else float(record.reward)
        return store.FEEDBACK, {
            "request_id": record.request_id,
            "received_at": float(record.received_at),
            "caller": record.caller,
            "outcome": None if record.outcome is None else store.dump_json(record.outcome),
            "reward": None if reward is None or math.isnan(reward) else reward,
        }
    raise TypeError(f"the prediction log takes PredictionRecord or FeedbackRecord, not {record!r}")


def _group_rows(batch: list[_Pending]) -> Iterator[tuple[Table, list[dict[str, Any]]]]:
    """Rows per table, in submission order within each (one executemany per table)."""
    tables: dict[str, tuple[Table, list[dict[str, Any]]]] = {}
    for pending in batch:
        tables.setdefault(pending.table.name, (pending.table, []))[1].append(pending.row)
    yield from tables.values()


def _close_quietly(conn: Connection | None) -> None:
    """Drop a connection after a failure; it may already be broken."""
    if conn is None:
        return
    try:
        conn.invalidate()
        conn.close()
    except Exception:  # noqa: BLE001 - the connection is being thrown away
        _log.debug("prediction log: closing a failed connection raised", exc_info=True)
