"""Facts about one registered version: the run that made it, its tags, its native model."""

from __future__ import annotations

from typing import Any

import mlflow
from mlflow import MlflowClient


def find_version_run(client: MlflowClient, name: str, version: str) -> str | None:
    """The id of the run that logged version `version` of `name` (None if it has none)."""
    return client.get_model_version(name, version).run_id or None


def read_version_tags(client: MlflowClient, name: str, version: str) -> dict[str, str]:
    """A version's tags (decision, metrics, lineage digests)."""
    return dict(client.get_model_version(name, version).tags)


def read_version_aliases(client: MlflowClient, name: str, version: str) -> tuple[str, ...]:
    """The aliases a version holds now, sorted."""
    return tuple(sorted(client.get_model_version(name, version).aliases))


def load_version_model(name: str, version: str) -> Any:
    """The scikit-learn model of a version, with `predict_proba` (the pyfunc returns labels)."""
    return mlflow.sklearn.load_model(f"models:/{name}/{version}")
