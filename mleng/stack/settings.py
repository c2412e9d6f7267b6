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

    @model_validator(mode="after")
    def _resolve(self) -> StackSettings:
        self.project_dir = self.project_dir.expanduser().resolve()
        self.home = (self.home or self.project_dir / ".mleng").expanduser().resolve()
        ports = [self.prefect_port, self.mlflow_port, self.service_port]
        if len(set(ports)) < len(ports):
            raise ValueError(f"the prefect, mlflow and service ports must differ, got {ports}")
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
        return f"sqlite:///{self.path('predictions.db')}"


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
    mlflow_argv = [bin_path("mlflow"), "server", "--backend-store-uri"]
    mlflow_argv += [f"sqlite:///{settings.path('mlflow.db')}", "--artifacts-destination"]
    mlflow_argv += [str(settings.path("mlartifacts")), "--host", host]
    mlflow_argv += ["--port", str(settings.mlflow_port), "--workers", "1"]
    model = settings.model_name or ""
    service_argv = [sys.executable, "-m", "mleng.cli", "serve", "--model", model]
    service_argv += ["--keys", str(settings.keys_file), "--host", host]
    service_argv += ["--port", str(settings.service_port), "--log", settings.prediction_log]
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
        # The log the service writes: deployment.yaml passes it to the `monitor` runs.
        "MLENG_PREDICTION_LOG": settings.prediction_log,
        "PYTHONUNBUFFERED": "1",  # logs as they happen, not at exit
    }
    return env
