"""The `monitor` flow on the real Prefect engine: a champion trained by `train`, real served
traffic in a real prediction log, one window like the training data and one with a shift."""

from __future__ import annotations

import time

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from mleng.serving.answers import render_scores
from mleng.serving.prediction_log import FeedbackRecord, PredictionLog, PredictionRecord
from mleng.serving.served_model import Scores
from mleng.tracking.monitoring import monitoring_experiment
from mleng.tracking.versions import load_version_model
from tests.helpers import ADULT, write_card_with_suite

pytestmark = pytest.mark.slow
MODEL = "adult-test"
HOUR = 3600.0


def log_traffic(log: PredictionLog, model, rows: pd.DataFrame, version: str, end: float) -> None:
    """One request per row, spread over the 6 hours before `end`, with the model's answers and,
    for half of them, the true outcome sent back."""
    features = rows.drop(columns=["class"])
    proba = model.predict_proba(features)
    labels = model.predict(features)
    times = np.linspace(end - 6 * HOUR, end - 1, len(rows))
    records = features.astype(object).where(features.notna(), None).to_dict(orient="records")
    for position, (row, moment) in enumerate(zip(records, times, strict=True)):
        scores = Scores(labels[position : position + 1], proba[position : position + 1])
        answer = render_scores(_Served(version, model), scores)
        request_id = f"{end:.0f}-{position}"
        log.write(
            PredictionRecord(
                request_id,
                float(moment),
                MODEL,
                version,
                "champion",
                True,
                "tester",
                [row],
                {k: answer[k] for k in ("predictions", "probabilities")},
                1.0,
            )
        )
        if position % 2 == 0:
            truth = str(rows["class"].iloc[position]).strip(" .")
            log.write(FeedbackRecord(request_id, float(moment) + 1, "tester", truth, None))


class _Served:
    """What `render_scores` reads of a served model: the version and the classes."""

    def __init__(self, version: str, model):
        self.version, self.classes = version, list(model.classes_)


def test_monitor_is_quiet_on_familiar_traffic_and_raises_drift_on_a_shift(
    prefect_server, isolated_store
):
    from flows.monitor import monitor
    from flows.train import train

    adult = pd.read_csv(ADULT).sample(n=7000, random_state=5).reset_index(drop=True)
    data = isolated_store / "adult.csv"
    adult.iloc[:4000].to_csv(data, index=False)
    card = write_card_with_suite(isolated_store, data)
    summary = train(card_path=str(card), seed=0, bootstrap_resamples=100)
    version = summary.model_version
    model = load_version_model(MODEL, version)
    log_url = f"sqlite:///{isolated_store / 'predictions.db'}"
    now = time.time()
    familiar = adult.iloc[4000:5500].reset_index(drop=True)
    shifted = adult.iloc[5500:7000].reset_index(drop=True)
    shifted["age"] = shifted["age"] + 8  # an older population: a drift worth retraining for
    with PredictionLog(log_url) as log:
        log_traffic(log, model, familiar, version, now - 7 * HOUR)
        log_traffic(log, model, shifted, version, now)

    quiet = monitor(str(card), log_url, window_hours=6, until=now - 7 * HOUR, alpha=0.01)
    loud = monitor(str(card), log_url, window_hours=6, until=now, alpha=0.01)

    assert quiet["rows"] == 1500 and quiet["events"] == []
    assert "mleng.drift.detected" in loud["events"]
    client = MlflowClient()
    experiment = client.get_experiment_by_name(monitoring_experiment(MODEL))
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_id == quiet["run_id"] == loud["run_id"]
    history = client.get_metric_history(run.info.run_id, "drifted_features")
    assert [point.value > 0 for point in sorted(history, key=lambda p: p.step)] == [False, True]
    online = client.get_metric_history(run.info.run_id, "online_roc_auc")
    assert len(online) == 2 and all(0.7 < point.value <= 1 for point in online)
    last = max(point.step for point in history)
    report = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/windows/{last}/report.md")
    assert "age" in report and "mleng.drift.detected" in report
    assert "![shift age](plots/shift_age.png)" in report
    folder = f"windows/{last}/plots"
    assert "shift_age.png" in {
        a.path.rsplit("/", 1)[-1] for a in client.list_artifacts(run.info.run_id, folder)
    }
