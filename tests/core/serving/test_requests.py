"""Request bodies to model inputs: the plain-Python reading agrees with the contract's pandas
reading, and every refusal names the column (and the row)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from mleng.serving.requests import Limits, RequestError, read_body, type_rows
from mleng.tracking import contract

NUMERIC = ["age", "hours"]
CATEGORICAL = ["job", "code"]
LIMITS = Limits(max_rows=5, max_body_bytes=2_000)


def rows_with(**values) -> list[dict]:
    row = {"age": 30, "hours": 40.5, "job": "clerk", "code": 7} | values
    return [row, {"age": None, "hours": 1, "job": None, "code": 8}]


def contract_arrays(rows: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    frame = contract.validate_rows(pd.DataFrame.from_records(rows), NUMERIC, CATEGORICAL)
    return frame[NUMERIC].to_numpy("float64"), frame[CATEGORICAL].to_numpy(object)


def same_values(left: np.ndarray, right: np.ndarray) -> bool:
    flat = zip(left.ravel().tolist(), right.ravel().tolist(), strict=True)
    return all(
        (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))
        or a == b
        for a, b in flat
    )


@pytest.mark.parametrize(
    "rows",
    [
        rows_with(),
        rows_with(code=7.0),
        rows_with(code=None),
        rows_with(code="007"),
        rows_with(job=3, code=True),
        rows_with(age=2**53),
        [
            {"age": 1, "hours": 2, "job": "a", "code": 1},
            {"age": 3, "hours": 4, "job": "b", "code": 2},
        ],
    ],
)
def test_plain_typing_gives_the_contract_typing(rows):
    inputs = type_rows(rows, NUMERIC, CATEGORICAL)
    numeric, categorical = contract_arrays(rows)
    assert inputs.numeric.dtype == np.float64
    assert same_values(inputs.numeric, numeric)
    assert same_values(inputs.categorical, categorical)


def test_integer_codes_with_a_null_become_float_text_as_pandas_makes_them():
    inputs = type_rows(rows_with(code=None)[::-1] + rows_with(), NUMERIC, CATEGORICAL)
    assert inputs.categorical[:, 1].tolist()[:1] == ["8.0"]


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("40", "a number sent as text"),
        ("forty", "text that is not a number"),
        (True, "a boolean"),
        (float("inf"), "an infinite number"),
        (2**60, "beyond 2**53"),
        ({"nested": 1}, "not a number"),
    ],
)
def test_a_refused_numeric_value_names_the_column_and_the_row(value, says):
    rows = rows_with()[::-1] + [{"age": value, "hours": 1, "job": "x", "code": 1}]
    with pytest.raises(RequestError) as refused:
        type_rows(rows, NUMERIC, CATEGORICAL)
    assert refused.value.status == 400
    assert refused.value.field == "age"
    assert says in refused.value.message and "row 2" in refused.value.message


def test_a_missing_or_extra_column_is_refused_naming_it_and_the_row():
    rows = rows_with()
    del rows[1]["hours"]
    with pytest.raises(RequestError, match=r"row 1 lacks column\(s\) \['hours'\]"):
        type_rows(rows, NUMERIC, CATEGORICAL)
    with pytest.raises(RequestError, match=r"row 0 holds column\(s\) \['salary'\]") as extra:
        type_rows(rows_with(salary=1), NUMERIC, CATEGORICAL)
    assert extra.value.field == "salary"


def test_records_split_and_csv_bodies_give_the_same_rows():
    rows = [{"age": 30, "hours": 40.5, "job": "clerk", "code": 7}]
    records = json.dumps({"dataframe_records": rows}).encode()
    split = json.dumps(
        {"dataframe_split": {"columns": list(rows[0]), "data": [list(rows[0].values())]}}
    ).encode()
    csv = b"age,hours,job,code\n30,40.5,clerk,7\n"
    assert read_body(records, "application/json", LIMITS) == rows
    assert read_body(split, "application/json; charset=utf-8", LIMITS) == rows
    assert read_body(csv, "text/csv", LIMITS) == rows


def test_nan_and_infinity_literals_are_read_then_judged_by_the_contract():
    body = b'{"dataframe_records": [{"age": NaN, "hours": Infinity, "job": "a", "code": 1}]}'
    rows = read_body(body, "application/json", LIMITS)
    assert math.isnan(rows[0]["age"])
    with pytest.raises(RequestError, match="'hours'.*infinite"):
        type_rows(rows, NUMERIC, CATEGORICAL)


@pytest.mark.parametrize(
    ("body", "content_type", "status", "says"),
    [
        (b"{not json", "application/json", 400, "not valid JSON"),
        (b'{"rows": []}', "application/json", 400, "exactly one of"),
        (b'{"dataframe_records": []}', "application/json", 400, "no rows"),
        (b'{"dataframe_records": [1]}', "application/json", 400, "row 0 is int"),
        (
            b'{"dataframe_split": {"columns": ["a"], "data": [[1, 2]]}}',
            "application/json",
            400,
            "row 0 must be a list of 1",
        ),
        (b"a\n1\n", "text/plain", 415, "text/plain"),
        (b'{"dataframe_records": [' + b'{"a": 1},' * 5 + b'{"a": 1}]}', "", 413, "6 rows"),
        (b" " * 2_001, "application/json", 413, "2001 bytes"),
    ],
)
def test_a_malformed_body_is_refused_with_its_status(body, content_type, status, says):
    with pytest.raises(RequestError) as refused:
        read_body(body, content_type, LIMITS)
    assert refused.value.status == status
    assert says in refused.value.message
