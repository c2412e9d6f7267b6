"""The flow tunes a decision threshold for a rare class and the registered model decides with it."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from sklearn.metrics import balanced_accuracy_score

from tests.helpers import LOGISTIC_FAMILIES, thin_adult_positives, write_card_with_suite

pytestmark = pytest.mark.slow


@pytest.fixture
def rare_card(isolated_store: Path) -> Path:
    """Real Adult rows with >50K thinned to about 6%, a card asking for a balanced-accuracy
    threshold."""
    data_path = isolated_store / "adult_rare.csv"
    thin_adult_positives(6000, seed=5).to_csv(data_path, index=False)
    search = {
        "budget": 3,
        "cv_folds": 3,
        "families": LOGISTIC_FAMILIES,
    }
    card = write_card_with_suite(
        isolated_store,
        data_path,
        search=search,
        imbalance={"threshold_metric": "balanced_accuracy"},
    )
    return card


def test_registered_model_decides_with_the_threshold_tuned_out_of_fold(prefect_server, rare_card):
    from flows.train import train

    summary = train(card_path=str(rare_card), seed=3, bootstrap_resamples=200)

    client = MlflowClient()
    parent = client.get_run(summary.parent_run_id)
    threshold = float(parent.data.params["decision_threshold"])
    assert 0.0 < threshold < 0.5
    assert f"at least {threshold:.4f}" in summary.decision_rule
    assert parent.data.params["decision_threshold_metric"] == "balanced_accuracy"
    metrics = parent.data.metrics
    assert metrics["oof_balanced_accuracy_at_threshold"] > metrics["oof_balanced_accuracy_at_half"]

    rows = pd.read_csv(rare_card.parent / "adult_rare.csv")
    truth = rows.pop("class").str.strip(" .")
    model = mlflow.sklearn.load_model(f"models:/adult-test/{summary.model_version}")
    proba = model.predict_proba(rows)[:, list(model.classes_).index(">50K")]
    output = mlflow.pyfunc.load_model(f"models:/adult-test/{summary.model_version}").predict(rows)
    served = output["prediction"].to_numpy()
    np.testing.assert_array_equal(served == ">50K", proba >= threshold)
    np.testing.assert_allclose(output["probability_>50K"], proba)
    at_half = np.where(proba >= 0.5, ">50K", "<=50K")
    assert balanced_accuracy_score(truth, served) > balanced_accuracy_score(truth, at_half) + 0.05

    card_text = Path(client.download_artifacts(summary.parent_run_id, "model_card.md")).read_text()
    assert f"at least {threshold:.4f}" in card_text
