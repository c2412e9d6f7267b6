"""A replay of the maintenance loop on real data: held-back Adult rows streamed in batches
through a real `mleng serve`, outcomes sent back, a drift injected at a known batch, `monitor`
run after each batch; then retraining on the labelled traffic, its canary and its promotion,
and the new champion serving."""

from __future__ import annotations

import json
import time

import pandas as pd
import pytest
from mlflow import MlflowClient

from mleng.tracking import registry
from tests.helpers import ADULT, write_card_with_suite
from tests.serving_helpers import serve

pytestmark = pytest.mark.slow
MODEL = "adult-test"
BATCH = 500
DRIFT_AT = 4  # batches 0-3 look like the training data; from 4 on the population is older


def stream_batch(service, rows: pd.DataFrame) -> tuple[float, float]:
    """Each row as a one-row request, its true outcome sent back; returns the batch's time span."""
    features = rows.drop(columns=["class"])
    records = json.loads(features.to_json(orient="records"))
    started = time.time()
    for record, truth in zip(records, rows["class"].str.strip(" ."), strict=True):
        status, answer = service.call("POST", "/predict", {"dataframe_records": [record]})
        assert status == 200, answer
        body = {"request_id": answer["request_id"], "outcome": truth}
        status, _ = service.call("POST", "/feedback", body, role="feedback")
        assert status == 200
    return started, time.time() + 0.001


def test_a_drift_is_caught_within_a_batch_and_the_retrained_model_ends_up_serving(
    prefect_server, isolated_store
):
    from flows.monitor import monitor
    from flows.rollout import promote
    from flows.train import train

    adult = pd.read_csv(ADULT).sample(n=8000, random_state=11).reset_index(drop=True)
    partitions = isolated_store / "adult"
    partitions.mkdir()
    adult.iloc[:4000].to_csv(partitions / "0000-initial.csv", index=False)
    held_back = adult.iloc[4000:].reset_index(drop=True)
    card = write_card_with_suite(
        isolated_store,
        partitions,
        promotion={"beat_champion": False, "allow_data_warnings": True},
    )
    first = train(card_path=str(card), seed=0, bootstrap_resamples=100)
    assert first.aliases == ("challenger", "champion")
    uri = str(MlflowClient().tracking_uri)

    with serve(isolated_store, uri, MODEL) as service:
        alarms = []
        for batch in range(6):
            rows = held_back.iloc[batch * BATCH : (batch + 1) * BATCH].copy()
            if batch >= DRIFT_AT:
                rows["age"] = rows["age"] + 8
            since, until = stream_batch(service, rows)
            result = monitor(
                str(card), service.log_url, window_hours=(until - since) / 3600, until=until,
                alpha=0.001, min_rows=200, write_batch=batch >= DRIFT_AT,
            )  # fmt: skip
            assert result["rows"] == BATCH
            alarms.append("mleng.drift.detected" in result["events"])
        assert alarms[:DRIFT_AT] == [False] * DRIFT_AT  # no false alarm on familiar traffic
        assert alarms[DRIFT_AT]  # caught in the first drifted batch

        # What the train deployment's trigger starts: train on the data, live batches included.
        second = train(card_path=str(card), seed=0, bootstrap_resamples=100)
        assert second.decision == "promoted" and "canary" in second.reason
        client = MlflowClient()
        state = client.get_registered_model(MODEL)
        assert str(state.aliases["champion"]) == first.model_version
        assert json.loads(state.tags["mleng.serving.strategy"])["kind"] == "canary"
        assert len(list(partitions.glob("live-*.csv"))) == 6 - DRIFT_AT

        promote(model_name=MODEL)
        assert registry.find_alias_version(client, MODEL, "champion") == second.model_version
        deadline, served = time.monotonic() + 15, None
        row = json.loads(held_back.drop(columns=["class"]).head(1).to_json(orient="records"))
        while time.monotonic() < deadline and served != second.model_version:
            served = service.call("POST", "/predict", {"dataframe_records": row})[1].get(
                "model_version"
            )
            time.sleep(0.3)
        assert served == second.model_version
