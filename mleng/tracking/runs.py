"""MLflow tracking: where runs go, one experiment per card, parent and child runs, batched logging.

Everything goes through `MlflowClient` with explicit run ids, never the thread-local active run,
because Prefect runs tasks in worker threads where MLflow's active-run stack is not shared.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

PROJECT_ARTIFACTS = "mlartifacts"
MAX_METRICS_PER_BATCH = 1000  # MLflow's limit for one log_batch call


def resolve_tracking_uri() -> str:
    """`MLFLOW_TRACKING_URI` when set, otherwise `sqlite:///mlflow.db` in the current folder."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path.cwd() / 'mlflow.db'}"


def configure_tracking() -> MlflowClient:
    """Point MLflow at the resolved store and return a client bound to it."""
    uri = resolve_tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def artifact_root_for(tracking_uri: str) -> str | None:
    """A fixed artifact folder beside a local sqlite store; a tracking server decides for itself."""
    if tracking_uri.startswith("sqlite:///"):
        database = Path(tracking_uri.removeprefix("sqlite:///"))
        return (database.parent / PROJECT_ARTIFACTS).resolve().as_uri()
    return None


def ensure_experiment(client: MlflowClient, name: str) -> str:
    """The id of the experiment named after the card, created with a fixed artifact location."""
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        if experiment.lifecycle_stage == "deleted":
            client.restore_experiment(experiment.experiment_id)
        return experiment.experiment_id
    root = artifact_root_for(client.tracking_uri)
    location = f"{root}/{name}" if root else None
    return client.create_experiment(name, artifact_location=location)


def start_run(
    client: MlflowClient,
    experiment_id: str,
    run_name: str,
    tags: dict[str, str] | None = None,
    parent_run_id: str | None = None,
) -> str:
    """Create a run (a child when `parent_run_id` is given) and return its id."""
    all_tags = dict(tags or {})
    if parent_run_id:
        all_tags["mlflow.parentRunId"] = parent_run_id
    return client.create_run(experiment_id, run_name=run_name, tags=all_tags).info.run_id


def _flatten(prefix: str, value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, inner in value.items():
            flat.update(_flatten(f"{prefix}.{key}" if prefix else str(key), inner))
        return flat
    return {prefix: value}


def log_values(
    client: MlflowClient,
    run_id: str,
    params: dict[str, Any] | None = None,
    metrics: dict[str, float] | None = None,
    tags: dict[str, Any] | None = None,
) -> None:
    """Log params, metrics and tags in as few calls as MLflow's batch limits allow."""
    now = int(time.time() * 1000)
    metric_items = [
        Metric(key, float(value), now, 0)
        for key, value in (metrics or {}).items()
        if value is not None
    ]
    param_items = [
        Param(key, str(value)[:6000]) for key, value in _flatten("", params or {}).items()
    ]
    tag_items = [RunTag(key, str(value)[:5000]) for key, value in (tags or {}).items()]
    log_metric_batches(client, run_id, metric_items)
    small = param_items + tag_items
    for start in range(0, len(small), 100):
        chunk = small[start : start + 100]
        client.log_batch(
            run_id,
            params=[item for item in chunk if isinstance(item, Param)],
            tags=[item for item in chunk if isinstance(item, RunTag)],
        )


def log_metric_batches(client: MlflowClient, run_id: str, metrics: list[Metric]) -> None:
    """Metric entities as they are (timestamps, steps, model ids kept), in batches of MLflow's
    limit for one `log_batch` call."""
    for start in range(0, len(metrics), MAX_METRICS_PER_BATCH):
        client.log_batch(run_id, metrics=metrics[start : start + MAX_METRICS_PER_BATCH])


def log_text(client: MlflowClient, run_id: str, text: str, artifact_file: str) -> None:
    """Attach a text artifact (markdown, HTML) to a run."""
    client.log_text(run_id, text, artifact_file)


def log_json(client: MlflowClient, run_id: str, payload: Any, artifact_file: str) -> None:
    """Attach a machine-readable JSON artifact to a run."""
    client.log_text(run_id, json.dumps(payload, indent=2, default=str), artifact_file)


def end_run(client: MlflowClient, run_id: str, status: str = "FINISHED") -> None:
    """Mark a run FINISHED or FAILED."""
    client.set_terminated(run_id, status=status)


def run_url(tracking_uri: str, experiment_id: str, run_id: str) -> str:
    """The address of a run in the MLflow UI: on the tracking server itself, or where the README's
    `mlflow ui` command serves a local store."""
    base = tracking_uri.rstrip("/") if tracking_uri.startswith("http") else "http://127.0.0.1:5000"
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}"
