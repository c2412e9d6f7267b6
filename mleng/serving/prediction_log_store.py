"""The prediction log's tables, engine and reads (the writer lives in `prediction_log`).

Inputs, outputs and outcomes are stored as JSON text written by orjson, which writes NaN and
infinities as `null`: a NaN feature or probability reads back as `None`. JSON text rather than a
JSON column type keeps one schema for SQLite and PostgreSQL and costs nothing at write time.

Table names carry a `prediction_` prefix so the log can share a team's PostgreSQL database.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
import pandas as pd
from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    create_engine,
    event,
    func,
    insert,
    select,
    true,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError

from mleng.errors import MlengError
from mleng.tracking.registry import redact_uri

SCHEMA_VERSION = 1
SYNCHRONOUS_MODES = ("normal", "full")
_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
_log = logging.getLogger(__name__)

metadata = MetaData()

PREDICTIONS = Table(
    "prediction_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(255), nullable=False),
    Column("received_at", Float, nullable=False),
    Column("model_name", String(255), nullable=False),
    Column("model_version", String(255), nullable=False),
    Column("arm", String(255), nullable=False),
    Column("served", Boolean, nullable=False),
    Column("caller", String(255), nullable=False),
    Column("inputs", Text, nullable=False),
    Column("outputs", Text, nullable=False),
    Column("latency_ms", Float, nullable=False),
    Column("status", Integer, nullable=False),
    Column("holdout", Boolean, nullable=False),
    Index("ix_prediction_log_request_id", "request_id"),
    Index("ix_prediction_log_received_at", "received_at"),
    Index("ix_prediction_log_model_name", "model_name", "received_at"),
)

FEEDBACK = Table(
    "prediction_feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(255), nullable=False),
    Column("received_at", Float, nullable=False),
    Column("caller", String(255), nullable=False),
    Column("outcome", Text, nullable=True),
    Column("reward", Float, nullable=True),
    Index("ix_prediction_feedback_request_id", "request_id", "received_at"),
)

META = Table(
    "prediction_log_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(255), nullable=False),
)

PREDICTION_COLUMNS = [c.name for c in PREDICTIONS.columns if c.name != "id"]
OUTCOME_COLUMNS = [
    "request_id",
    "received_at",
    "model_version",
    "arm",
    "holdout",
    "caller",
    "outputs",
    "outcome",
    "reward",
    "feedback_at",
]


def dump_json(value: Any) -> str:
    """JSON text for a column; numpy scalars and arrays are accepted, NaN becomes null."""
    return orjson.dumps(value, default=_json_default, option=_JSON_OPTIONS).decode()


def _json_default(value: Any) -> Any:
    """What orjson cannot write itself: pandas timestamps, numpy-like scalars (`.item()`)."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON-able")


def what_to_check(url: str) -> str:
    """The likely fix for a log that cannot be opened or written, by backend."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return (
            f"check that the folder of {parsed.database} exists and is writable, that it is a "
            "local disk (not a network share) and that no other process holds a long write lock"
        )
    return "check that the database server is reachable, the credentials and that it has space"


def open_engine(url: str, synchronous: str, busy_ms: int) -> Engine:
    """One engine for the writer and the reads; SQLite pragmas are set on every new connection.

    WAL lets readers in other processes (the monitor flow) read while the service writes.
    `synchronous=NORMAL` in WAL mode does not fsync on commit: a committed transaction survives
    a crash of the process (kill -9, OOM) because it is in the OS's cache, but a power loss or
    kernel crash may drop the last transactions; `synchronous="full"` fsyncs every commit.
    `busy_timeout` bounds how long a commit waits for another writer's lock.
    """
    if synchronous not in SYNCHRONOUS_MODES:
        raise MlengError(
            f"synchronous={synchronous!r} is not supported for the prediction log; "
            f"use one of {', '.join(SYNCHRONOUS_MODES)}"
        )
    parsed = make_url(url)
    sqlite = parsed.get_backend_name() == "sqlite"
    if sqlite and parsed.database in (None, "", ":memory:"):
        raise MlengError(
            f"The prediction log {url!r} is an in-memory SQLite database, which each connection "
            "sees empty; give a file, e.g. sqlite:///predictions.db"
        )
    try:
        engine = create_engine(parsed, hide_parameters=True, pool_pre_ping=not sqlite)
    except (ImportError, ValueError) as error:
        raise MlengError(
            f"The prediction log {redact_uri(url)} cannot be opened: {error}. Check the URL and "
            "that its database driver is installed (PostgreSQL: pip install psycopg[binary])"
        ) from None
    if sqlite:
        event.listen(engine, "connect", _pragma_setter(synchronous, busy_ms))
    return engine


def _pragma_setter(synchronous: str, busy_ms: int):
    """A `connect` listener: busy_timeout first, since switching to WAL may wait for a lock."""

    def set_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
            mode = cursor.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
            # SQLite's automatic checkpoint runs inside the commit that crosses 1,000 WAL pages
            # (4.5 ms here, every ~200 commits: the answer path's p99). The log checkpoints from
            # its own thread instead (`PredictionLog._run_checkpoints`).
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        finally:
            cursor.close()
        if str(mode).lower() != "wal":
            _log.warning("SQLite refused WAL mode (%s): readers will block the writer", mode)

    return set_pragmas


def is_sqlite(engine: Engine) -> bool:
    return engine.url.get_backend_name() == "sqlite"


def checkpoint(engine: Engine) -> None:
    """Copy committed WAL pages into the database without blocking writers (PASSIVE)."""
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")


def create_schema(engine: Engine) -> None:
    """Create the tables if absent and record the schema version; refuse a newer schema.

    Two processes opening a new log at once may race on CREATE TABLE; the loser retries once.
    """
    for attempt in range(2):
        try:
            metadata.create_all(engine)
            break
        except OperationalError:  # a lost CREATE TABLE race; the retry re-raises
            if attempt:
                raise
    with engine.connect() as conn:
        found = conn.execute(select(META.c.value).where(META.c.key == "schema_version")).scalar()
        if found is None:
            try:
                conn.execute(insert(META).values(key="schema_version", value=str(SCHEMA_VERSION)))
                conn.commit()
            except IntegrityError:
                conn.rollback()
        elif int(found) > SCHEMA_VERSION:
            raise MlengError(
                f"The prediction log has schema version {found}, newer than this mleng's "
                f"{SCHEMA_VERSION}; upgrade mleng to read it"
            )


def _decode(row: dict[str, Any], columns: tuple[str, ...]) -> dict[str, Any]:
    """A row with its JSON columns parsed (NULL stays None)."""
    for name in columns:
        text = row.get(name)
        row[name] = None if text is None else orjson.loads(text)
    return row


def find_request(conn: Connection, request_id: str) -> dict[str, Any] | None:
    """The latest served prediction for `request_id`, decoded, or None."""
    query = (
        select(*[PREDICTIONS.c[name] for name in PREDICTION_COLUMNS])
        .where(PREDICTIONS.c.request_id == request_id, PREDICTIONS.c.served == true())
        .order_by(PREDICTIONS.c.received_at.desc(), PREDICTIONS.c.id.desc())
        .limit(1)
    )
    row = conn.execute(query).mappings().first()
    return None if row is None else _decode(dict(row), ("inputs", "outputs"))


def read_predictions(
    conn: Connection, model_name: str | None, since: float | None, served_only: bool
) -> pd.DataFrame:
    """Predictions in the order received, one row per record, JSON columns decoded."""
    query = select(*[PREDICTIONS.c[name] for name in PREDICTION_COLUMNS])
    if model_name is not None:
        query = query.where(PREDICTIONS.c.model_name == model_name)
    if since is not None:
        query = query.where(PREDICTIONS.c.received_at >= since)
    if served_only:
        query = query.where(PREDICTIONS.c.served == true())
    query = query.order_by(PREDICTIONS.c.received_at, PREDICTIONS.c.id)
    rows = [_decode(dict(r), ("inputs", "outputs")) for r in conn.execute(query).mappings()]
    return pd.DataFrame(rows, columns=PREDICTION_COLUMNS)


def read_outcomes(conn: Connection, model_name: str, with_missing: bool) -> pd.DataFrame:
    """Served predictions of `model_name` with their latest feedback (by received_at, then id).

    Only predictions with feedback unless `with_missing` (then outcome/reward are None/NaN and
    `feedback_at` is NaN where none came back, so label coverage can be computed).
    """
    rank = func.row_number().over(
        partition_by=FEEDBACK.c.request_id,
        order_by=(FEEDBACK.c.received_at.desc(), FEEDBACK.c.id.desc()),
    )
    latest = select(
        FEEDBACK.c.request_id,
        FEEDBACK.c.outcome,
        FEEDBACK.c.reward,
        FEEDBACK.c.received_at.label("feedback_at"),
        rank.label("rank"),
    ).subquery()
    p = PREDICTIONS.c
    on = and_(latest.c.request_id == p.request_id, latest.c.rank == 1)
    query = (
        select(
            p.request_id,
            p.received_at,
            p.model_version,
            p.arm,
            p.holdout,
            p.caller,
            p.outputs,
            latest.c.outcome,
            latest.c.reward,
            latest.c.feedback_at,
        )
        .select_from(PREDICTIONS.join(latest, on, isouter=with_missing))
        .where(p.model_name == model_name, p.served == true())
        .order_by(p.received_at, p.id)
    )
    rows = [_decode(dict(r), ("outputs", "outcome")) for r in conn.execute(query).mappings()]
    frame = pd.DataFrame(rows, columns=OUTCOME_COLUMNS)
    return frame.astype({"reward": float, "feedback_at": float})
