"""Real Adult versions in a real MLflow store, registered as the train flow registers them, and a
real `mleng serve` process on a free port, for the service's tests and benchmark."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from sklearn.base import BaseEstimator, ClassifierMixin

from mleng.card import load_card
from mleng.data.loading import FeatureColumns
from mleng.data.split import SplitData
from mleng.features.pipeline import build_feature_pipeline, build_model_pipeline
from mleng.serving.fast_path import record_serving_facts
from mleng.serving.keys import create_key
from mleng.tracking import registry
from mleng.training.estimators import build_estimator
from tests.core.tracking.process_helpers import free_port, running, venv_env
from tests.helpers import ADULT, ADULT_CATEGORICAL, ADULT_NUMERIC, ROOT

NAME = "adult-service"
TARGET = "class"


def adult_split(n_train: int = 3000, n_test: int = 1000, seed: int = 3) -> SplitData:
    """Real Adult rows split in two, with the registered column roles."""
    frame = pd.read_csv(ADULT).sample(n=n_train + n_test, random_state=seed)
    frame = frame.reset_index(drop=True)
    frame[TARGET] = frame[TARGET].str.strip(" .")
    keys = np.arange(len(frame)).astype(str)
    return SplitData(
        columns=FeatureColumns(list(ADULT_NUMERIC), list(ADULT_CATEGORICAL)),
        target=TARGET,
        train_rows=frame.iloc[:n_train],
        test_rows=frame.iloc[n_train:],
        train_keys=keys[:n_train],
        test_keys=keys[n_train:],
    )


def fit_adult_model(split: SplitData, family: str = "hist_gradient_boosting", seed: int = 0):
    """The demo card's feature pipeline and `family`, fitted on the split's training rows."""
    settings = load_card(ROOT / "configs" / "adult.yaml").features
    features = build_feature_pipeline(
        ADULT_NUMERIC, ADULT_CATEGORICAL, settings, "binary", ">50K", seed
    )
    params = {"max_iter": 40} if family == "hist_gradient_boosting" else {}
    estimator = build_estimator(family, params, "binary", seed)
    model = build_model_pipeline(features, estimator, ADULT_NUMERIC, ADULT_CATEGORICAL)
    return model.fit(split.train_x, split.train_y)


class NonFiniteClassifier(ClassifierMixin, BaseEstimator):
    """A broken model for canary tests: fits, then answers NaN probabilities for every row."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        return np.full((len(X), len(self.classes_)), np.nan)

    def predict(self, X):
        return np.full(len(X), self.classes_[0])


def fit_broken_model(split: SplitData):
    """A real pipeline whose estimator answers NaN: the service must never return its output."""
    features = build_feature_pipeline(ADULT_NUMERIC, ADULT_CATEGORICAL)
    model = build_model_pipeline(features, NonFiniteClassifier(), ADULT_NUMERIC, ADULT_CATEGORICAL)
    return model.fit(split.train_x, split.train_y)


def register_adult_version(
    client: MlflowClient, model: Any, split: SplitData, name: str = NAME
) -> str:
    """Log and register `model` with its contract and serving facts, as the flow does."""
    experiment = client.get_experiment_by_name(name) or client.get_experiment(
        client.create_experiment(name)
    )
    run = client.create_run(experiment.experiment_id)
    columns = split.columns
    uri = registry.log_model_contract(
        run.info.run_id, model, split.train_x, columns.numeric, columns.categorical, name
    )
    tags = record_serving_facts(client, run.info.run_id, model, split, "binary")
    version = registry.register_version(client, uri, name, run.info.run_id, tags)
    client.set_terminated(run.info.run_id)
    return version


def request_rows(split: SplitData, n_rows: int, start: int = 0) -> list[dict[str, Any]]:
    """Test rows as JSON records (nulls for missing values)."""
    rows = split.test_x.iloc[start : start + n_rows]
    return json.loads(rows.to_json(orient="records"))


@dataclass
class ServiceProcess:
    """A running `mleng serve` and what a test needs to call it."""

    url: str
    keys: dict[str, str]
    log_url: str
    log_path: Path
    process: subprocess.Popen

    def call(
        self, method: str, path: str, body: Any = None, role: str | None = "predict", **options
    ) -> tuple[int, Any]:
        """(status, decoded JSON or text) of one real HTTP request."""
        headers = dict(options.get("headers", {}))
        key = options.get("key") or (self.keys.get(role) if role else None)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        data = body
        if body is not None and not isinstance(body, bytes):
            data = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, _decode(response.read(), response.headers)
        except urllib.error.HTTPError as error:
            return error.code, _decode(error.read(), error.headers)


def _decode(payload: bytes, headers: Any) -> Any:
    if "json" in (headers.get("content-type") or ""):
        return json.loads(payload)
    return payload.decode()


def create_keys(path: Path) -> dict[str, str]:
    return {role: create_key(path, role)[1] for role in ("predict", "feedback", "admin")}


@contextlib.contextmanager
def serve(
    folder: Path, tracking_uri: str, name: str = NAME, *extra: str
) -> Iterator[ServiceProcess]:
    """`mleng serve` as a real process on 127.0.0.1, stopped by its process id however the test
    ends."""
    keys_path = folder / "keys.json"
    keys = create_keys(keys_path)
    port = free_port()
    log_path = folder / f"predictions-{port}.db"
    log_url = f"sqlite:///{log_path}"
    args = [
        sys.executable, "-m", "mleng.cli", "serve", "--model", name, "--keys", str(keys_path),
        "--port", str(port), "--log", log_url, "--refresh-seconds", "0.5", *extra,
    ]  # fmt: skip
    env = venv_env(MLFLOW_TRACKING_URI=tracking_uri, PYTHONPATH=str(ROOT))
    url = f"http://127.0.0.1:{port}"
    with running(args, f"{url}/ready", folder / f"serve-{port}.log", env, timeout=120) as process:
        yield ServiceProcess(url, keys, log_url, log_path, process)


def tracking_store(folder: Path) -> str:
    """A fresh sqlite tracking store, with MLflow's process-wide URIs pointed at it."""
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    os.environ["MLFLOW_TRACKING_URI"] = uri
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri
