"""A free-text column through the real `train` flow: the docstrings of scikit-learn and SciPy
(data/docstrings.csv.gz), vectorized inside the registered pipeline, served from raw text."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient

from mleng.serving.requests import Limits, RequestError, read_body, type_rows
from mleng.serving.served_model import FAST_PATH_REASON_TAG, FAST_PATH_TAG, load_served_model

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "docstrings.csv.gz"
MODEL = "docstring-test"


@pytest.fixture
def docstrings_card(isolated_store: Path) -> Path:
    """The shipped card and suite over the shipped data, with a small search budget and text
    augmentation on (so the flow's training folds get perturbed copies)."""
    settings = yaml.safe_load((ROOT / "configs" / "docstrings.yaml").read_text())
    settings.update(
        name="docstrings_test",
        model_name=MODEL,
        path=str(DATA),
        expectations=str(ROOT / "expectations" / "docstrings.json"),
    )
    settings["features"]["text"].update(
        max_features=5000, augmentation={"copies": 1, "word_dropout": 0.1, "swap": 0.05}
    )
    # One cheap family: the dense (SVD) path of boosting is proven in tests/core/features.
    settings["search"] = {
        "budget": 2,
        "cv_folds": 3,
        "ensemble": {"enabled": False},
        "families": {
            "logistic_regression": {"C": {"type": "float", "low": 1.0, "high": 30.0, "log": True}}
        },
    }
    path = isolated_store / "docstrings.yaml"
    path.write_text(yaml.safe_dump(settings, sort_keys=False))
    return path


def test_text_column_trains_registers_and_serves_raw_text(prefect_server, docstrings_card):
    from flows.train import train

    summary = train(card_path=str(docstrings_card), budget=2, seed=0, bootstrap_resamples=200)

    client = MlflowClient()
    metrics = client.get_run(summary.parent_run_id).data.metrics
    assert metrics["test_roc_auc"] > metrics["baseline_zero_rule_roc_auc"] + 0.3
    assert metrics["test_roc_auc"] > 0.85

    version = client.get_model_version(MODEL, "1")
    # No exact ONNX graph exists for a vectorizer: the service keeps the scikit-learn pipeline.
    assert version.tags[FAST_PATH_TAG] == "sklearn"
    assert "description" in version.tags[FAST_PATH_REASON_TAG]

    frame = pd.read_csv(DATA)
    raw = frame.drop(columns=["library"]).head(40).copy()
    raw.loc[0, "description"] = None  # missing text is no text
    raw.loc[1, "description"] = "zyxwv qwerty words never seen in training"
    model = mlflow.pyfunc.load_model(f"models:/{MODEL}/1")
    predictions = model.predict(raw)
    assert len(predictions) == 40
    assert set(predictions["prediction"]) <= {"scikit-learn", "scipy"}
    np.testing.assert_allclose(
        predictions[["probability_scikit-learn", "probability_scipy"]].sum(axis=1), 1.0
    )
    served = load_served_model(client, MODEL, "1")
    assert "description" in served.categorical_columns  # typed as text by the service
    inputs_only = raw[[*served.numeric_columns, *served.categorical_columns]]
    rows = json.loads(inputs_only.to_json(orient="records"))
    body = json.dumps({"dataframe_records": rows}).encode()
    inputs = type_rows(
        read_body(body, "application/json", Limits()),
        served.numeric_columns,
        served.categorical_columns,
    )
    scores = served.score(inputs.numeric, inputs.categorical)
    expected = predictions["probability_scikit-learn"].to_numpy()
    positive = list(served.classes).index("scikit-learn")
    np.testing.assert_allclose(scores.probabilities[:, positive], expected, rtol=1e-9)

    without_text = [{k: v for k, v in row.items() if k != "description"} for row in rows[:2]]
    with pytest.raises(RequestError) as refused:
        type_rows(without_text, served.numeric_columns, served.categorical_columns)
    assert refused.value.status == 400 and refused.value.field == "description"
