"""Adversarial validation in the flow: trials score on the training rows most like the test rows."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient

from tests.helpers import LOGISTIC_FAMILIES, write_card_with_suite

pytestmark = pytest.mark.slow


@pytest.fixture
def adversarial_card(isolated_store: Path, adult_frame: pd.DataFrame) -> Path:
    data_path = isolated_store / "adult_sample.csv"
    adult_frame.to_csv(data_path, index=False)
    search = {
        "budget": 2,
        "validation": "adversarial",
        "adversarial_fraction": 0.25,
        "families": LOGISTIC_FAMILIES,
    }
    return write_card_with_suite(isolated_store, data_path, search=search)


def test_trials_are_scored_on_the_adversarially_chosen_rows(prefect_server, adversarial_card):
    from flows.train import train

    summary = train(card_path=str(adversarial_card), seed=2, bootstrap_resamples=200)

    client = MlflowClient()
    parent = client.get_run(summary.parent_run_id)
    assert parent.data.tags["search.validation"] == "adversarial"
    assert summary.search == "coarse_to_fine, 2 of 2 evaluations, validation adversarial"
    assert parent.data.metrics["validation_rows"] == round(0.25 * summary.rows["train"])
    experiment = client.get_experiment_by_name("adult_test")
    children = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
    )
    assert len(children) == 2
    assert all(run.data.metrics["cv_roc_auc_std"] == 0.0 for run in children)  # one held-out split
    assert all(run.data.metrics["cv_roc_auc_mean"] > 0.8 for run in children)
