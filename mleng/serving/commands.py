"""`mleng serve | keys create | deploy | rollback | export | ab-test`: the serving commands.

Registered on the main `mleng` app by `mleng.cli`. Each exits 0 on success and 2 with a message
naming the problem and the fix otherwise; nothing is changed in the registry when a command fails.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from mleng.errors import MlengError

DEFAULT_LOG = "sqlite:///predictions.db"
keys_app = typer.Typer(no_args_is_help=True, help="API keys of the prediction service.")


def register(app: typer.Typer, console, fail) -> None:
    """Add the serving commands to `app`, printing with `console` and failing with `fail`."""
    app.add_typer(keys_app, name="keys")

    @keys_app.command("create")
    def keys_create(
        role: Annotated[str, typer.Option(help="predict | feedback | admin")],
        file: Annotated[Path, typer.Option(help="Key file (JSON; created if absent)")],
    ) -> None:
        """Add a key with ROLE to FILE (only its hash is stored); print the key, last line."""
        from mleng.serving.keys import create_key

        try:
            key_id, key = create_key(file, role)
        except MlengError as error:
            fail(error)
        print(f"created {role} key {key_id} in {file}; store it now, it is not kept:")
        print(key)

    @app.command()
    def serve(  # noqa: PLR0913 - a command's options are its interface
        model: Annotated[str, typer.Option(help="Registered model name")],
        keys: Annotated[Path, typer.Option(help="Key file made by `mleng keys create`")],
        host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port")] = 8000,
        log: Annotated[
            str,
            typer.Option(
                help="Prediction log: SQLAlchemy URL (sqlite file by default)",
                envvar="MLENG_PREDICTION_LOG",
            ),
        ] = DEFAULT_LOG,
        refresh_seconds: Annotated[
            float, typer.Option(help="How often the registry's aliases are read")
        ] = 1.0,
        max_rows: Annotated[int, typer.Option(help="Rows per request at most")] = 10_000,
    ) -> None:
        """Serve models:/MODEL@champion over HTTP (FastAPI on uvicorn), following the registry."""
        from mleng.runtime import apply_runtime_defaults

        apply_runtime_defaults()
        import uvicorn

        from mleng.serving.app import create_app
        from mleng.serving.keys import read_keys
        from mleng.serving.requests import Limits
        from mleng.serving.snapshot import ServiceSettings

        try:
            if not read_keys(keys):
                raise MlengError(
                    f"the key file {keys} holds no keys; create one with "
                    f"`mleng keys create --role predict --file {keys}`"
                )
            settings = ServiceSettings(
                model_name=model,
                keys_path=keys,
                log_url=log,
                limits=Limits(max_rows=max_rows),
                refresh_seconds=refresh_seconds,
            )
            application = create_app(settings)
        except MlengError as error:
            fail(error)
        logging.basicConfig(format="%(asctime)s %(name)s %(message)s", level=logging.WARNING)
        logging.getLogger("mleng.serving").setLevel(logging.INFO)
        print(f"mleng serve: http://{host}:{port} (model {model}, keys {keys})", flush=True)
        uvicorn.run(application, host=host, port=port, log_level="warning", access_log=False)

    @app.command()
    def deploy(
        model: Annotated[str, typer.Option(help="Registered model name")],
        strategy: Annotated[str, typer.Option(help="single | shadow | canary | bandit")],
        fraction: Annotated[
            float | None, typer.Option(help="canary: share of callers sent to the challenger")
        ] = None,
        version: Annotated[
            str | None,
            typer.Option(help="single: the version to make champion; others: the challenger"),
        ] = None,
        policy: Annotated[
            str | None, typer.Option(help="bandit: thompson | epsilon_greedy | ucb1")
        ] = None,
        holdout: Annotated[
            float | None, typer.Option(help="share of callers held out from the model")
        ] = None,
    ) -> None:
        """Set how the service shares traffic; `single` moves champion (default: the
        challenger)."""
        from pydantic import ValidationError

        from mleng.serving import deployment
        from mleng.serving.strategy import ServingStrategy

        given = {"kind": strategy, "fraction": fraction, "bandit_policy": policy}
        given |= {"holdout_fraction": holdout}
        try:
            chosen = ServingStrategy(**{k: v for k, v in given.items() if v is not None})
            state = deployment.deploy_strategy(_client(), model, chosen, version)
        except ValidationError as error:
            first = error.errors()[0]
            fail(MlengError(f"invalid --{'-'.join(map(str, first['loc']))}: {first['msg']}"))
        except MlengError as error:
            fail(error)
        console.print(
            f"{model}: strategy {state.strategy.kind}, champion v{state.champion}, challenger "
            f"v{state.challenger}; running services follow within their refresh interval",
            markup=False,
        )

    @app.command()
    def rollback(model: Annotated[str, typer.Option(help="Registered model name")]) -> None:
        """Move champion back to the previous champion (from the history in the model's tags)."""
        from mleng.tracking import registry

        client = _client()  # importing the store's SQLAlchemy code is not the rollback's time
        started = time.perf_counter()
        try:
            previous, current = registry.roll_back_champion(client, model)
        except MlengError as error:
            fail(error)
        console.print(
            f"{model}: champion v{previous} -> v{current} ({time.perf_counter() - started:.2f} s)",
            markup=False,
        )

    @app.command()
    def export(
        model: Annotated[str, typer.Option(help="Registered model name")],
        out: Annotated[Path, typer.Option(help="New or empty folder for the bundle")],
        alias: Annotated[str, typer.Option(help="Alias to export")] = "champion",
    ) -> None:
        """Write a self-contained bundle (MLflow model folder, requirements, README)."""
        from mleng.serving import deployment

        try:
            folder = deployment.export_model(model, out, alias)
        except MlengError as error:
            fail(error)
        console.print(f"exported {model}@{alias} to {folder}", markup=False)

    @app.command("ab-test")
    def ab_test(
        model: Annotated[str, typer.Option(help="Registered model name")],
        log: Annotated[str, typer.Option(help="Prediction log URL the service wrote")] = (
            DEFAULT_LOG
        ),
        alpha: Annotated[float, typer.Option(help="Error rate of the always-valid test")] = 0.05,
    ) -> None:
        """Compare the served arms on logged rewards with always-valid intervals (mSPRT)."""
        from mleng.serving.online import compare_arms

        try:
            report = compare_arms(log, model, alpha)
        except MlengError as error:
            fail(error)
        table = Table(title=f"{model}: online comparison (always-valid, alpha {alpha})")
        for column in ("arm", "versus", "n", "mean reward", "difference", "interval", "p"):
            table.add_column(column)
        for row in report.rows:
            table.add_row(*row)
        console.print(table)
        console.print(report.verdict, markup=False)


def _client():
    from mlflow import MlflowClient

    from mleng.runtime import apply_runtime_defaults

    apply_runtime_defaults()
    return MlflowClient()
