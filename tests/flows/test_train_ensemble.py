"""The `train` flow builds a final ensemble, registers it as one pipeline with the usual contract,
and the MLflow pyfunc serves it; a card that turns it off registers the single best."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from mleng.serving.served_model import FAST_PATH_REASON_TAG, FAST_PATH_TAG
from mleng.training.threshold import unwrap_pipeline
from mleng.training.weighted_ensemble import WeightedEnsembleClassifier
from tests.helpers import SMALL_SEARCH, write_card_with_suite

pytestmark = pytest.mark.slow

# A linear model and a forest err differently, so their average is very likely better out of
# fold; a low confidence bar keeps the test about the plumbing, not about this sample's luck.
ENSEMBLE_SEARCH = SMALL_SEARCH | {
    "budget": 4,
    "families": {
        "logistic_regression": SMALL_SEARCH["families"]["logistic_regression"],
        "random_forest": SMALL_SEARCH["families"]["random_forest"],
    },
    "ensemble": {"candidates": 3, "min_confidence": 0.5, "min_error_reduction": 0.0},
}


@pytest.fixture
def ensemble_card(isolated_store: Path, adult_frame: pd.DataFrame) -> Path:
    data_path = isolated_store / "adult_sample.csv"
    adult_frame.to_csv(data_path, index=False)
    return write_card_with_suite(
        isolated_store,
        data_path,
        search=ENSEMBLE_SEARCH,
        imbalance={"threshold_metric": "balanced_accuracy"},
    )


def test_flow_registers_a_chosen_ensemble_that_the_pyfunc_serves(
    prefect_server, ensemble_card, adult_frame
):
    from flows.train import train

    summary = train(card_path=str(ensemble_card), seed=2, bootstrap_resamples=200)

    parent = MlflowClient().get_run(summary.parent_run_id)
    tags, metrics = parent.data.tags, parent.data.metrics
    assert tags["ensemble.chosen"] == "true", tags.get("ensemble.reason")
    members = tags["ensemble.members"].split(",")
    weights = [float(w) for w in tags["ensemble.weights"].split(",")]
    assert len(members) == len(weights) >= 2 and sum(weights) == pytest.approx(1.0, abs=1e-3)
    assert metrics["oof_roc_auc_ensemble"] > metrics["oof_roc_auc_single"]
    assert summary.ensemble.startswith("chosen: ")
    assert "stage_seconds_ensemble" in metrics

    uri = f"models:/adult-test/{summary.model_version}"
    model = mlflow.sklearn.load_model(uri)
    assert isinstance(unwrap_pipeline(model)[-1], WeightedEnsembleClassifier)
    rows = adult_frame.drop(columns=["class"]).head(30)
    proba = model.predict_proba(rows)[:, list(model.classes_).index(">50K")]
    served = mlflow.pyfunc.load_model(uri).predict(rows)
    np.testing.assert_allclose(served["probability_>50K"], proba)
    np.testing.assert_array_equal(served["prediction"], model.predict(rows))

    client = MlflowClient()
    version = client.get_model_version("adult-test", summary.model_version)
    assert version.tags[FAST_PATH_TAG] == "sklearn"  # no ONNX graph for an ensemble: exact fallback
    assert "not convertible" in version.tags[FAST_PATH_REASON_TAG]
    card_text = Path(client.download_artifacts(summary.parent_run_id, "model_card.md")).read_text()
    assert "weighted average of" in card_text
    assert all(f"member {member}" in card_text for member in members)
