"""A multiclass card with a cost matrix: the registered model decides the class of least expected
cost (served by scikit-learn, never by a graph that would pick the most probable class), and the
run logs the expected cost of the model and of every baseline."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from mleng.training.threshold import CostDecisionClassifier
from tests.helpers import LOGISTIC_FAMILIES, write_card_with_suite

pytestmark = pytest.mark.slow

MATRIX = {
    "cat": {"dog": 1.0, "eel": 1.0},
    "dog": {"cat": 1.0, "eel": 1.0},
    "eel": {"cat": 30.0, "dog": 1.0},  # calling an eel a cat is the expensive mistake
}


def animal_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, n)
    return pd.DataFrame(
        {
            # Three weak signals: a model adding them beats a table of any two, coarsely cut.
            "length": (rng.normal(size=n) + 0.8 * truth).round(3),
            "weight": (rng.normal(size=n) + 0.8 * truth).round(3),
            "fins": (rng.normal(size=n) + 0.8 * truth).round(3),
            "habitat": rng.choice(["land", "water"], size=n),
            "animal": np.array(["cat", "dog", "eel"])[truth],
        }
    )


@pytest.fixture
def matrix_card(isolated_store: Path) -> Path:
    data_path = isolated_store / "animals.csv"
    animal_frame(2500, seed=1).to_csv(data_path, index=False)
    search = {
        "budget": 2,
        "cv_folds": 3,
        "families": LOGISTIC_FAMILIES,
    }
    return write_card_with_suite(
        isolated_store,
        data_path,
        name="animals",
        target="animal",
        task="multiclass",
        positive_label=None,
        metric="log_loss",
        model_name="animals",
        categorical_columns=["habitat"],
        numeric_columns=["length", "weight", "fins"],
        expectations=str(isolated_store / "expectations" / "animals.json"),
        search=search,
        costs={"matrix": MATRIX},
        promotion={"allow_data_warnings": True, "primary": "expected_cost"},
        evaluation={"shift_permutations": 0},
    )


def test_a_cost_matrix_makes_the_registered_model_decide_by_least_expected_cost(
    prefect_server, matrix_card
):
    from flows.train import train

    summary = train(card_path=str(matrix_card), seed=2, bootstrap_resamples=300)

    client = MlflowClient()
    run = client.get_run(summary.parent_run_id)
    metrics = run.data.metrics
    assert run.data.params["decision_rule"] == "minimum_expected_cost"
    for name in ("zero_rule", "random", "lookup_table"):
        assert metrics[f"baseline_{name}_expected_cost"] > metrics["test_expected_cost"]
    assert metrics["expected_cost_saving_per_1000_ci_low"] > 0
    assert "least expected cost" in summary.decision_rule
    assert "test expected_cost interval" in run.data.tags["promotion.check.beat_baselines"]

    uri = f"models:/animals/{summary.model_version}"
    model = mlflow.sklearn.load_model(uri)
    assert isinstance(model, CostDecisionClassifier)
    version = client.get_model_version("animals", summary.model_version)
    assert version.tags["mleng.serving.fast_path"] == "sklearn"
    assert "minimum expected cost" in version.tags["mleng.serving.fast_path_reason"]

    rows = animal_frame(300, seed=7).drop(columns="animal")
    output = mlflow.pyfunc.load_model(uri).predict(rows)
    proba = output[[f"probability_{label}" for label in model.classes_]].to_numpy()
    costs = np.array([[MATRIX[t].get(p, 0.0) for p in model.classes_] for t in model.classes_])
    expected = model.classes_[np.argmin(proba @ costs, axis=1)]
    np.testing.assert_array_equal(output["prediction"], expected)
    most_probable = model.classes_[np.argmax(proba, axis=1)]
    assert (expected == "cat").sum() < (most_probable == "cat").sum()
