"""The strategies through a real `mleng serve` process and real HTTP: shadow, canary (sticky, rolled
back on its own), bandit, holdout, single with rollback, and the CLI around them (deploy,
rollback, ab-test, export)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pandas as pd
import pytest
from mlflow import MlflowClient

from mleng.serving.keys import create_key
from mleng.serving.prediction_log import PredictionLog
from mleng.tracking import registry
from tests.helpers import ROOT
from tests.serving_helpers import (
    NAME,
    adult_split,
    fit_adult_model,
    fit_broken_model,
    register_adult_version,
    request_rows,
    serve,
    tracking_store,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """v1 (logistic regression) champion, v2 (gradient boosting) challenger, served."""
    folder = tmp_path_factory.mktemp("strategies")
    uri = tracking_store(folder)
    client = MlflowClient()
    split = adult_split(n_train=1500, n_test=400)
    first = register_adult_version(client, fit_adult_model(split, "logistic_regression"), split)
    registry.move_champion(client, NAME, first, "test")
    second = register_adult_version(client, fit_adult_model(split, "hist_gradient_boosting"), split)
    registry.set_alias(client, NAME, registry.CHALLENGER, second)
    broken = register_adult_version(client, fit_broken_model(split), split)
    with serve(folder, uri) as running:
        running.split = split
        running.folder = folder
        running.tracking_uri = uri
        running.versions = (first, second)
        running.broken = broken
        yield running


def callers(service, n: int) -> list[str]:
    """`n` more predict keys: each is a caller of its own for sticky routing."""
    keys = [create_key(service.folder / "keys.json", "predict")[1] for _ in range(n)]
    time.sleep(1.2)  # the service re-reads the key file at most once a second
    return keys


def set_strategy(service, **strategy) -> dict:
    status, body = service.call("POST", "/admin/strategy", strategy, role="admin")
    assert status == 200, body
    return body


def predict(service, rows, key=None) -> dict:
    status, body = service.call("POST", "/predict", {"dataframe_records": rows}, key=key)
    assert status == 200, body
    return body


def feedback(service, request_id: str, reward: float) -> None:
    status, body = service.call(
        "POST", "/feedback", {"request_id": request_id, "reward": reward}, role="feedback"
    )
    assert status == 200, body


def logged(service) -> pd.DataFrame:
    with PredictionLog(service.log_url) as log:
        return log.read_predictions(NAME, served_only=False)


def mleng(service, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLFLOW_TRACKING_URI": service.tracking_uri, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "mleng.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )


def test_shadow_answers_with_the_champion_and_logs_the_challengers_answer_beside_it(service):
    first, second = service.versions
    set_strategy(service, kind="shadow")
    answer = predict(service, request_rows(service.split, 3))
    assert (answer["model_version"], answer["arm"]) == (first, "champion")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        records = logged(service)
        mine = records[records["request_id"] == answer["request_id"]]
        if len(mine) == 2:
            break
        time.sleep(0.2)
    shadow = mine[~mine["served"].astype(bool)].iloc[0]
    assert (shadow["model_version"], shadow["arm"]) == (second, "shadow")
    assert len(shadow["outputs"]["predictions"]) == 3


def test_bandit_shifts_traffic_to_the_version_that_earns_rewards(service):
    first, second = service.versions
    set_strategy(service, kind="bandit")
    served = []
    for position in range(160):
        answer = predict(service, request_rows(service.split, 1, start=position % 300))
        served.append(answer["model_version"])
        feedback(service, answer["request_id"], 1.0 if answer["model_version"] == second else 0.1)
    assert served[-60:].count(second) >= 50
    assert first in served  # both arms were explored


def test_canary_keeps_each_caller_on_one_side_and_ends_itself_when_the_challenger_loses(service):
    first, second = service.versions
    set_strategy(service, kind="canary", fraction=0.5, min_requests=8, max_reward_drop=0.2)
    keys = callers(service, 24)
    rows = request_rows(service.split, 1, start=5)
    sides = {}
    for key in keys:
        answers = {predict(service, rows, key)["model_version"] for _ in range(2)}
        assert len(answers) == 1  # sticky: the same caller always gets the same version
        sides[key] = answers.pop()
    assert set(sides.values()) == {first, second}
    for _ in range(2):
        for key, version in sides.items():
            answer = predict(service, request_rows(service.split, 1, start=len(key) % 50), key)
            feedback(service, answer["request_id"], 0.0 if version == second else 1.0)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status = service.call("GET", "/admin/status", role="admin")[1]
        if status["strategy"]["kind"] == "single":
            break
        time.sleep(0.25)
    assert status["strategy"]["kind"] == "single"
    assert "mean reward" in status["strategy"]["rolled_back"]
    # The service ends the canary in memory first, then writes the registry off the event loop:
    # the tag follows within the same deadline.
    client = MlflowClient(service.tracking_uri)
    while time.monotonic() < deadline:
        tags = client.get_registered_model(NAME).tags
        if json.loads(tags["mleng.serving.strategy"])["kind"] == "single":
            break
        time.sleep(0.25)
    assert json.loads(tags["mleng.serving.strategy"])["kind"] == "single"
    assert {predict(service, rows, key)["model_version"] for key in keys[:6]} == {first}


def test_a_challenger_answering_nan_is_never_served_and_its_canary_ends_itself(service):
    first, second = service.versions
    client = MlflowClient(service.tracking_uri)
    set_strategy(service, kind="canary", fraction=0.5, min_requests=5, version=service.broken)
    keys = callers(service, 30)
    rows = request_rows(service.split, 2, start=40)
    answers = [predict(service, rows, key) for key in keys]
    assert {a["model_version"] for a in answers} == {first}  # the champion answered for all
    status = service.call("GET", "/admin/status", role="admin")[1]
    deadline = time.monotonic() + 10
    while status["strategy"]["kind"] != "single" and time.monotonic() < deadline:
        time.sleep(0.25)
        status = service.call("GET", "/admin/status", role="admin")[1]
    assert "failed" in (status["strategy"]["rolled_back"] or "")
    _, metrics = service.call("GET", "/metrics", role="admin")
    assert (
        f'mleng_errors_total{{arm="challenger",kind="non_finite_output",model_version="{service.broken}"}}'
        in metrics
    )
    registry.set_alias(client, NAME, registry.CHALLENGER, second)


def test_held_out_callers_get_the_baseline_and_are_tagged_in_the_log(service):
    set_strategy(service, kind="single", holdout_fraction=0.5)
    keys = callers(service, 16)
    rows = request_rows(service.split, 2, start=20)
    answers = [predict(service, rows, key) for key in keys]
    held = [answer for answer in answers if answer["holdout"]]
    assert 0 < len(held) < len(answers)
    assert all(a["predictions"] == ["<=50K", "<=50K"] and a["model_version"] is None for a in held)
    assert abs(sum(held[0]["probabilities"][0].values()) - 1) < 1e-9
    records = logged(service).set_index("request_id")
    assert all(records.loc[a["request_id"], "holdout"] for a in held)
    set_strategy(service, kind="single", holdout_fraction=0.0)


def test_deploy_single_moves_the_champion_and_rollback_moves_it_back(service):
    first, second = service.versions
    result = mleng(service, "deploy", "--model", NAME, "--strategy", "single")
    assert result.returncode == 0, result.stderr
    assert wait_for_version(service, second)
    result = mleng(service, "rollback", "--model", NAME)
    assert result.returncode == 0, result.stderr
    assert f"champion v{second} -> v{first}" in result.stdout
    assert wait_for_version(service, first)


def test_the_cli_refuses_a_canary_without_a_challenger_and_changes_nothing(service):
    client = MlflowClient(service.tracking_uri)
    registry.set_alias(client, NAME, registry.CHALLENGER, service.versions[0])
    before = client.get_registered_model(NAME).tags
    result = mleng(service, "deploy", "--model", NAME, "--strategy", "canary", "--fraction", "0.1")
    assert result.returncode != 0
    assert "needs a challenger distinct from the champion" in result.stderr
    assert client.get_registered_model(NAME).tags == before
    registry.set_alias(client, NAME, registry.CHALLENGER, service.versions[1])


def test_ab_test_reports_each_arm_against_the_champion_with_always_valid_intervals(service):
    result = mleng(service, "ab-test", "--model", NAME, "--log", service.log_url)
    assert result.returncode == 0, result.stderr
    assert "always-valid" in result.stdout
    assert f"v{service.versions[1]}" in result.stdout


def test_an_exported_bundle_predicts_in_a_fresh_process(service, tmp_path):
    out = tmp_path / "bundle"
    result = mleng(service, "export", "--model", NAME, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert {"model", "requirements.txt", "README.md"} <= {p.name for p in out.iterdir()}
    rows = json.dumps(request_rows(service.split, 4))
    script = (
        "import json, sys, mlflow.pyfunc, pandas as pd; "
        f"m = mlflow.pyfunc.load_model({str(out / 'model')!r}); "
        f"print(m.predict(pd.DataFrame(json.loads({rows!r})))['prediction'].tolist())"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING")}
    loaded = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=clean,
        cwd=tmp_path,
        check=False,
    )
    assert loaded.returncode == 0, loaded.stderr
    served = predict(service, request_rows(service.split, 4))["predictions"]
    assert loaded.stdout.strip() == str(served)
    again = mleng(service, "export", "--model", NAME, "--out", str(out))
    assert again.returncode != 0 and "not empty" in again.stderr


def wait_for_version(service, version: str, seconds: float = 10) -> bool:
    rows = request_rows(service.split, 1)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predict(service, rows)["model_version"] == version:
            return True
        time.sleep(0.2)
    return False
