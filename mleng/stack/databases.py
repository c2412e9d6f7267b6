"""The stack's databases on a team's PostgreSQL server: created once, before the servers start.

Prefect and MLflow each migrate their own schema into an empty database, and the prediction log
creates its table, but none of them creates the database itself; `up` does, so pointing the
stack at a fresh server is the whole setup.
"""

from __future__ import annotations

from mleng.stack.settings import DATABASES, StackError, StackSettings
from mleng.tracking.registry import redact_uri


def ensure_databases(settings: StackSettings) -> list[str]:
    """Create whichever of the stack's databases the server lacks; say which were created."""
    if settings.database_url is None:
        return []
    try:
        import psycopg
        from psycopg import sql
    except ImportError:
        raise StackError(
            "database_url needs the PostgreSQL driver: pip install 'mleng[postgres]'"
        ) from None
    from sqlalchemy.engine import make_url

    server = make_url(settings.database_url)
    options = {
        "host": server.host, "port": server.port or 5432, "user": server.username,
        "password": server.password, "dbname": server.database or "postgres",
        "connect_timeout": 10,
    }  # fmt: skip
    created = []
    try:
        with psycopg.connect(**{k: v for k, v in options.items() if v is not None}) as connection:
            connection.autocommit = True  # CREATE DATABASE cannot run inside a transaction
            for name in DATABASES.values():
                found = connection.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
                ).fetchone()
                if found is None:
                    connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                    created.append(name)
    except psycopg.Error as error:
        where = redact_uri(settings.database_url)
        raise StackError(
            f"cannot prepare the stack's databases on {where}: {str(error).strip()}; check the "
            "server runs, the user may log in and has CREATEDB (or create "
            f"{', '.join(DATABASES.values())} yourself)"
        ) from None
    return [f"created database {name} on {redact_uri(settings.database_url)}" for name in created]
