"""The contract through a real `mlflow models serve --env-manager local` process.

A small real Adult pipeline with a tuned threshold is logged with `log_model_contract`,
registered and aliased `champion` in a sqlite store, then served from `models:/NAME@champion`
on a free local port. JSON (`dataframe_split`, `dataframe_records`) and `text/csv` requests
must answer exactly what the model answers in-process.
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

from mleng.tracking import contract, registry
from tests.core.tracking.contract_helpers import (
    EMPTY_IN_FIRST_ROWS,
    POSITIVE,
    THRESHOLD,
    adult_rows,
    fit_pipeline,
    fit_thresholded,
    json_records,
    json_split,
    log_to_store,
    mixed_rows,
    store_uri,
)
from tests.core.tracking.process_helpers import free_port, running, venv_env
from tests.helpers import ADULT_CATEGORICAL

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


def _in_process(served, rows: pd.DataFrame) -> pd.DataFrame:
    pyfunc = served["pyfunc"]
    out = pyfunc.predict(contract.conform_rows(rows, pyfunc.metadata.get_input_schema()))
    return out.reset_index(drop=True)


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
    status, answer = _post(served["url"], rows.to_csv(index=False), "text/csv")
    assert status == 200, answer
    _assert_same(_predictions(answer), _in_process(served, rows))


def test_served_label_is_the_thresholded_probability(served):
    rows = mixed_rows(served["requests"])
    _, answer = _post_json(served["url"], {"dataframe_split": json_split(rows)})
    out = _predictions(answer)
    np.testing.assert_allclose(out[PROBABILITIES].sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(
        out["prediction"] == POSITIVE, out["probability_>50K"] >= THRESHOLD
    )
    as_trained = contract.missing_as_nan(rows, ADULT_CATEGORICAL)
    np.testing.assert_array_equal(out["prediction"], served["model"].predict(as_trained))


def test_categorical_empty_in_first_training_rows_takes_strings_and_nulls(served):
    rows = mixed_rows(served["requests"])
    rows[EMPTY_IN_FIRST_ROWS] = ["Tech-support", None, "Sales", None, *["Craft-repair"] * 4]
    for payload in (
        {"dataframe_split": json_split(rows)},
        {"dataframe_records": json_records(rows)},
    ):
        status, answer = _post_json(served["url"], payload)
        assert status == 200, answer
        _assert_same(_predictions(answer), _in_process(served, rows))


@pytest.mark.parametrize(("column", "text"), [("age", "forty"), ("hours-per-week", "40h")])
def test_numeric_text_is_refused_in_json_naming_column_and_value(served, column, text):
    rows = mixed_rows(served["requests"])
    rows.loc[1, column] = text
    for payload in (
        {"dataframe_records": json_records(rows)},
        {"dataframe_split": json_split(rows)},
    ):
        status, answer = _post_json(served["url"], payload)
        assert status == 400
        assert f"column {column}" in answer["message"] and repr(text) in answer["message"]


def test_numeric_text_is_refused_in_csv(served):
    """MLflow parses CSV with the signature's dtypes before the model runs: pandas's error names
    the value, not the column (MLflow 3.17)."""
    rows = mixed_rows(served["requests"])
    rows.loc[1, "hours-per-week"] = "40h"
    status, answer = _post(served["url"], rows.to_csv(index=False), "text/csv")
    assert status == 400
    assert "'40h'" in answer["message"]


def test_a_missing_column_is_refused_naming_it(served):
    rows = served["requests"].drop(columns=["education"])
    status, answer = _post_json(served["url"], {"dataframe_split": json_split(rows)})
    assert status == 400
    assert "education" in answer["message"]
