"""MLflow registry adapter: log a model with its contract, register it, move aliases, read them.

Aliases (`champion`, `challenger`) replace the deprecated stages. A version is only created once
every check before it has passed, so a failed run never leaves a partial model behind. Reads
fail closed: "no champion" is returned only when MLflow says so, never because the store did not
answer (`RegistryError`).
"""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import cloudpickle
import mlflow
import numpy as np
import pandas as pd
import sklearn
from mlflow import MlflowClient
from mlflow.entities import LoggedModelOutput, Metric, Run
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from mlflow.protos.databricks_pb2 import (
    INVALID_PARAMETER_VALUE,
    RESOURCE_DOES_NOT_EXIST,
    ErrorCode,
)
from mlflow.utils.mlflow_tags import MLFLOW_MODEL_VERSIONS

from mleng.errors import RegistryError
from mleng.tracking import contract, runs

CHAMPION = "champion"
CHALLENGER = "challenger"
CHAMPION_HISTORY_TAG = "mleng.champion.history"
# The `mleng` package folder (not `mleng/tracking`): custom transformers and the contract's loader.
_PACKAGE_DIR = Path(__file__).resolve().parents[1]
RESOURCE_DOES_NOT_EXIST_CODE = ErrorCode.Name(RESOURCE_DOES_NOT_EXIST)
INVALID_PARAMETER_VALUE_CODE = ErrorCode.Name(INVALID_PARAMETER_VALUE)
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How registry reads retry an error that is not an answer: `attempts` in all, sleeping
    `backoff_seconds`, then twice that, and so on, between them."""

    attempts: int = 3
    backoff_seconds: float = 0.5


DEFAULT_RETRY = RetryPolicy()


@dataclass(frozen=True)
class RegisteredVersion:
    """A registered model version and the aliases it holds after registration."""

    name: str
    version: str
    model_uri: str
    aliases: tuple[str, ...]
    rollout: str | None = None  # the strategy started for it ("canary", "shadow"), if any


def pinned_requirements() -> list[str]:
    """Exact versions of what the pickled pipeline needs: inferring them costs seconds per model."""
    return [
        f"mlflow=={mlflow.__version__}",
        f"scikit-learn=={sklearn.__version__}",
        f"pandas=={pd.__version__}",
        f"numpy=={np.__version__}",
        f"cloudpickle=={cloudpickle.__version__}",
        f"imbalanced-learn=={version('imbalanced-learn')}",
    ]


@contextmanager
def skip_requirement_mismatch_check() -> Iterator[None]:
    """MLflow's check that a model's pip requirements match this environment, turned off while
    a model with `pinned_requirements` is saved and its input example served back (MLflow runs
    it at both): they are read from this environment, so they match by construction, and the
    check scans every installed distribution's files (0.3 s each time here). Where MLflow no
    longer has the hook, nothing changes."""
    from mlflow.utils import environment

    # the module itself: `from mlflow import pyfunc` gives a lazy proxy, and setting the
    # attribute there would leave the function `pyfunc.load_model` calls untouched
    pyfunc = importlib.import_module("mlflow.pyfunc")
    name = "warn_dependency_requirement_mismatches"
    saved = {
        module: getattr(module, name) for module in (environment, pyfunc) if hasattr(module, name)
    }
    for module in saved:
        setattr(module, name, lambda requirements: None)
    try:
        yield
    finally:
        for module, check in saved.items():
            setattr(module, name, check)


def log_model_contract(
    run_id: str,
    model: Any,
    train_features: pd.DataFrame,
    numeric_columns: list[str],
    categorical_columns: list[str],
    name: str = "model",
) -> str:
    """Log the fitted estimator under `run_id` with its serving contract; return the model URI.

    `name` is the logged model's name in the MLflow UI (the flow passes the registered name, so
    logged models are told apart across experiments).

    One `model.pkl` (cloudpickle, not skops: skops refuses common fitted pipelines) serves two
    flavours: `sklearn` for native use and `python_function` for the contract described in
    `mleng.tracking.contract` (labels and `probability_<class>` columns out; raw rows in, checked
    by the model itself against the training column roles recorded in MLmodel, so the signature
    declares the output only). The `mleng` package travels with the model (`code_paths`) so
    custom transformers and the contract's loader import anywhere. Requirements are pinned:
    inferring them costs seconds per model.

    The logged model is created for the run here and linked to it after (`link_run_outputs`)
    rather than by logging inside the active run: there `Model.log` reads the run's metric
    history one metric at a time (63 queries, 0.45 s, for a training run; a round trip each
    against a tracking server).
    """
    client = MlflowClient()
    run = client.get_run(run_id)
    spec = contract.ContractSpec.from_training(train_features, numeric_columns, categorical_columns)
    logged = mlflow.initialize_logged_model(
        name=name,
        source_run_id=run_id,
        params=run.data.params,
        experiment_id=run.info.experiment_id,
    )
    with skip_requirement_mismatch_check():
        info = Model.log(
            artifact_path=None,
            name=name,
            flavor=contract,
            model_id=logged.model_id,
            source_run_id=run_id,
            sk_model=model,
            spec=spec,
            signature=contract.build_signature(model),
            input_example=contract.example_rows(
                train_features, numeric_columns, categorical_columns
            ),
            pip_requirements=pinned_requirements(),
            code_paths=[str(_PACKAGE_DIR)],
            serialization_format="cloudpickle",
        )
    link_run_outputs(client, run, logged.model_id)
    return info.model_uri


def link_run_outputs(client: MlflowClient, run: Run, model_id: str) -> None:
    """Record the logged model as the run's output and give it the run's metrics, as logging it
    inside the run does: two calls, not one per metric. Each metric keeps its timestamp and step,
    so the run's own history gains no point."""
    client.log_outputs(run.info.run_id, [LoggedModelOutput(model_id, step=0)])
    metrics = [
        Metric(m.key, m.value, m.timestamp, m.step, run_id=run.info.run_id, model_id=model_id)
        for m in run.data.to_proto().metrics
        if m.step == 0
    ]
    runs.log_metric_batches(client, run.info.run_id, metrics)


def register_version(
    client: MlflowClient,
    model_uri: str,
    name: str,
    run_id: str,
    tags: dict[str, str],
    *,
    retry: RetryPolicy = DEFAULT_RETRY,
) -> str:
    """Create a new version of `name` from a logged model; return the version number.

    The registered model is created only when MLflow says it does not exist
    (RESOURCE_DOES_NOT_EXIST); any other error reading it is retried, then raised as
    `RegistryError`, rather than taken for "absent".
    """

    def exists() -> bool:
        try:
            client.get_registered_model(name)
        except MlflowException as error:
            if error.error_code == RESOURCE_DOES_NOT_EXIST_CODE:
                return False
            raise
        return True

    if not _retrying(exists, client, name, None, retry):
        client.create_registered_model(
            name,
            description="Registered by mleng; see the version tags for each promotion decision.",
        )
    model_id = model_uri.removeprefix("models:/") if model_uri.startswith("models:/m-") else None
    version = client.create_model_version(
        name, model_uri, run_id=run_id, tags=tags, model_id=model_id
    )
    if model_id is not None:
        link_logged_model(client, model_id, name, str(version.version))
    return str(version.version)


def describe_version(client: MlflowClient, name: str, version: str, text: str) -> None:
    """The version's description in the registry UI: its decision and why."""
    client.update_model_version(name, version, description=text[:5000])


def link_logged_model(client: MlflowClient, model_id: str, name: str, version: str) -> None:
    """Record the version on the logged model, as `mlflow.register_model` does, so the model's
    page and the run's "Registered models" column show it registered instead of offering to
    register it again."""
    logged = client.get_logged_model(model_id)
    links = json.loads(logged.tags.get(MLFLOW_MODEL_VERSIONS, "[]"))
    links.append({"name": name, "version": version})
    client.set_logged_model_tags(model_id, {MLFLOW_MODEL_VERSIONS: json.dumps(links)})


def find_alias_version(
    client: MlflowClient,
    name: str,
    alias: str,
    *,
    retry: RetryPolicy = DEFAULT_RETRY,
) -> str | None:
    """The version holding `alias`, or None only when MLflow says the model or alias does not exist.

    MLflow 3.17 (sqlite and REST alike) answers RESOURCE_DOES_NOT_EXIST for an unknown model and
    INVALID_PARAMETER_VALUE ("Registered model alias ... not found.") for an unknown alias; the
    latter code also covers malformed requests, so the alias's absence is confirmed on the
    registered model. Any other error (store unreachable, unreadable, locked) is retried with a
    short backoff, then raised as `RegistryError`: a champion must never vanish because the
    registry did not answer.
    """

    def lookup() -> str | None:
        try:
            return str(client.get_model_version_by_alias(name, alias).version)
        except MlflowException as error:
            if error.error_code == RESOURCE_DOES_NOT_EXIST_CODE:
                return None
            if error.error_code == INVALID_PARAMETER_VALUE_CODE and _alias_absent(
                client, name, alias
            ):
                return None
            raise

    return _retrying(lookup, client, name, alias, retry)


def load_alias_model(name: str, alias: str) -> Any:
    """The fitted scikit-learn estimator behind `models:/name@alias`, from its `sklearn` flavour.

    Native, so callers get `predict_proba` and `classes_`; the pyfunc contract is for serving.
    """
    return mlflow.sklearn.load_model(f"models:/{name}@{alias}")


def set_alias(client: MlflowClient, name: str, alias: str, version: str) -> None:
    """Point `alias` at `version`."""
    client.set_registered_model_alias(name, alias, version)


def read_champion_history(client: MlflowClient, name: str) -> list[dict[str, Any]]:
    """Every move of `champion`, oldest first: `{"version", "at", "reason"}` entries."""
    tags = client.get_registered_model(name).tags
    try:
        history = json.loads(tags.get(CHAMPION_HISTORY_TAG, "[]"))
    except ValueError:
        return []
    return history if isinstance(history, list) else []


def move_champion(client: MlflowClient, name: str, version: str, reason: str) -> None:
    """Make `version` champion and append the move to the history `mleng rollback` reads.

    The history lives in a registered-model tag (newest 50 moves), so any process that moves the
    alias, the train flow as well as `mleng deploy`, leaves a trail a rollback can follow.
    """
    history = read_champion_history(client, name)
    current = client.get_registered_model(name).aliases.get(CHAMPION)
    if current is not None and (not history or str(history[-1]["version"]) != str(current)):
        history.append({"version": str(current), "at": time.time(), "reason": "found in place"})
    history.append({"version": str(version), "at": time.time(), "reason": reason[:300]})
    client.set_registered_model_alias(name, CHAMPION, version)
    client.set_registered_model_tag(name, CHAMPION_HISTORY_TAG, json.dumps(history[-50:]))


def roll_back_champion(client: MlflowClient, name: str) -> tuple[str, str]:
    """Move `champion` back to the version it held before; return (from, to).

    The abandoned move leaves the history, so a second rollback goes one further back.
    """
    current = find_alias_version(client, name, CHAMPION)
    if current is None:
        raise RegistryError(f"model {name!r} has no champion to roll back")
    history = read_champion_history(client, name)
    if history and str(history[-1]["version"]) == current:
        history.pop()
    previous = next(
        (entry for entry in reversed(history) if str(entry["version"]) != current), None
    )
    if previous is None:
        raise RegistryError(
            f"model {name!r}: champion v{current} has no earlier champion in its history "
            f"(tag {CHAMPION_HISTORY_TAG}); move it with `mleng deploy --version V` instead"
        )
    while history and history[-1] is not previous:
        history.pop()
    client.set_registered_model_alias(name, CHAMPION, str(previous["version"]))
    client.set_registered_model_tag(name, CHAMPION_HISTORY_TAG, json.dumps(history[-50:]))
    return current, str(previous["version"])


def tag_version(client: MlflowClient, name: str, version: str, tags: dict[str, Any]) -> None:
    """Record facts (decision, reason, metrics) on a model version."""
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, str(value)[:5000])


def _alias_absent(client: MlflowClient, name: str, alias: str) -> bool:
    try:
        return alias not in client.get_registered_model(name).aliases
    except MlflowException as error:
        if error.error_code == RESOURCE_DOES_NOT_EXIST_CODE:
            return True
        raise


def _retrying(
    call: Callable[[], T],
    client: MlflowClient,
    name: str,
    alias: str | None,
    retry: RetryPolicy,
) -> T:
    """`call()`, retried as `retry` says, then a `RegistryError` naming what and where."""
    attempts = max(1, retry.attempts)
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except Exception as error:  # noqa: BLE001 - every failure is either retried or raised
            last = error
            if attempt < attempts:
                time.sleep(retry.backoff_seconds * 2 ** (attempt - 1))
    target = f"model {name!r}" + (f", alias {alias!r}" if alias is not None else "")
    detail = f"{type(last).__name__}: {str(last)[:500]}"
    for secret in _passwords(client):
        detail = detail.replace(secret, "***")
    raise RegistryError(
        f"the model registry could not be read for {target} at {_describe_store(client)} after "
        f"{attempts} attempts: {detail}. Check that the tracking server or database is reachable "
        "and readable (MLFLOW_TRACKING_URI), then run again; nothing was changed in the registry."
    ) from last


def _store_uris(client: MlflowClient) -> tuple[str, str]:
    tracking = str(client.tracking_uri)
    return tracking, str(getattr(client, "_registry_uri", None) or tracking)


def _describe_store(client: MlflowClient) -> str:
    """`tracking URI ...`, plus the registry URI when it differs, passwords masked."""
    tracking, registry = (redact_uri(uri) for uri in _store_uris(client))
    if registry == tracking:
        return f"tracking URI {tracking}"
    return f"tracking URI {tracking} (registry URI {registry})"


def _passwords(client: MlflowClient) -> set[str]:
    return {p for uri in _store_uris(client) if (p := urlsplit(uri).password)}


def redact_uri(uri: str) -> str:
    """The URI without a password (`https://user:secret@host` -> `https://user:***@host`)."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
