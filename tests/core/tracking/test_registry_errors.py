"""Registry reads fail closed: None only when MLflow says "does not exist", else RegistryError.

Real stores: sqlite files in tmp_path, a closed local port, and (slow) a real `mlflow server`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import BAD_REQUEST

from mleng.errors import MlengError, RegistryError
from mleng.tracking import registry
from tests.core.tracking.process_helpers import free_port, running, venv_env

NO_WAIT = registry.RetryPolicy(attempts=3, backoff_seconds=0.0)


@pytest.fixture(scope="module")
def migrated_db(tmp_path_factory) -> Path:
    """An empty, migrated sqlite store (migrating takes seconds: done once, copied per test)."""
    path = tmp_path_factory.mktemp("template") / "registry.db"
    uri = f"sqlite:///{path}"
    MlflowClient(tracking_uri=uri, registry_uri=uri).search_registered_models()
    return path


@pytest.fixture
def sqlite_client(migrated_db: Path, tmp_path: Path) -> tuple[MlflowClient, Path]:
    path = tmp_path / "registry.db"
    shutil.copyfile(migrated_db, path)
    uri = f"sqlite:///{path}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri), path


@pytest.fixture
def closed_port_client(monkeypatch: pytest.MonkeyPatch) -> MlflowClient:
    """A REST client for a port nothing listens on; MLflow's own HTTP retries turned down."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    uri = f"http://127.0.0.1:{free_port()}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def test_missing_model_and_missing_alias_are_none(sqlite_client):
    client, _ = sqlite_client
    assert registry.find_alias_version(client, "adult", registry.CHAMPION) is None
    client.create_registered_model("adult")
    assert registry.find_alias_version(client, "adult", registry.CHAMPION) is None


def test_mlflow_codes_for_missing_model_and_alias_on_sqlite(sqlite_client):
    """What `find_alias_version` relies on (MLflow 3.17)."""
    client, _ = sqlite_client
    with pytest.raises(MlflowException) as missing_model:
        client.get_model_version_by_alias("adult", registry.CHAMPION)
    assert missing_model.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    client.create_registered_model("adult")
    with pytest.raises(MlflowException) as missing_alias:
        client.get_model_version_by_alias("adult", registry.CHAMPION)
    assert missing_alias.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "alias champion not found" in missing_alias.value.message


def test_unreachable_server_raises_registry_error_after_retries(closed_port_client, monkeypatch):
    sleeps: list[float] = []
    monkeypatch.setattr(registry.time, "sleep", sleeps.append)
    with pytest.raises(RegistryError) as raised:
        registry.find_alias_version(closed_port_client, "adult", registry.CHAMPION)
    message = str(raised.value)
    assert "'adult'" in message and "'champion'" in message
    assert closed_port_client.tracking_uri in message
    assert "3 attempts" in message and "Connection refused" in message
    assert sleeps == [0.5, 1.0]  # the default policy: 3 attempts, doubling from 0.5 s
    assert isinstance(raised.value, MlengError)


def test_unreadable_sqlite_raises_registry_error(sqlite_client):
    client, path = sqlite_client
    client.create_registered_model("adult")
    path.write_bytes(b"this is no longer a database" * 512)
    with pytest.raises(RegistryError, match=r"'adult'.*'champion'.*sqlite:///") as raised:
        registry.find_alias_version(client, "adult", registry.CHAMPION, retry=NO_WAIT)
    # MLflow 3.17 wraps sqlite3.DatabaseError as BAD_REQUEST: not an answer about the model.
    assert isinstance(raised.value.__cause__, MlflowException)
    assert raised.value.__cause__.error_code == "BAD_REQUEST"


def test_invalid_parameter_that_is_not_a_missing_alias_is_not_none(sqlite_client):
    """INVALID_PARAMETER_VALUE also means a malformed request: not taken for "no champion"."""
    client, _ = sqlite_client
    with pytest.raises(RegistryError, match="Missing value for required parameter 'name'"):
        registry.find_alias_version(client, "", registry.CHAMPION, retry=NO_WAIT)


def test_a_transient_error_is_retried_then_answered(sqlite_client):
    client, _ = sqlite_client
    client.create_registered_model("adult")
    flaky = _FailingFirst(client, failures=2)
    assert registry.find_alias_version(flaky, "adult", registry.CHAMPION, retry=NO_WAIT) is None
    assert flaky.calls == 3


def test_register_version_does_not_create_a_model_when_the_store_fails(closed_port_client):
    spy = _CreateSpy(closed_port_client)
    with pytest.raises(RegistryError, match=r"'adult'.* at tracking URI http://127\.0\.0\.1"):
        registry.register_version(spy, "models:/m-1", "adult", "run", {}, retry=NO_WAIT)
    assert spy.created == []


def test_register_version_creates_the_model_only_when_mlflow_says_it_is_missing(sqlite_client):
    client, _ = sqlite_client
    spy = _CreateSpy(client)
    with pytest.raises(MlflowException):  # no such model version source: the create went ahead
        registry.register_version(spy, "models:/m-missing", "adult", "run", {}, retry=NO_WAIT)
    assert spy.created == ["adult"]


def test_registry_error_masks_a_password_in_the_uri(monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    uri = f"http://user:s3cret@127.0.0.1:{free_port()}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    with pytest.raises(RegistryError) as raised:
        registry.find_alias_version(client, "adult", registry.CHAMPION, retry=NO_WAIT)
    assert "s3cret" not in str(raised.value)
    assert "user:***@127.0.0.1" in str(raised.value)


@pytest.mark.slow
def test_rest_server_codes_and_a_server_gone_away(tmp_path, monkeypatch):
    """The same answers through a real `mlflow server`; once it stops, RegistryError."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [
        *("mlflow", "server", "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}"),
        *("--artifacts-destination", str(tmp_path / "artifacts")),
        *("--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
    ]
    env = venv_env(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    with running(args, f"{url}/health", tmp_path / "server.log", env):
        client = MlflowClient(tracking_uri=url, registry_uri=url)
        with pytest.raises(MlflowException) as missing_model:
            client.get_model_version_by_alias("adult", registry.CHAMPION)
        assert missing_model.value.error_code == "RESOURCE_DOES_NOT_EXIST"
        assert registry.find_alias_version(client, "adult", registry.CHAMPION) is None
        client.create_registered_model("adult")
        with pytest.raises(MlflowException) as missing_alias:
            client.get_model_version_by_alias("adult", registry.CHAMPION)
        assert missing_alias.value.error_code == "INVALID_PARAMETER_VALUE"
        assert registry.find_alias_version(client, "adult", registry.CHAMPION) is None
    with pytest.raises(RegistryError, match=rf"'adult'.*'champion'.*{url}"):
        registry.find_alias_version(client, "adult", registry.CHAMPION, retry=NO_WAIT)


class _FailingFirst:
    """A real client whose first `failures` alias lookups fail as a locked sqlite store does."""

    def __init__(self, client: MlflowClient, failures: int):
        self._client, self._failures, self.calls = client, failures, 0
        self.tracking_uri = client.tracking_uri

    def get_model_version_by_alias(self, name: str, alias: str):
        self.calls += 1
        if self.calls <= self._failures:
            raise MlflowException("(sqlite3.OperationalError) database is locked", BAD_REQUEST)
        return self._client.get_model_version_by_alias(name, alias)

    def __getattr__(self, attribute: str):
        return getattr(self._client, attribute)


class _CreateSpy:
    """A real client that records which registered models it was asked to create."""

    def __init__(self, client: MlflowClient):
        self._client, self.created = client, []
        self.tracking_uri = client.tracking_uri

    def create_registered_model(self, name: str, **kwargs):
        self.created.append(name)
        return self._client.create_registered_model(name, **kwargs)

    def __getattr__(self, attribute: str):
        return getattr(self._client, attribute)
