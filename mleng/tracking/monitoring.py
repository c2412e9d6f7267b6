"""Where monitoring goes in MLflow: one experiment per model, one run per served version, one
step per window, so the MLflow UI charts every measure over time and compares versions."""

from __future__ import annotations

import math
import time

from mlflow import MlflowClient
from mlflow.entities import Metric

from mleng.tracking import runs

VERSION_TAG = "mleng.monitoring.version"


def monitoring_experiment(model_name: str) -> str:
    return f"{model_name}-monitoring"


def find_monitoring_run(client: MlflowClient, model_name: str, version: str) -> tuple[str, str]:
    """(experiment id, run id) of the version's monitoring run, created on its first window."""
    experiment_id = runs.ensure_experiment(client, monitoring_experiment(model_name))
    found = client.search_runs(
        [experiment_id], f"tags.`{VERSION_TAG}` = '{version}'", max_results=1
    )
    if found:
        return experiment_id, found[0].info.run_id
    run_id = runs.start_run(
        client,
        experiment_id,
        f"v{version} monitoring",
        tags={VERSION_TAG: str(version), "mleng.model": model_name},
    )
    return experiment_id, run_id


def log_window_metrics(
    client: MlflowClient, run_id: str, metrics: dict[str, float], window_end: float
) -> int:
    """The window's numbers at step = the hour the window ends (hours since the epoch), stamped
    with the window's end; returns the step."""
    step = int(window_end // 3600)
    stamp = int(window_end * 1000)
    items = [Metric(k, float(v), stamp, step) for k, v in metrics.items() if math.isfinite(v)]
    for start in range(0, len(items), 1000):
        client.log_batch(run_id, metrics=items[start : start + 1000])
    client.set_terminated(run_id, "FINISHED", end_time=int(time.time() * 1000))
    return step
