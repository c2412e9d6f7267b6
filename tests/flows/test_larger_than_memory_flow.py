"""The whole `train` flow on a larger-than-memory card: a chunked read into a stated sample, an
incremental refit over every training chunk, chunked test scoring, one registered Pipeline."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from prefect.artifacts import Artifact
from sklearn.linear_model import SGDClassifier

from mleng.data.split import assign_test_side, compute_row_keys
from mleng.training.threshold import unwrap_pipeline
from tests.helpers import write_card_with_suite

pytestmark = pytest.mark.slow


@pytest.fixture
def streamed_card(isolated_store: Path, adult_frame: pd.DataFrame) -> Path:
    """The Adult sample as Parquet row groups, with a larger-than-memory card and its suite."""
    data_path = isolated_store / "adult.parquet"
    adult_frame.to_parquet(data_path, row_group_size=400)
    return write_card_with_suite(
        isolated_store, data_path, format="parquet",
        requirements={"larger_than_memory": True, "streaming": {"chunk_rows": 300, "epochs": 3}},
        data_checks={"sampling": {"max_rows": 1500}},
    )  # fmt: skip


def test_larger_than_memory_card_trains_incrementally_and_registers_a_working_model(
    prefect_server, streamed_card, adult_frame
):
    from flows.train import train
    from mleng.card import load_card

    summary = train(card_path=str(streamed_card), budget=3, seed=2, bootstrap_resamples=200)

    parent = MlflowClient().get_run(summary.parent_run_id)
    metrics, tags = parent.data.metrics, parent.data.tags
    statement = "on a sample of 1,500 of 3,000 rows"
    assert tags["data.sample"] == statement and statement in summary.validation
    assert metrics["data_rows_total"] == 3000 and metrics["data_rows_sampled"] == 1500
    assert tags["search.families"] == "sgd"
    assert "on a sample of 1,500 of 3,000 rows" in Artifact.get("data-sample").data

    # the refit read every training row of the whole data, the test scoring every test row
    card = load_card(streamed_card)
    is_test = assign_test_side(compute_row_keys(adult_frame, card), card.test_size)
    assert metrics["incremental_rows_per_epoch"] == int((~is_test).sum())
    assert metrics["incremental_epochs"] == 3
    assert metrics["test_streamed_rows"] == int(is_test.sum())
    assert tags["evaluation.streamed"] == f"on all {int(is_test.sum()):,} test rows"
    low, high = metrics["test_streamed_roc_auc_ci_low"], metrics["test_streamed_roc_auc_ci_high"]
    assert low <= metrics["test_streamed_roc_auc"] <= high
    assert metrics["test_streamed_roc_auc"] > 0.8

    # registered (a first model may still be held back as challenger by the gate's checks)
    assert summary.model_version == "1" and "challenger" in summary.aliases, summary.reason
    uri = f"models:/adult-test/{summary.model_version}"
    fitted = unwrap_pipeline(mlflow.sklearn.load_model(uri))
    assert isinstance(fitted[-1], SGDClassifier)
    raw_rows = adult_frame.drop(columns=["class"]).head(40)
    predictions = mlflow.pyfunc.load_model(uri).predict(raw_rows)
    assert set(predictions["prediction"]) <= {">50K", "<=50K"} and len(predictions) == 40
    probabilities = predictions[["probability_<=50K", "probability_>50K"]].sum(axis=1)
    np.testing.assert_allclose(probabilities, 1.0)
