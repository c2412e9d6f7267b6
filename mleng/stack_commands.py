"""`mleng stack up | down | status`: the local stack of `make up` (see `mleng.stack`).

Registered on the main `mleng` app by `mleng.cli`. `up` and `down` exit 0 when done and 2 with a
message naming the process, port or log otherwise; `status` always exits 0.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from mleng.errors import MlengError

stack_app = typer.Typer(
    no_args_is_help=True,
    help="The local stack: Prefect server, MLflow server, worker, prediction service.",
)

Home = Annotated[
    Path | None,
    typer.Option(
        help="Folder for the stack's data, logs and pids", show_default="PROJECT_DIR/.mleng"
    ),
]
Project = Annotated[
    Path, typer.Option(help="Project folder (deployment.yaml, configs/); runs start there")
]
PrefectPort = Annotated[int, typer.Option(help="Prefect server port")]
MlflowPort = Annotated[int, typer.Option(help="MLflow tracking server port")]
ServicePort = Annotated[int, typer.Option(help="Prediction service port")]
Model = Annotated[
    str | None,
    typer.Option(
        help="Registered model the service serves",
        show_default="model_name of configs/adult.yaml",
    ),
]

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        help="PostgreSQL server for Prefect, MLflow and the prediction log "
        "(postgresql://user:password@host:5432); default: SQLite files in the home folder",
        envvar="MLENG_DATABASE_URL",
        show_default=False,
    ),
]
ArtifactRoot = Annotated[
    Path | None,
    typer.Option(
        help="MLflow artifact folder, shared by the team's machines",
        show_default="HOME/mlartifacts",
    ),
]


def register(app: typer.Typer, console, fail) -> None:
    """Add `stack` to `app`, printing with `console` and failing with `fail`."""
    app.add_typer(stack_app, name="stack")

    def settings_of(**given):
        from pydantic import ValidationError

        from mleng.stack import StackSettings

        try:
            return StackSettings(**{k: v for k, v in given.items() if v is not None})
        except ValidationError as error:
            first = error.errors()[0]
            where = "-".join(map(str, first["loc"]))
            message = first["msg"].removeprefix("Value error, ")
            option = (
                f" (--{where.replace('_', '-').replace('model-name', 'model')})" if where else ""
            )
            fail(MlengError(f"invalid stack settings{option}: {message}"))
        except MlengError as error:
            fail(error)

    @stack_app.command()
    def up(  # noqa: PLR0913 - a typer command takes one parameter per option
        home: Home = None,
        project_dir: Project = Path("."),
        prefect_port: PrefectPort = 4200,
        mlflow_port: MlflowPort = 5000,
        service_port: ServicePort = 8000,
        model: Model = None,
        database_url: DatabaseUrl = None,
        artifact_root: ArtifactRoot = None,
    ) -> None:
        """Start what is not running yet, wait until each answers, deploy deployment.yaml."""
        from mleng.stack import start_stack

        settings = settings_of(
            home=home, project_dir=project_dir, prefect_port=prefect_port,
            mlflow_port=mlflow_port, service_port=service_port, model_name=model,
            database_url=database_url, artifact_root=artifact_root,
        )  # fmt: skip
        started = time.perf_counter()
        try:
            state = start_stack(settings)
        except MlengError as error:
            what = "what did start keeps running: see `mleng stack status`, stop `mleng stack down`"
            fail(MlengError(f"{error}\n({what})"))
        seconds = time.perf_counter() - started
        what = f"started {', '.join(state.started)}" if state.started else "nothing to start"
        console.print(f"mleng stack up: {what} ({seconds:.1f} s)", markup=False)
        _show(console, state.processes, settings)
        for note in state.notes:
            console.print(f"- {note}", markup=False, soft_wrap=True)
        keys_noted = any(str(settings.clear_keys_file) in note for note in state.notes)
        if settings.clear_keys_file.exists() and not keys_noted:
            console.print(f"- service keys: {settings.clear_keys_file}", markup=False)
        console.print(
            f"Use it from a shell: export PREFECT_API_URL={settings.prefect_api} "
            f"MLFLOW_TRACKING_URI={settings.mlflow_url}\n"
            "Stop it with `mleng stack down` (make down); see it with `mleng stack status`.",
            markup=False,
            soft_wrap=True,
        )

    @stack_app.command()
    def down(
        home: Home = None,
        project_dir: Project = Path("."),
        prefect_port: PrefectPort = 4200,
        mlflow_port: MlflowPort = 5000,
        service_port: ServicePort = 8000,
        model: Model = None,
    ) -> None:
        """Stop exactly the processes `up` recorded (service and worker first); keep the data."""
        del model  # accepted so that `up`, `down` and `status` take the same options
        from mleng.stack import stop_stack

        settings = settings_of(
            home=home, project_dir=project_dir, prefect_port=prefect_port,
            mlflow_port=mlflow_port, service_port=service_port,
        )  # fmt: skip
        started = time.perf_counter()
        report = stop_stack(settings)
        seconds = time.perf_counter() - started
        if not report.stopped:
            console.print("mleng stack down: nothing was running", markup=False)
        for name, pid, killed in report.stopped:
            how = "killed after the timeout" if killed else "stopped"
            console.print(f"{name} (pid {pid}): {how}", markup=False)
        for run in report.crashed_runs:
            console.print(f"flow run {run}: stopped mid-way, marked crashed", markup=False)
        if report.busy_ports:
            fail(MlengError("; ".join(report.busy_ports)))
        if report.stopped:
            console.print(f"mleng stack down: ports free ({seconds:.1f} s); data kept in "
                          f"{settings.home}", markup=False)  # fmt: skip

    @stack_app.command()
    def status(
        home: Home = None,
        project_dir: Project = Path("."),
        prefect_port: PrefectPort = 4200,
        mlflow_port: MlflowPort = 5000,
        service_port: ServicePort = 8000,
        model: Model = None,
    ) -> None:
        """What runs: pid, alive, answering its health check, URL and log of each process."""
        from mleng.stack import stack_status

        settings = settings_of(
            home=home, project_dir=project_dir, prefect_port=prefect_port,
            mlflow_port=mlflow_port, service_port=service_port, model_name=model,
        )  # fmt: skip
        _show(console, stack_status(settings), settings)


def _show(console, processes, settings) -> None:
    """The processes as a table, then what to do about those not running."""
    table = Table(title=f"mleng stack ({settings.home})")
    for column in ("process", "pid", "state", "url", "log"):
        table.add_column(column)
    for process in processes:
        pid = str(process.pid) if process.alive else "-"
        table.add_row(process.name, pid, process.note, process.url, str(process.log_path))
    console.print(table)
    for process in processes:
        if process.hint:
            console.print(f"- {process.hint}", markup=False, soft_wrap=True)
