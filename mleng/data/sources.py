"""Where a card's data lives: one file, a folder or glob of partitions, or a SQL table or query.

A folder or a glob is a set of partitions, one file per batch: they are read in name order and
concatenated as they are (no column is added), so a new file is new data and its rows change the
run's data digest. Partitions must share their columns. A SQL source is read through SQLAlchemy
with the URL taken from an environment variable when the data is loaded: no card, message or
MLflow source ever shows its password.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import pandas as pd
import sqlalchemy as sa

from mleng.card import DatasetCard
from mleng.card.source import SqlSource
from mleng.errors import DataError

SourceKind = Literal["file", "folder", "glob", "sql"]

GLOB_CHARACTERS = ("*", "?", "[")
SUFFIXES = {
    "csv": (".csv", ".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zip", ".csv.zst"),
    "parquet": (".parquet", ".pq"),
}
URL_EXAMPLE = "dialect+driver://user:password@host/database, e.g. sqlite:///data/sales.db"


# ---------------------------------------------------------------------------------------------
# One file


def read_table(path: Path, file_format: str) -> pd.DataFrame:
    """Read a CSV or Parquet file, turning every reader failure into a message naming the file."""
    if not path.exists():
        raise DataError(
            f"Data file {path} does not exist; fix 'path' in the dataset card "
            "(relative paths resolve against the card's folder)"
        )
    if path.is_dir():
        raise DataError(
            f"Data path {path} is a folder, not a file; "
            f"point 'path' in the dataset card at a {file_format} file"
        )
    with reader_errors(path, file_format):
        if file_format == "parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path)


@contextmanager
def reader_errors(path: Path, file_format: str) -> Iterator[None]:
    """Every reader failure inside the block as an error naming the file and the fix; shared by
    whole reads and chunked ones (mleng.data.chunks)."""
    try:
        yield
    except pd.errors.EmptyDataError:
        raise DataError(
            f"Data file {path} is empty (0 rows, no header); "
            f"supply a {file_format} file with a header row and data"
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as error:
        first_line = (
            str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        )
        raise DataError(
            f"Data file {path} cannot be read as {file_format}: {first_line}. "
            f"Check the file is a valid {file_format} file (delimiter, encoding, compression) "
            "or fix 'format' in the card"
        ) from None


# ---------------------------------------------------------------------------------------------
# What the card points at


def _split_pattern(path: Path) -> tuple[Path, str]:
    """The deepest existing folder of `path` and the rest of it, as a glob relative to that folder
    (so brackets or stars in an existing folder's name are taken literally)."""
    anchor = path
    while not anchor.is_dir() and anchor != anchor.parent:
        anchor = anchor.parent
    return anchor, path.relative_to(anchor).as_posix()


def source_kind(card: DatasetCard) -> SourceKind:
    """`sql`, a `folder` of partitions, a `glob` of partitions, or a single `file` (a path that
    neither exists nor holds a wildcard is a missing file, reported as such when read)."""
    if card.format == "sql":
        return "sql"
    path = Path(card.path)
    if path.is_dir():
        return "folder"
    if path.exists():
        return "file"
    _, rest = _split_pattern(path)
    return "glob" if any(char in rest for char in GLOB_CHARACTERS) else "file"


def _fits_format(path: Path, file_format: str) -> bool:
    return path.name.lower().endswith(SUFFIXES[file_format])


def _folder_partitions(folder: Path, file_format: str) -> list[Path]:
    files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
    partitions = sorted((p for p in files if _fits_format(p, file_format)), key=lambda p: p.name)
    if partitions:
        return partitions
    others = {
        other: [p.name for p in files if _fits_format(p, other)]
        for other in SUFFIXES
        if other != file_format
    }
    hint = "".join(
        f"; it holds {len(names)} {other} files ({', '.join(sorted(names)[:3])}): "
        f"set format: {other}"
        for other, names in others.items()
        if names
    )
    raise DataError(
        f"Data folder {folder} holds no {file_format} partition "
        f"(files named *{', *'.join(SUFFIXES[file_format])}){hint}; "
        f"add {file_format} files to the folder or fix 'path' in the dataset card"
    )


def _glob_partitions(path: Path) -> list[Path]:
    anchor, pattern = _split_pattern(path)
    matches = glob.glob(pattern, root_dir=anchor, recursive=True)
    partitions = sorted(
        (anchor / match for match in matches if (anchor / match).is_file()),
        key=lambda p: p.as_posix(),
    )
    if not partitions:
        raise DataError(
            f"No file matches the pattern '{pattern}' in folder {anchor} (from 'path' {path}); "
            "fix 'path' in the dataset card (relative paths resolve against the card's folder) "
            "or add partition files that match it"
        )
    return partitions


def list_partitions(card: DatasetCard) -> list[Path]:
    """The files the card reads, in the order their rows are concatenated: one file, every file
    of the card's format in a folder (by name, hidden files skipped), or every file a glob matches
    (by path). Empty for a SQL source. A folder or glob with no file is an error naming it."""
    kind = source_kind(card)
    if kind == "sql":
        return []
    path = Path(card.path)
    if kind == "folder":
        return _folder_partitions(path, card.format)
    if kind == "glob":
        return _glob_partitions(path)
    return [path]


def describe_source(card: DatasetCard) -> str:
    """The data's source as one string, for messages and MLflow's dataset source: the file, folder
    or pattern, or `sql table <name> at <URL>` with the URL's password masked."""
    if card.format != "sql":
        return str(card.path)
    sql = _sql_settings(card)
    what = f"sql table {sql.table}" if sql.table else "sql query"
    raw = os.environ.get(sql.url_env, "")
    if not raw:
        return f"{what} at ${sql.url_env} (unset)"
    try:
        return f"{what} at {mask_url(sa.engine.make_url(raw))}"
    except sa.exc.ArgumentError:
        return f"{what} at ${sql.url_env} (not a SQLAlchemy URL)"


def data_label(card: DatasetCard) -> str:
    """The subject of a message about the card's data: `Data file <path>` for a file (as always),
    `Data in folder <path>`, `Data matching <pattern>`, or `Data from sql table <name>`."""
    kind = source_kind(card)
    if kind == "sql":
        sql = _sql_settings(card)
        what = f"sql table {sql.table}" if sql.table else "the sql query"
        return f"Data from {what} (URL from ${sql.url_env})"
    subject = {"file": "Data file", "folder": "Data in folder", "glob": "Data matching"}[kind]
    return f"{subject} {card.path}"


# ---------------------------------------------------------------------------------------------
# Reading


def read_source(card: DatasetCard) -> pd.DataFrame:
    """The card's data as one frame: the file, the partitions concatenated in name order, or the
    rows of the SQL table or query. Reader failures are errors naming the file or the source."""
    kind = source_kind(card)
    if kind == "sql":
        return read_sql(_sql_settings(card))
    partitions = list_partitions(card)
    if kind == "file":
        return read_table(partitions[0], card.format)
    return combine_partitions(partitions, [read_table(p, card.format) for p in partitions])


def combine_partitions(paths: list[Path], frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate partitions in order; their columns must match the first one's (in any order).

    A partition with no rows adds none; a column that is entirely missing in one partition takes
    the type it has in the others, so a small batch does not turn a text column into objects.
    """
    first, columns = paths[0], list(frames[0].columns)
    for path, frame in zip(paths[1:], frames[1:], strict=True):
        extra = [c for c in frame.columns if c not in set(columns)]
        lacking = [c for c in columns if c not in set(frame.columns)]
        if extra or lacking:
            differences = [
                *([f"has columns {extra[:30]} that {first.name} lacks"] if extra else []),
                *([f"lacks columns {lacking[:30]} of {first.name}"] if lacking else []),
            ]
            raise DataError(
                f"Partition {path} {' and '.join(differences)}; every partition of a dataset "
                "needs the same columns: fix or move that file (or start a new folder when the "
                "schema changes)"
            )
    aligned = [frame[columns] for frame in frames]
    kept = [frame for frame in aligned if len(frame)] or aligned[:1]
    return pd.concat(_type_missing_columns(kept), ignore_index=True)


def _type_missing_columns(frames: list[pd.DataFrame]) -> list[pd.DataFrame]:
    if len(frames) < 2:
        return frames
    frames = [frame.copy() for frame in frames]
    for column in frames[0].columns:
        typed = {frame[column].dtype for frame in frames if frame[column].notna().any()}
        if len(typed) != 1:
            continue
        dtype = typed.pop()
        if not isinstance(dtype, pd.api.extensions.ExtensionDtype) and dtype.kind in "iub":
            continue  # missing values cannot be NumPy integers or booleans: let concat widen
        for frame in frames:
            if frame[column].dtype != dtype:
                frame[column] = frame[column].astype(dtype)
    return frames


# ---------------------------------------------------------------------------------------------
# SQL


def _sql_settings(card: DatasetCard) -> SqlSource:
    if card.sql is None:  # the card's validation requires it with format: sql
        raise DataError(f"Card {card.name} has format: sql but no sql section; add one")
    return card.sql


def mask_url(url: sa.engine.URL) -> str:
    """The URL as text with its password replaced by `***`."""
    return url.render_as_string(hide_password=True)


def database_url(sql: SqlSource) -> sa.engine.URL:
    """The database URL from the environment, parsed; errors name the variable, never its value
    (it holds a password)."""
    raw = os.environ.get(sql.url_env, "").strip()
    if not raw:
        raise DataError(
            f"Environment variable {sql.url_env} is not set; the card reads a SQL "
            f"{'table' if sql.table else 'query'} from the database it names: set it to a "
            f"SQLAlchemy URL ({URL_EXAMPLE}), or name another variable in sql.url_env"
        )
    try:
        url = sa.engine.make_url(raw)
    except sa.exc.ArgumentError:
        raise DataError(
            f"Environment variable {sql.url_env} does not hold a SQLAlchemy URL; "
            f"set it to one ({URL_EXAMPLE})"
        ) from None
    on_disk = url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
    if on_disk and not Path(url.database).is_file():  # SQLite would create an empty one there
        raise DataError(
            f"SQLite database {url.database} (from {sql.url_env}) does not exist; "
            f"fix {sql.url_env} (relative paths start from the current folder, {Path.cwd()})"
        )
    return url


def _first_line(error: BaseException, url: sa.engine.URL) -> str:
    cause = error.__cause__ if isinstance(error, pd.errors.DatabaseError) else error
    cause = getattr(cause, "orig", None) or cause or error  # the driver's own message
    text = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    if url.password:
        text = text.replace(str(url.password), "***")
    return text


def read_sql(sql: SqlSource) -> pd.DataFrame:
    """The rows of the table (`schema.table` is allowed) or of the query, through SQLAlchemy."""
    url = database_url(sql)
    shown = mask_url(url)
    try:
        engine = sa.create_engine(url)
    except (sa.exc.NoSuchModuleError, ImportError) as error:
        raise DataError(
            f"Cannot open {shown} (from {sql.url_env}): {_first_line(error, url)}; install the "
            f"database driver the URL names (PostgreSQL: pip install 'mleng[postgres]' with "
            "postgresql+psycopg://...) or fix the URL"
        ) from None
    try:
        with engine.connect() as connection:
            if sql.query is not None:
                return pd.read_sql_query(sql.query, connection)
            schema, _, name = str(sql.table).rpartition(".")
            _check_table(connection, name, schema or None, shown)
            return pd.read_sql_table(name, connection, schema=schema or None)
    except (sa.exc.SQLAlchemyError, pd.errors.DatabaseError) as error:
        what = f"query {sql.query[:200]!r}" if sql.query else f"table {sql.table}"
        raise DataError(
            f"Reading sql {what} from {shown} (from {sql.url_env}) failed: "
            f"{_first_line(error, url)}; check the database is reachable and the "
            f"{'query' if sql.query else 'table'} in the card's sql section"
        ) from None
    finally:
        engine.dispose()


def _check_table(connection: sa.Connection, name: str, schema: str | None, shown: str) -> None:
    inspector = sa.inspect(connection)
    if inspector.has_table(name, schema=schema) or name in inspector.get_view_names(schema):
        return
    tables = [*inspector.get_table_names(schema), *inspector.get_view_names(schema)]
    where = f"schema {schema} of {shown}" if schema else shown
    raise DataError(
        f"No table {name} in {where}; its tables are {sorted(tables)[:30] or 'none'}. "
        "Fix sql.table in the dataset card (schema.table for another schema)"
    )
