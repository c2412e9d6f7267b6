"""What `mleng stack` runs: its settings, each process's command, environment and URLs."""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from mleng.errors import MlengError
from mleng.runtime import RUNTIME_DEFAULTS

# Start order; `down` stops in the reverse order (the service and the worker before the servers
# they talk to: a worker whose server is gone hangs in its retries).
PROCESS_NAMES = ("prefect", "mlflow", "worker", "service")
DEFAULT_CARD = Path("configs") / "adult.yaml"


class StackError(MlengError):
    """The stack cannot start or stop as asked; the message names the process and the fix."""


class StackSettings(BaseModel):
    """Where the stack keeps its data and which ports it listens on (all on one host)."""

    model_config = ConfigDict(extra="forbid")

    project_dir: Path = Field(default_factory=Path.cwd)
    home: Path | None = None  # default: <project_dir>/.mleng
    host: str = "127.0.0.1"
    prefect_port: int = Field(4200, ge=1, le=65535)
    mlflow_port: int = Field(5000, ge=1, le=65535)
    service_port: int = Field(8000, ge=1, le=65535)
    model_name: str | None = None  # default: the model_name of configs/adult.yaml
    work_pool: str = "local-process"
    worker_name: str = "mleng-stack"
    start_timeout: float = Field(120.0, gt=0)
    stop_timeout: float = Field(20.0, gt=0)
    # A PostgreSQL server (`postgresql://user:password@host:5432`) for a team: Prefect, MLflow
    # and the prediction log each get a database on it (DATABASES), created at the first `up`.
    # None keeps them in SQLite files under the home folder, fine for one person.
    database_url: str | None = None
    # Where MLflow stores artifacts (models, reports): a folder every machine of the team mounts
    # at the same path. Default: <home>/mlartifacts.
    artifact_root: Path | None = None

    @model_validator(mode="after")
    def _resolve(self) -> StackSettings:
        self.project_dir = self.project_dir.expanduser().resolve()
        self.home = (self.home or self.project_dir / ".mleng").expanduser().resolve()
        ports = [self.prefect_port, self.mlflow_port, self.service_port]
        if len(set(ports)) < len(ports):
            raise ValueError(f"the prefect, mlflow and service ports must differ, got {ports}")
        if self.database_url is not None:
            check_database_url(self.database_url)
        self.artifact_root = (self.artifact_root or self.home / "mlartifacts").expanduser()
        self.artifact_root = self.artifact_root.resolve()
        if self.model_name is None:
            # Left unset when the card is unreadable: only starting the service needs it.
            with contextlib.suppress(StackError):
                self.model_name = card_model_name(self.project_dir / DEFAULT_CARD)
        return self

    @property
    def prefect_url(self) -> str:
        return f"http://{self.host}:{self.prefect_port}"

    @property
    def prefect_api(self) -> str:
        return f"{self.prefect_url}/api"

    @property
    def mlflow_url(self) -> str:
        return f"http://{self.host}:{self.mlflow_port}"

    @property
    def service_url(self) -> str:
        return f"http://{self.host}:{self.service_port}"

    @property
    def deployment_file(self) -> Path:
        return self.project_dir / "deployment.yaml"

    def path(self, *parts: str) -> Path:
        """A path inside the stack's home folder."""
        return Path(self.home, *parts)

    def log_path(self, name: str) -> Path:
        return self.path("logs", f"{name}.log")

    def record_path(self, name: str) -> Path:
        return self.path("pids", f"{name}.json")

    @property
    def keys_file(self) -> Path:
        """The service's key file: hashes only."""
        return self.path("keys.json")

    @property
    def clear_keys_file(self) -> Path:
        """The keys made at first start, in clear, readable by the owner only (mode 0600)."""
        return self.path("keys.txt")

    @property
    def prediction_log(self) -> str:
        if self.database_url is not None:
            return database_in(self.database_url, "predictions", "psycopg")
        return f"sqlite:///{self.path('predictions.db')}"

    @property
    def mlflow_backend(self) -> str:
        if self.database_url is not None:
            return database_in(self.database_url, "mlflow", "psycopg")
        return f"sqlite:///{self.path('mlflow.db')}"

    @property
    def prefect_database(self) -> str | None:
        """Prefect's server database URL, or None for its default SQLite file."""
        if self.database_url is None:
            return None
        return database_in(self.database_url, "prefect", "asyncpg")


# The stack's databases on a PostgreSQL server, by what they hold.
DATABASES = {
    "prefect": "mleng_prefect",
    "mlflow": "mleng_mlflow",
    "predictions": "mleng_predictions",
}


def check_database_url(url: str) -> None:
    """Refuse anything but a PostgreSQL server URL, naming the expected form."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        parsed = None
    if parsed is None or parsed.get_backend_name() != "postgresql" or not parsed.host:
        raise ValueError(
            "database_url must be a PostgreSQL server URL such as "
            "postgresql://user:password@host:5432 (the stack creates its own databases on it)"
        )


def database_in(url: str, purpose: str, driver: str) -> str:
    """The URL of the stack's `purpose` database on the server of `url`, with `driver`."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url).set(drivername=f"postgresql+{driver}", database=DATABASES[purpose])
    return parsed.render_as_string(hide_password=False)


def card_model_name(card: Path) -> str:
    try:
        name = (yaml.safe_load(card.read_text()) or {}).get("model_name")
    except (OSError, yaml.YAMLError, AttributeError) as error:
        raise StackError(
            f"cannot read the model name from {card} ({error}); pass --model NAME"
        ) from error
    if not name:
        raise StackError(f"{card} has no model_name; pass --model NAME")
    return str(name)


@dataclass(frozen=True)
class ProcessSpec:
    """One process of the stack: how to start it, where it answers, where it logs."""

    name: str
    argv: list[str]
    port: int | None
    health_url: str
    url: str  # what a person opens


def bin_path(program: str) -> str:
    """`program` from this interpreter's environment (the venv), so children match this mleng."""
    return str(Path(sys.executable).parent / program)


def process_specs(settings: StackSettings) -> dict[str, ProcessSpec]:
    """The four processes, by name, in start order."""
    host = settings.host
    # The backend store (with its password) goes by environment, not argv, where `ps` shows it.
    mlflow_argv = [bin_path("mlflow"), "server", "--artifacts-destination"]
    mlflow_argv += [str(settings.artifact_root), "--host", host]
    mlflow_argv += ["--port", str(settings.mlflow_port), "--workers", "1"]
    model = settings.model_name or ""
    service_argv = [sys.executable, "-m", "mleng.cli", "serve", "--model", model]
    service_argv += ["--keys", str(settings.keys_file), "--host", host]
    service_argv += ["--port", str(settings.service_port)]  # the log: MLENG_PREDICTION_LOG
    pool = settings.work_pool
    prefect = bin_path("prefect")
    specs = [
        ProcessSpec(
            "prefect",
            [prefect, "server", "start", "--host", host, "--port", str(settings.prefect_port)],
            settings.prefect_port,
            f"{settings.prefect_api}/health",
            settings.prefect_url,
        ),
        ProcessSpec(
            "mlflow",
            mlflow_argv,
            settings.mlflow_port,
            f"{settings.mlflow_url}/health",
            settings.mlflow_url,
        ),
        ProcessSpec(
            "worker",
            [prefect, "worker", "start", "--pool", pool, "--name", settings.worker_name],
            None,
            f"{settings.prefect_api}/work_pools/{pool}/workers/filter",
            f"{settings.prefect_url}/work-pools/work-pool/{pool}",
        ),
        ProcessSpec(
            "service",
            service_argv,
            settings.service_port,
            f"{settings.service_url}/ready",
            f"{settings.service_url}/docs",
        ),
    ]
    return {spec.name: spec for spec in specs}


def child_environment(settings: StackSettings) -> dict[str, str]:
    """The environment of every child: this one, the runtime defaults, and the stack's URLs."""
    env = dict(os.environ)
    for key, value in RUNTIME_DEFAULTS.items():
        env.setdefault(key, value)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")]).rstrip(os.pathsep)
    env |= {
        "PREFECT_HOME": str(settings.path("prefect")),  # server database, profiles: kept
        "PREFECT_API_URL": settings.prefect_api,
        "PREFECT_UI_API_URL": settings.prefect_api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "MLFLOW_TRACKING_URI": settings.mlflow_url,
        "MLFLOW_REGISTRY_URI": settings.mlflow_url,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_BACKEND_STORE_URI": settings.mlflow_backend,
        # The log the service writes: deployment.yaml passes it to the `monitor` runs.
        "MLENG_PREDICTION_LOG": settings.prediction_log,
        "PYTHONUNBUFFERED": "1",  # logs as they happen, not at exit
    }
    if settings.prefect_database is not None:
        env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = settings.prefect_database
    return env
