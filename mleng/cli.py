"""The `mleng` command: draft a card, train a model, write a suite; serve, deploy, roll back.

Flows are imported lazily, at the moment one runs, so `mleng --help` stays fast and the core
never depends on the orchestrator.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mleng.errors import MlengError
from mleng.runtime import apply_runtime_defaults, exit_process, read_exit_code
from mleng.serving.commands import register as register_serving
from mleng.stack_commands import register as register_stack

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Machine learning engineering for tabular models.",
)
expectations_app = typer.Typer(
    no_args_is_help=True, help="Great Expectations suites for dataset cards."
)
app.add_typer(expectations_app, name="expectations")
card_app = typer.Typer(no_args_is_help=True, help="Dataset cards: draft one for a data file.")
app.add_typer(card_app, name="card")
# Logs and CI are not terminals: rich would wrap tables at 80 columns there.
console = Console() if sys.stdout.isatty() else Console(width=160)
errors = Console(stderr=True) if sys.stderr.isatty() else Console(stderr=True, width=160)


def fail(error: Exception) -> None:
    """Print a user-facing error without a traceback and exit non-zero."""
    errors.print(
        f"[bold red]error:[/] {escape(str(error))}", markup=True, highlight=False, soft_wrap=True
    )
    raise typer.Exit(code=2)


@app.command()
def train(  # noqa: PLR0913 - a typer command takes one parameter per option
    card: Annotated[Path, typer.Argument(help="Dataset card (YAML), e.g. configs/adult.yaml")],
    budget: Annotated[
        int | None, typer.Option(help="Total search evaluations (default: the card's)")
    ] = None,
    seed: Annotated[
        int,
        typer.Option(
            help="Seed for the search, features, data checks and bootstrap (the split needs none)"
        ),
    ] = 42,
    strategy: Annotated[
        str | None, typer.Option(help="coarse_to_fine | random | grid (default: the card's)")
    ] = None,
    bootstrap_resamples: Annotated[
        int, typer.Option(help="Bootstrap resamples for intervals")
    ] = 1000,
    time_budget: Annotated[
        float | None,
        typer.Option(help="Wall time for the search in seconds (default: the card's)"),
    ] = None,
    runner: Annotated[
        str | None,
        typer.Option(
            help="Where trials run: threads | dask | sequential (default: the card's "
            "search.runner; dask needs PREFECT_API_URL)"
        ),
    ] = None,
) -> None:
    """Run the `train` flow on CARD: validate, search, evaluate, register."""
    apply_runtime_defaults()
    try:
        from mleng.card import load_card

        load_card(card).with_overrides(budget, strategy, time_budget, runner)
        from flows.train import train as train_flow

        summary = train_flow(
            card_path=str(card),
            budget=budget,
            seed=seed,
            strategy=strategy,
            bootstrap_resamples=bootstrap_resamples,
            time_budget_s=time_budget,
            runner=runner,
        )
    except MlengError as error:
        fail(error)
    print_summary(summary)


def print_summary(summary) -> None:
    """The end-of-run tables, then where to look next."""
    overview = Table(title=f"mleng train: {summary.card_name}", show_header=False)
    overview.add_row("data validation", summary.validation)
    overview.add_row(
        "rows train / test", f"{summary.rows.get('train')} / {summary.rows.get('test')}"
    )
    for name, value in summary.baselines.items():
        overview.add_row(f"baseline {name} ({summary.metric})", f"{value:.4f}")
    overview.add_row("search", summary.search)
    if summary.decision_rule:
        overview.add_row("decision rule", summary.decision_rule)
    overview.add_row(
        "registered model",
        f"{summary.model_name} v{summary.model_version}  aliases: {', '.join(summary.aliases)}",
    )
    overview.add_row("promotion", f"{summary.decision}: {summary.reason}")
    overview.add_row(
        "MLflow parent run", f"{summary.parent_run_id} (experiment {summary.experiment_id})"
    )
    console.print(overview)

    families = Table(title=f"Best configuration per family (CV {summary.metric})")
    for column in ("family", "CV mean", "CV std", "trials", "params"):
        families.add_column(column)
    for family, best in summary.best_per_family.items():
        params = ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in best["params"].items()
        )
        name = f"{family} *" if family == summary.best_family else family
        families.add_row(
            name, f"{best['score']:.4f}", f"{best['std']:.4f}", str(best["trials"]), params
        )
    console.print(families)

    metrics = Table(title="Test metrics of the new model (95% bootstrap intervals)")
    for column in ("metric", "value", "interval"):
        metrics.add_column(column)
    for name, (value, low, high) in summary.test_metrics.items():
        metrics.add_row(name, f"{value:.4f}", f"[{low:.4f}, {high:.4f}]")
    console.print(metrics)

    stages = Table(title="Time per stage")
    stages.add_column("stage")
    stages.add_column("seconds", justify="right")
    for stage, seconds in summary.stage_seconds.items():
        stages.add_row(stage, f"{seconds:.1f}")
    stages.add_row("total", f"{sum(summary.stage_seconds.values()):.1f}")
    console.print(stages)

    store = summary.tracking_uri
    console.print(
        "\nOpen the MLflow UI:  "
        + (
            f"mlflow ui --backend-store-uri {store} --port 5000"
            if store.startswith("sqlite")
            else store
        )
        + f"   then http://127.0.0.1:5000/#/experiments/{summary.experiment_id}/runs/{summary.parent_run_id}"
        + "\nOpen the Prefect UI: prefect server start --host 127.0.0.1 --port 4200   then http://127.0.0.1:4200"
        + "\n(set PREFECT_API_URL=http://127.0.0.1:4200/api before `mleng train` to see runs there)"
    )


@expectations_app.command("init")
def expectations_init(
    card: Annotated[Path, typer.Argument(help="Dataset card (YAML)")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing suite")] = False,
) -> None:
    """Profile the card's data and write its Great Expectations suite for review and commit."""
    apply_runtime_defaults()
    try:
        from mleng.card import load_card, resolve_expectations_path
        from mleng.data import loading as data
        from mleng.validation import suites as validation

        checked = load_card(card)
        frame = data.build_examples(data.load_dataset(checked), checked)
        columns = data.infer_feature_columns(frame, checked)
        suite = validation.build_suite(frame, checked, columns.numeric, columns.categorical)
        path = resolve_expectations_path(checked)
        validation.save_suite(suite, path, overwrite=force)
    except MlengError as error:
        fail(error)
    console.print(
        f"wrote {len(suite['expectations'])} expectations to {path}; review the file and commit it"
    )


@card_app.command("init")
def card_init(
    data: Annotated[
        Path, typer.Argument(help="Data file: .csv (optionally compressed) or .parquet")
    ],
    target: Annotated[str, typer.Option(help="The column to predict")],
    out: Annotated[
        Path | None, typer.Option(help="Card to write (default: configs/<name>.yaml here)")
    ] = None,
    task: Annotated[
        str | None,
        typer.Option(help="binary | multiclass | regression (default: inferred from the target)"),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing card and suite")
    ] = False,
) -> None:
    """Draft a card for DATA (task, column roles, default search; guesses flagged REVIEW) and
    write its expectation suite, so `mleng train` runs on it as it is."""
    apply_runtime_defaults()
    try:
        from mleng.data import profile
        from mleng.validation import suites as validation

        card_path = out if out is not None else profile.default_card_path(data)
        name = profile.card_name(card_path)
        profile.refuse_overwrite([card_path, profile.project_suite_path(card_path, name)], force)
        draft = profile.draft_card(data, target, card_path, task=task)
        checked, examples, columns = profile.check_draft(draft)
        suite = validation.build_suite(examples, checked, columns.numeric, columns.categorical)
        validation.save_suite(suite, draft.suite_path, overwrite=force)
        profile.write_card(draft, overwrite=force)
    except MlengError as error:
        fail(error)
    roles = draft.roles
    flagged = len(roles.flags)
    console.print(
        f"wrote card {draft.card_path} (task {draft.task.task}, {len(columns.numeric)} numeric and "
        f"{len(columns.categorical)} categorical inputs, ids {roles.id_columns or 'none'}, "
        f"timestamp {roles.timestamp_column or 'none'}; {flagged} line(s) marked REVIEW)\n"
        f"wrote {len(suite['expectations'])} expectations to {draft.suite_path}\n"
        f"review both, then run: mleng train {draft.card_path}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


register_serving(app, console, fail)
register_stack(app, console, fail)


def main() -> None:
    """The `mleng` command (and `python -m mleng.cli`): run it, then exit without the
    interpreter's teardown (`runtime.exit_process`: 1.4 s after a `train` run)."""
    try:
        app()  # standalone typer: always ends in SystemExit
        code = 0
    except SystemExit as stop:
        code = read_exit_code(stop.code)
        if not isinstance(stop.code, int | None):
            print(stop.code, file=sys.stderr)
    except KeyboardInterrupt:
        code = 130
    except BaseException:  # noqa: BLE001 - printed as the interpreter would, then exit 1
        traceback.print_exc()
        code = 1
    exit_process(code)


if __name__ == "__main__":
    main()
