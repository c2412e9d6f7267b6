"""Request bodies to typed model inputs: the bodies MLflow's `/invocations` takes, checked first.

Accepted, as in MLflow: JSON `{"dataframe_records": [{column: value}, ...]}`,
`{"dataframe_split": {"columns": [...], "data": [[...], ...]}}`, and `text/csv` with a header.
Every input goes through the model's contract (`mleng.tracking.contract`) before the model sees
it, with one rule more than the contract: a column the model does not take is refused, naming
it (the pyfunc model ignores it; a service that silently drops a misspelt field hides a bug).

Small JSON requests are typed in plain Python (no pandas: a DataFrame costs a millisecond per
request); any value the fast reading is unsure of sends the request through the contract's
pandas code, which either accepts it or raises the contract's own message. Both readings give
the same arrays: categorical values become text the way pandas would make them (a column of
integers with a null is float64 in pandas, so `3` becomes "3.0" there and here).
"""

from __future__ import annotations

import io
import json
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pandas as pd
from mlflow.exceptions import MlflowException

from mleng.tracking import contract

JSON_FORMATS = ("dataframe_records", "dataframe_split")
_EXACT_INT = 2**53


class RequestError(Exception):
    """A request the service refuses: `status` is the HTTP status, `message` says what to fix."""

    def __init__(self, status: int, message: str, field: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Limits:
    """Bounds on one request: beyond them a 413, before any parsing work is spent."""

    max_rows: int = 10_000
    max_body_bytes: int = 20_000_000


@dataclass(frozen=True)
class ModelInputs:
    """Typed inputs in contract column order: float64 numerics (NaN missing) and text
    categoricals (NaN missing), plus the rows as JSON-able dicts for the prediction log."""

    numeric: np.ndarray
    categorical: np.ndarray
    records: list[dict[str, Any]]

    @property
    def n_rows(self) -> int:
        return len(self.records)


def read_body(body: bytes, content_type: str, limits: Limits) -> list[dict[str, Any]]:
    """The request's rows as dicts, or a RequestError naming what is wrong with the body."""
    if len(body) > limits.max_body_bytes:
        raise RequestError(
            413, f"the body is {len(body)} bytes; the limit is {limits.max_body_bytes}"
        )
    media = content_type.split(";", 1)[0].strip().lower()
    if media in ("text/csv", "application/csv"):
        rows = read_csv_rows(body)
    elif media in ("application/json", ""):
        rows = read_json_rows(body)
    else:
        raise RequestError(
            415, f"content type {media!r} is not accepted; send application/json or text/csv"
        )
    if not rows:
        raise RequestError(400, "the request holds no rows to score")
    if len(rows) > limits.max_rows:
        raise RequestError(
            413,
            f"the request holds {len(rows)} rows; the limit is {limits.max_rows}: split it",
        )
    return rows


def read_json_rows(body: bytes) -> list[dict[str, Any]]:
    lenient = False
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        try:  # NaN and Infinity are not JSON, but Python clients send them: name them later
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError) as error:
            raise RequestError(400, f"the body is not valid JSON: {error}") from error
        except RecursionError as error:
            raise RequestError(400, "the body nests arrays or objects too deeply") from error
        lenient = True
    if not isinstance(document, dict) or len(set(document) & set(JSON_FORMATS)) != 1:
        keys = sorted(document) if isinstance(document, dict) else type(document).__name__
        raise RequestError(
            400,
            f"the JSON body must hold exactly one of {list(JSON_FORMATS)}; got {keys}",
        )
    if "dataframe_records" in document:
        rows = _records(document["dataframe_records"])
    else:
        rows = _split_rows(document["dataframe_split"])
    if lenient:  # orjson refuses a lone surrogate ("\\ud800"); json keeps it, nothing can encode it
        _refuse_lone_surrogates(rows)
    return rows


def _refuse_lone_surrogates(rows: list[dict[str, Any]]) -> None:
    for position, row in enumerate(rows):
        for column, value in row.items():
            for text in (column, value):
                if isinstance(text, str) and not _is_unicode(text):
                    raise RequestError(
                        400,
                        f"row {position}, column {column!r}: {text[:80]!r} is not valid Unicode "
                        "text (a lone surrogate escape); send UTF-8 text",
                        column if _is_unicode(column) else None,
                    )


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _records(records: Any) -> list[dict[str, Any]]:
    if isinstance(records, dict):
        records = [records]
    if not isinstance(records, list):
        raise RequestError(400, "dataframe_records must be a list of objects (one per row)")
    for position, row in enumerate(records):
        if not isinstance(row, dict):
            raise RequestError(
                400, f"dataframe_records row {position} is {type(row).__name__}, not an object"
            )
    return records


def _split_rows(split: Any) -> list[dict[str, Any]]:
    if not isinstance(split, dict) or not isinstance(split.get("columns"), list):
        raise RequestError(400, 'dataframe_split must be {"columns": [...], "data": [[...]]}')
    columns, data = split["columns"], split.get("data", [])
    if not all(isinstance(column, str) for column in columns):
        raise RequestError(400, "dataframe_split columns must be strings")
    if len(set(columns)) != len(columns):
        raise RequestError(400, "dataframe_split names a column more than once")
    if not isinstance(data, list):
        raise RequestError(400, "dataframe_split data must be a list of rows")
    rows = []
    for position, values in enumerate(data):
        if not isinstance(values, list) or len(values) != len(columns):
            raise RequestError(
                400,
                f"dataframe_split row {position} must be a list of {len(columns)} values, "
                "one per column",
            )
        rows.append(dict(zip(columns, values, strict=True)))
    return rows


def read_csv_rows(body: bytes) -> list[dict[str, Any]]:
    """CSV as MLflow's scoring server reads it: `pd.read_csv`, so types are pandas' guesses."""
    try:
        frame = pd.read_csv(io.BytesIO(body))
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as error:
        raise RequestError(400, f"the CSV body cannot be parsed: {error}") from error
    if frame.columns.duplicated().any():
        raise RequestError(400, "the CSV header names a column more than once")
    return [_plain_row(row) for row in frame.to_dict(orient="records")]


def _plain_row(row: dict[Any, Any]) -> dict[str, Any]:
    return {str(key): _plain(value) for key, value in row.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def type_rows(
    rows: list[dict[str, Any]], numeric_columns: list[str], categorical_columns: list[str]
) -> ModelInputs:
    """The rows typed for the model, or a RequestError (400) naming the column and the row."""
    columns = [*numeric_columns, *categorical_columns]
    expected = set(columns)
    for position, row in enumerate(rows):
        if len(row) == len(columns) and all(column in row for column in columns):
            continue
        extra = [key for key in row if key not in expected]
        if extra:
            raise RequestError(
                400,
                f"row {position} holds column(s) {extra} the model does not take; send only "
                f"the model's columns: {columns}",
                field=str(extra[0]),
            )
        missing = [column for column in columns if column not in row]
        raise RequestError(
            400,
            f"row {position} lacks column(s) {missing}; every model column is required "
            "(send null for a missing value)",
            field=missing[0],
        )
    typed = _type_plainly(rows, numeric_columns, categorical_columns)
    if typed is None:
        typed = _type_with_contract(rows, numeric_columns, categorical_columns)
    numeric, categorical = typed
    return ModelInputs(numeric, categorical, rows)


def _type_with_contract(
    rows: list[dict[str, Any]], numeric_columns: list[str], categorical_columns: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    _refuse_nested(rows, numeric_columns, categorical_columns)
    try:
        frame = contract.validate_rows(
            pd.DataFrame.from_records(rows), numeric_columns, categorical_columns
        )
    except MlflowException as error:
        named = re.match(r"column '([^']+)'", error.message)
        raise RequestError(400, error.message, named.group(1) if named else None) from error
    numeric = frame[numeric_columns].to_numpy(dtype="float64").reshape(len(frame), -1)
    categorical = frame[categorical_columns].to_numpy(dtype=object).reshape(len(frame), -1)
    return numeric, categorical


def _refuse_nested(
    rows: list[dict[str, Any]], numeric_columns: list[str], categorical_columns: list[str]
) -> None:
    """A JSON object or array as a value is refused, naming the column and the first row: the
    contract would score a categorical one as the text of its repr, and a deep one overflows
    repr, pandas and the log's encoder."""
    for column in [*numeric_columns, *categorical_columns]:
        nested = [at for at, row in enumerate(rows) if isinstance(row[column], (dict, list))]
        if nested:
            kind = ("numbers", "a number") if column in numeric_columns else ("text", "text")
            value = "an object" if isinstance(rows[nested[0]][column], dict) else "an array"
            raise RequestError(
                400,
                f"column {column!r} must hold {kind[0]} or nulls; got {value}, a nested JSON "
                f"value that is not {kind[1]}, in {len(nested)} of {len(rows)} row(s) (first at "
                f"row {nested[0]})",
                field=column,
            )


def _type_plainly(
    rows: list[dict[str, Any]], numeric_columns: list[str], categorical_columns: list[str]
) -> tuple[np.ndarray, np.ndarray] | None:
    """Plain-Python typing of JSON values, or None when pandas must decide (or refuse)."""
    n_rows = len(rows)
    numeric = np.empty((n_rows, len(numeric_columns)), dtype="float64")
    for index, column in enumerate(numeric_columns):
        for position, row in enumerate(rows):
            if column not in row:
                return None
            value = row[column]
            if value is None:
                numeric[position, index] = np.nan
            elif type(value) is float:
                if math.isinf(value):
                    return None
                numeric[position, index] = value
            elif type(value) is int and abs(value) <= _EXACT_INT:
                numeric[position, index] = value
            elif type(value) is int:
                raise _too_big(column, [row.get(column) for row in rows])
            else:
                return None
    categorical = np.empty((n_rows, len(categorical_columns)), dtype=object)
    for index, column in enumerate(categorical_columns):
        values = []
        for row in rows:
            if column not in row:
                return None
            values.append(row[column])
        texts = _texts_as_pandas_would(values)
        if texts is None:
            return None
        categorical[:, index] = texts
    return numeric, categorical


def _too_big(column: str, values: list[Any]) -> RequestError:
    """pandas would silently turn such integers into floats beside a null: refuse them here."""
    big = [i for i, v in enumerate(values) if type(v) is int and abs(v) > _EXACT_INT]
    return RequestError(
        400,
        f"column {column!r} must hold numbers or nulls; got {values[big[0]]!r}, an integer "
        f"beyond 2**53, which float64 cannot represent exactly, in {len(big)} of {len(values)} "
        f"row(s) (first at row {big[0]})",
        column,
    )


def _texts_as_pandas_would(values: list[Any]) -> list[Any] | None:
    """`str` of each value as `Series(values).astype(str)` gives it, NaN for nulls.

    Strings stay; a column of numbers is int64 or float64 in pandas (float64 as soon as one is a
    float or a null), which decides between "3" and "3.0". Anything else: None (pandas decides).
    """
    kinds = {type(value) for value in values if value is not None}
    has_null = len(kinds) < len({type(value) for value in values})
    nan = np.nan
    if kinds <= {str}:
        return [nan if value is None else value for value in values]
    if kinds == {int} and not has_null:
        return [str(value) for value in values]
    if kinds <= {int, float}:
        if any(type(v) is float and not math.isfinite(v) for v in values if v is not None):
            return None
        return [nan if value is None else str(float(value)) for value in values]
    return None
