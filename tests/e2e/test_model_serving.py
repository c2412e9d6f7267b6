"""The contract through a real `mlflow models serve --env-manager local` process.

A small real Adult pipeline with a tuned threshold is logged with `log_model_contract`,
registered and aliased `champion` in a sqlite store, then served from `models:/NAME@champion`
on a free local port. JSON (`dataframe_split`, `dataframe_records`) and `text/csv` requests
must answer exactly what the model answers in-process, and be refused with the message the
model raises in-process (HTTP 400) when they break the contract.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mleng.tracking import registry
from tests.core.tracking.contract_helpers import (
    EMPTY_IN_FIRST_ROWS,
    POSITIVE,
    THRESHOLD,
    adult_rows,
    csv_rows,
    fit_pipeline,
    fit_thresholded,
    json_records,
    json_split,
    log_to_store,
    mixed_rows,
    native_frame,
    store_uri,
)
from tests.core.tracking.process_helpers import free_port, running, venv_env

pytestmark = pytest.mark.slow

NAME = "adult-serving"
PROBABILITIES = ["probability_<=50K", "probability_>50K"]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The champion served on 127.0.0.1; the process group is stopped however the tests end."""
    folder = tmp_path_factory.mktemp("serving")
    features, target, requests = adult_rows()
    model = fit_thresholded(fit_pipeline(features, target), features, target)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", store_uri(folder))
        uri = log_to_store(folder, {"champion": model}, features)["champion"]
        client = MlflowClient()
        run_id = mlflow.models.get_model_info(uri).run_id
        version = registry.register_version(client, uri, NAME, run_id, {})
        registry.set_alias(client, NAME, registry.CHAMPION, version)
        alias_uri = f"models:/{NAME}@{registry.CHAMPION}"
        pyfunc = mlflow.pyfunc.load_model(alias_uri)
        port = free_port()
        args = [
            *("mlflow", "models", "serve", "-m", alias_uri, "--env-manager", "local"),
            *("-h", "127.0.0.1", "-p", str(port)),
        ]
        env = venv_env(MLFLOW_TRACKING_URI=store_uri(folder))
        started = time.monotonic()
        with running(args, f"http://127.0.0.1:{port}/ping", folder / "serve.log", env):
            print(f"model server ready in {time.monotonic() - started:.1f} s")
            yield {
                "url": f"http://127.0.0.1:{port}/invocations",
                "pyfunc": pyfunc,
                "model": model,
                "requests": requests,
                "folder": folder,
            }


def _post(url: str, body: str, content_type: str) -> tuple[int, Any]:
    request = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": content_type}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _post_json(url: str, payload: dict[str, Any]) -> tuple[int, Any]:
    return _post(url, json.dumps(payload), "application/json")


def _predictions(answer: Any) -> pd.DataFrame:
    return pd.DataFrame(answer["predictions"])


def _post_csv(url: str, rows: pd.DataFrame) -> tuple[int, Any]:
    return _post(url, rows.to_csv(index=False), "text/csv")


def _in_process(served, rows: pd.DataFrame) -> pd.DataFrame:
    return served["pyfunc"].predict(rows).reset_index(drop=True)


def _in_process_refusal(served, rows: pd.DataFrame) -> str:
    with pytest.raises(MlflowException) as caught:
        served["pyfunc"].predict(rows)
    return caught.value.message


def _payloads(rows: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """The same rows as each request kind: body and content type."""
    return {
        "dataframe_split": (json.dumps({"dataframe_split": json_split(rows)}), "application/json"),
        "dataframe_records": (
            json.dumps({"dataframe_records": json_records(rows)}),
            "application/json",
        ),
        "csv": (rows.to_csv(index=False), "text/csv"),
    }


def _assert_same(answer: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert list(answer.columns) == ["prediction", *PROBABILITIES]
    pd.testing.assert_frame_equal(answer, expected, check_exact=False, rtol=1e-12, atol=0)


def test_json_split_with_ints_floats_and_nulls_matches_in_process(served):
    rows = mixed_rows(served["requests"])
    status, answer = _post_json(served["url"], {"dataframe_split": json_split(rows)})
    assert status == 200, answer
    _assert_same(_predictions(answer), _in_process(served, rows))


def test_json_records_with_plain_ints_matches_in_process(served):
    rows = served["requests"]  # every numeric column int64: JSON ints
    payload = {"dataframe_records": json_records(rows)}
    assert isinstance(payload["dataframe_records"][0]["age"], int)
    status, answer = _post_json(served["url"], payload)
    assert status == 200, answer
    _assert_same(_predictions(answer), _in_process(served, rows))


def test_csv_matches_in_process(served):
    rows = mixed_rows(served["requests"])
    status, answer = _post_csv(served["url"], rows)
    assert status == 200, answer
    _assert_same(_predictions(answer), _in_process(served, rows))


def test_every_request_kind_of_read_csv_rows_matches_in_process_and_the_estimator(served):
    """int64, float64 and NaN columns straight from `pd.read_csv`."""
    rows = csv_rows(served["requests"], served["folder"])
    expected = _in_process(served, rows)
    _assert_same(expected, native_frame(served["model"], rows))
    for kind, (body, content_type) in _payloads(rows).items():
        status, answer = _post(served["url"], body, content_type)
        assert status == 200, (kind, answer)
        _assert_same(_predictions(answer), expected)


def test_served_label_is_the_thresholded_probability(served):
    rows = mixed_rows(served["requests"])
    _, answer = _post_json(served["url"], {"dataframe_split": json_split(rows)})
    out = _predictions(answer)
    np.testing.assert_allclose(out[PROBABILITIES].sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(
        out["prediction"] == POSITIVE, out["probability_>50K"] >= THRESHOLD
    )
    np.testing.assert_array_equal(out["prediction"], served["model"].predict(rows))


def test_categorical_empty_in_first_training_rows_takes_strings_and_nulls(served):
    rows = mixed_rows(served["requests"])
    rows[EMPTY_IN_FIRST_ROWS] = ["Tech-support", None, "Sales", None, *["Craft-repair"] * 4]
    for values in (rows[EMPTY_IN_FIRST_ROWS].tolist(), [None] * len(rows)):
        rows[EMPTY_IN_FIRST_ROWS] = values
        expected = _in_process(served, rows)
        # All null in CSV: the server's pd.read_csv makes it a float64 column of NaN.
        for kind, (body, content_type) in _payloads(rows).items():
            status, answer = _post(served["url"], body, content_type)
            assert status == 200, (kind, answer)
            _assert_same(_predictions(answer), expected)


@pytest.mark.parametrize(("column", "text"), [("age", "forty"), ("hours-per-week", "40h")])
def test_numeric_text_is_refused_naming_column_and_value(served, column, text):
    """JSON and CSV alike get the model's own message: the column, the value, the row count."""
    rows = mixed_rows(served["requests"])
    rows.loc[1, column] = text
    message = _in_process_refusal(served, rows)
    assert f"column {column!r}" in message and f"got {text!r}" in message, message
    assert "in 1 of 8 row(s) (first at row 1)" in message, message
    for kind, (body, content_type) in _payloads(rows).items():
        status, answer = _post(served["url"], body, content_type)
        assert status == 400, (kind, answer)
        assert answer["error_code"] == "INVALID_PARAMETER_VALUE", (kind, answer)
        assert message in answer["message"], (kind, answer)


@pytest.mark.parametrize(
    ("kind", "value", "why"),
    [
        ("dataframe_records", True, "a boolean"),
        ("dataframe_split", "40", "a number sent as text"),
        ("csv", np.inf, "an infinite number"),
    ],
)
def test_booleans_quoted_numbers_and_infinity_are_refused(served, kind, value, why):
    rows = mixed_rows(served["requests"])
    rows.at[3, "capital-loss"] = value
    body, content_type = _payloads(rows)[kind]
    status, answer = _post(served["url"], body, content_type)
    assert status == 400, answer
    assert (
        f"column 'capital-loss' must hold numbers or nulls; got {value!r}, {why}"
        in (answer["message"])
    )


def test_a_missing_column_is_refused_naming_it(served):
    rows = served["requests"].drop(columns=["education"])
    message = _in_process_refusal(served, rows)
    assert "lack the model's column(s) ['education']" in message, message
    for kind, (body, content_type) in _payloads(rows).items():
        status, answer = _post(served["url"], body, content_type)
        assert status == 400, (kind, answer)
        assert message in answer["message"], (kind, answer)
