"""Shared fixtures: a real Adult sample, isolated MLflow stores, one temporary Prefect server."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from mleng.runtime import apply_runtime_defaults

apply_runtime_defaults()
os.environ["PREFECT_TASKS_DEFAULT_NO_CACHE"] = "true"
if "PYTEST_XDIST_WORKER" in os.environ:  # each worker its own Prefect home (profiles, storage)
    _home = Path(tempfile.gettempdir()) / f"mleng-prefect-{os.environ['PYTEST_XDIST_WORKER']}"
    _home.mkdir(exist_ok=True)
    os.environ["PREFECT_HOME"] = str(_home)

import pandas as pd
import pytest

from tests.helpers import ADULT


@pytest.fixture(scope="session")
def adult_frame() -> pd.DataFrame:
    """A seeded 3,000-row sample of the real Adult data."""
    return pd.read_csv(ADULT).sample(n=3000, random_state=7).reset_index(drop=True)


@pytest.fixture
def isolated_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh MLflow sqlite store and working folder per test.

    Flows call `mlflow.set_tracking_uri`, which outlives a test; so the fixture points MLflow's
    process-wide URIs at this store too (and restores them), not only the environment variable.
    """
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    before = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    yield tmp_path
    mlflow.set_tracking_uri(before[0])
    mlflow.set_registry_uri(before[1])


@pytest.fixture(autouse=True, scope="module")
def restore_tracking_uris() -> Iterator[None]:
    """Each test module leaves MLflow's process-wide tracking and registry URIs (and the
    environment variable) as it found them: a module fixture that points them at its own store
    must not send a later module's `MlflowClient(uri)` registry reads elsewhere."""
    import mlflow.tracking._model_registry.utils as registry_utils
    import mlflow.tracking._tracking_service.utils as tracking_utils

    before = (
        os.environ.get("MLFLOW_TRACKING_URI"),
        tracking_utils._tracking_uri,
        registry_utils._registry_uri,
    )
    yield
    if before[0] is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = before[0]
    tracking_utils._tracking_uri, registry_utils._registry_uri = before[1], before[2]


@pytest.fixture(scope="session")
def prefect_server():
    """One temporary Prefect server for every flow test (10-20 s to start here)."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield PREFECT_API_URL.value()


@pytest.fixture
def run_cli(prefect_server, isolated_store):
    """Run `mleng` as a real process against the test's store and the shared Prefect server."""

    def run(*args: str) -> subprocess.CompletedProcess:
        env = {
            **os.environ,
            "PREFECT_API_URL": prefect_server,
            "MLFLOW_TRACKING_URI": os.environ["MLFLOW_TRACKING_URI"],
        }
        return subprocess.run(
            [sys.executable, "-m", "mleng.cli", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=isolated_store,
            timeout=600,
            check=False,
        )

    return run
