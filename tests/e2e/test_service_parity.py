"""`mleng serve` answers what `mlflow models serve` answers, for one registered version.

One real Adult version is registered (with its serving facts: the ONNX fast path when exact) and
served by both, as real processes on free local ports: `mleng serve` from the champion alias and
`mlflow models serve -m models:/NAME/VERSION --env-manager local`. Fifty real test rows, a third
with missing values, go to both as JSON records, JSON split and CSV: labels must be identical and
probabilities equal within 1e-9 (1e-6, the registration check's bound, when the version is
served through ONNX). A body the contract refuses is refused by both.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from mleng.serving.served_model import FAST_PATH_TAG
from mleng.tracking import registry
from tests.core.tracking.process_helpers import free_port, running, venv_env
from tests.serving_helpers import (
    NAME,
    adult_split,
    fit_adult_model,
    register_adult_version,
    serve,
    tracking_store,
)

pytestmark = pytest.mark.slow

N_ROWS = 50
CLASSES = ["<=50K", ">50K"]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Both services on one version; MLflow's URIs are restored and both processes stopped."""
    folder = tmp_path_factory.mktemp("service-parity")
    split = adult_split(n_train=1500, n_test=500)
    before = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", "")
        uri = tracking_store(folder)
        try:
            client = MlflowClient()
            version = register_adult_version(client, fit_adult_model(split), split)
            registry.move_champion(client, NAME, version, "test_service_parity")
            fast_path = client.get_model_version(NAME, version).tags[FAST_PATH_TAG]
            port = free_port()
            args = [
                *("mlflow", "models", "serve", "-m", f"models:/{NAME}/{version}"),
                *("--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)),
            ]
            env = venv_env(MLFLOW_TRACKING_URI=uri)
            ping = f"http://127.0.0.1:{port}/ping"
            with running(args, ping, folder / "mlflow-serve.log", env), serve(folder, uri) as ours:
                yield {
                    "mlflow": f"http://127.0.0.1:{port}/invocations",
                    "mleng": ours,
                    "version": version,
                    "fast_path": fast_path,
                    "rows": parity_rows(split.test_x),
                }
        finally:
            mlflow.set_tracking_uri(before[0])
            mlflow.set_registry_uri(before[1])


def parity_rows(test_x: pd.DataFrame) -> pd.DataFrame:
    """`N_ROWS` real test rows in a fixed shuffled order, a third of them with missing values."""
    missing = test_x[test_x.isna().any(axis=1)].head(N_ROWS // 3)
    complete = test_x[test_x.notna().all(axis=1)].head(N_ROWS - len(missing))
    return pd.concat([missing, complete]).sample(frac=1, random_state=1).reset_index(drop=True)


def bodies(rows: pd.DataFrame) -> dict[str, tuple[bytes, str]]:
    """The same rows as each request kind: (body, content type)."""
    split = json.loads(rows.to_json(orient="split", index=False))
    return {
        "records": (
            json.dumps({"dataframe_records": json.loads(rows.to_json(orient="records"))}).encode(),
            "application/json",
        ),
        "split": (json.dumps({"dataframe_split": split}).encode(), "application/json"),
        "csv": (rows.to_csv(index=False).encode(), "text/csv"),
    }


def post(url: str, body: bytes, content_type: str, key: str | None = None) -> tuple[int, Any]:
    headers = {"Content-Type": content_type}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def from_mlflow(served, body: bytes, content_type: str) -> tuple[list[str], np.ndarray]:
    status, answer = post(served["mlflow"], body, content_type)
    assert status == 200, answer
    frame = pd.DataFrame(answer["predictions"])
    columns = [f"probability_{label}" for label in CLASSES]
    return frame["prediction"].tolist(), frame[columns].to_numpy(dtype="float64")


def from_mleng(served, body: bytes, content_type: str) -> tuple[list[str], np.ndarray]:
    ours = served["mleng"]
    status, answer = post(f"{ours.url}/predict", body, content_type, ours.keys["predict"])
    assert status == 200, answer
    assert answer["model_version"] == served["version"]
    probabilities = [[row[label] for label in CLASSES] for row in answer["probabilities"]]
    return answer["predictions"], np.asarray(probabilities, dtype="float64")


def test_the_rows_are_real_and_hold_missing_values(served):
    rows = served["rows"]
    assert len(rows) == N_ROWS and rows.isna().any(axis=1).sum() == N_ROWS // 3


@pytest.mark.parametrize("kind", ["records", "split", "csv"])
def test_both_services_give_the_same_labels_and_probabilities(served, kind):
    body, content_type = bodies(served["rows"])[kind]
    labels, probabilities = from_mlflow(served, body, content_type)
    our_labels, our_probabilities = from_mleng(served, body, content_type)
    tolerance = 1e-6 if served["fast_path"] == "onnx" else 1e-9
    difference = float(np.max(np.abs(our_probabilities - probabilities)))
    print(f"{kind}: fast path {served['fast_path']}, max |dp| {difference:.2e}")
    assert our_labels == labels
    assert difference <= tolerance
    assert set(labels) == set(CLASSES)  # both classes among the 50 answers


def test_every_body_kind_gives_mlflow_the_same_answer(served):
    """The three bodies are the same rows: MLflow (the reference) agrees with itself too."""
    answers = [from_mlflow(served, *pair) for pair in bodies(served["rows"]).values()]
    for labels, probabilities in answers[1:]:
        assert labels == answers[0][0]
        np.testing.assert_allclose(probabilities, answers[0][1], rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("change", "column"),
    [
        (lambda rows: rows.astype({"age": object}).assign(age=["forty", *rows["age"][1:]]), "age"),
        (lambda rows: rows.drop(columns=["education"]), "education"),
    ],
    ids=["numeric text", "missing column"],
)
@pytest.mark.parametrize("kind", ["records", "split", "csv"])
def test_a_body_both_refuse_gets_a_4xx_from_both(served, kind, change, column):
    body, content_type = bodies(change(served["rows"]))[kind]
    status, answer = post(served["mlflow"], body, content_type)
    assert 400 <= status < 500 and column in answer["message"], answer
    ours = served["mleng"]
    status, answer = post(f"{ours.url}/predict", body, content_type, ours.keys["predict"])
    assert 400 <= status < 500 and f"'{column}'" in answer["error"]["message"], answer
