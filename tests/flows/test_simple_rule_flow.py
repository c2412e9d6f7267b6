"""A dataset where a one-column rule is as good as any model: the run reports the expected cost
of every decision maker, recommends the rule, and with `promotion.prefer_simple` registers the
rule itself, which `mlflow models serve` serves like any model."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from mleng.evaluation.lookup import LookupTable
from tests.core.tracking.process_helpers import free_port, running, venv_env
from tests.helpers import LOGISTIC_FAMILIES, write_card_with_suite

pytestmark = pytest.mark.slow

RATES = {"A": 0.1, "B": 0.3, "C": 0.7, "D": 0.9}
COSTS = {"false_positive": 1.0, "false_negative": 5.0, "unit": "EUR"}


def segment_frame(n: int, seed: int) -> pd.DataFrame:
    """`y` depends on `segment` alone; `noise`, `score` and `colour` carry nothing."""
    rng = np.random.default_rng(seed)
    segment = rng.choice(list(RATES), size=n)
    positive = rng.random(n) < np.vectorize(RATES.get)(segment)
    return pd.DataFrame(
        {
            "segment": segment,
            "colour": rng.choice(["red", "green", "blue"], size=n),
            "noise": rng.normal(size=n).round(3),
            "score": rng.integers(0, 100, size=n),
            "y": np.where(positive, "yes", "no"),
        }
    )


@pytest.fixture
def segment_card(isolated_store: Path) -> Path:
    data_path = isolated_store / "segments.csv"
    segment_frame(3000, seed=1).to_csv(data_path, index=False)
    search = {
        "budget": 2,
        "cv_folds": 3,
        "families": LOGISTIC_FAMILIES,
    }
    return write_card_with_suite(
        isolated_store,
        data_path,
        name="segments",
        target="y",
        positive_label="yes",
        model_name="segments",
        categorical_columns=["segment", "colour"],
        numeric_columns=["noise", "score"],
        expectations=str(isolated_store / "expectations" / "segments.json"),
        search=search,
        costs=COSTS,
        promotion={"allow_data_warnings": True, "prefer_simple": True},
        evaluation={"shift_permutations": 0, "human_performance": 0.75},
    )


def test_the_rule_is_recommended_registered_and_served_when_it_is_as_good_as_a_model(
    prefect_server, segment_card, isolated_store
):
    from flows.train import train

    summary = train(card_path=str(segment_card), seed=2, bootstrap_resamples=300)

    client = MlflowClient()
    run = client.get_run(summary.parent_run_id)
    metrics, tags = run.data.metrics, run.data.tags
    for name in ("test_expected_cost", "test_expected_cost_ci_low", "test_expected_cost_ci_high"):
        assert name in metrics
    assert metrics["test_expected_cost_ci_low"] <= metrics["test_expected_cost"]
    assert metrics["test_expected_cost"] <= metrics["test_expected_cost_ci_high"]
    for baseline in ("zero_rule", "random", "lookup_table"):
        assert f"baseline_{baseline}_expected_cost" in metrics
        assert f"baseline_{baseline}_expected_cost_per_1000_ci_high" in metrics
    assert "model_expected_cost_per_1000" in metrics
    assert "expected_cost_saving_per_1000_ci_low" in metrics
    assert tags["simple.baseline"] == "lookup_table"
    assert tags["simple.enough"] == "true"
    assert tags["simple.registered"] == "lookup_table"
    # The threshold was tuned for cost, on out-of-fold predictions of the searched model.
    assert run.data.params["decision_threshold_metric"] == "expected_cost"

    assert summary.decision == "promoted"
    assert "(prefer_simple)" in summary.decision_rule
    assert any("is not worse than the model" in line for line in summary.worth)
    assert any("human performance" in line for line in summary.worth)
    card_text = Path(client.download_artifacts(summary.parent_run_id, "model_card.md")).read_text()
    assert "## Is it worth it" in card_text and "per 1,000 decisions" in card_text

    uri = f"models:/segments/{summary.model_version}"
    model = mlflow.sklearn.load_model(uri)
    assert isinstance(model[-1], LookupTable)
    assert [cells.column for cells in model[-1].features_] == ["segment"]
    version = client.get_model_version("segments", summary.model_version)
    assert version.tags["mleng.serving.fast_path"] == "sklearn"

    rows = segment_frame(40, seed=9).drop(columns="y")
    expected = mlflow.pyfunc.load_model(uri).predict(rows)
    port = free_port()
    args = [
        *("mlflow", "models", "serve", "-m", uri, "--env-manager", "local"),
        *("-h", "127.0.0.1", "-p", str(port)),
    ]
    env = venv_env(MLFLOW_TRACKING_URI=mlflow.get_tracking_uri())
    health = f"http://127.0.0.1:{port}/health"
    with running(args, health, isolated_store / "serve.log", env):
        body = json.dumps({"dataframe_split": rows.to_dict(orient="split", index=False)})
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=body.encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            served = pd.DataFrame(json.loads(response.read())["predictions"])
    assert served["prediction"].tolist() == expected["prediction"].tolist()
    np.testing.assert_allclose(served["probability_yes"], expected["probability_yes"])
    by_segment = dict(zip(rows["segment"], served["prediction"], strict=True))
    assert by_segment.get("A", "no") == "no" and by_segment.get("D", "yes") == "yes"
