"""Data tasks: load the card and the data, validate against the expectation suite, split."""

from __future__ import annotations

import pandas as pd
from mlflow import MlflowClient
from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from mleng.card import DatasetCard, load_card, resolve_expectations_path
from mleng.data import loading as data
from mleng.errors import ValidationFailed
from mleng.tracking import runs as tracking
from mleng.validation import suites as validation


@task(cache_policy=NO_CACHE)
def read_card(
    card_path: str, budget: int | None = None, strategy: str | None = None
) -> DatasetCard:
    """Read and check the dataset card, applying flow-level overrides."""
    card = load_card(card_path)
    if budget is not None:
        card = card.with_budget(budget)
    if strategy is not None:
        card.search.strategy = strategy  # type: ignore[assignment]
    return card


@task(
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=2,
    retry_condition_fn=lambda t, r, s: isinstance(s.result(raise_on_failure=False), OSError),
)
def load_data(card: DatasetCard) -> pd.DataFrame:
    """Read the dataset as training examples (windows over a series when the card asks); transient
    I/O errors are retried, bad files fail at once with a clear error."""
    return data.build_examples(data.load_dataset(card), card)


@task(cache_policy=NO_CACHE)
def validate_data(
    frame: pd.DataFrame, card: DatasetCard, client: MlflowClient, run_id: str
) -> validation.ValidationReport:
    """Validate the batch against its suite; publish the report; stop the flow when it fails."""
    suite_path = resolve_expectations_path(card)
    suite = validation.load_suite(suite_path)
    report = validation.validate_frame(frame, suite, source=str(card.path))
    markdown = validation.render_report_markdown(report)
    create_markdown_artifact(
        markdown, key="data-validation", description=f"Validation of {card.path}"
    )
    tracking.log_text(client, run_id, markdown, "data_validation/report.md")
    tracking.log_text(
        client, run_id, validation.render_report_html(report), "data_validation/report.html"
    )
    tracking.log_json(client, run_id, report.to_dict(), "data_validation/report.json")
    failures = report.failures
    tracking.log_values(
        client,
        run_id,
        metrics={"data_rows": report.n_rows, "data_expectations_failed": len(failures)},
        tags={
            "data.validation": "passed" if report.success else "failed",
            "data.suite": str(suite_path),
        },
    )
    if not report.success:
        lines = [
            f"  - {outcome.expectation} on column '{outcome.column}': {outcome.unexpected_count if outcome.unexpected_count is not None else 'n/a'} bad rows"
            for outcome in failures[:20]
        ]
        raise ValidationFailed(
            f"Data file {card.path} ({report.n_rows} rows) failed {len(failures)} of {len(report.outcomes)} expectations "
            f"in suite {suite_path}:\n"
            + "\n".join(lines)
            + "\nFix the data, or if the change is intended, regenerate the suite "
            "with `mleng expectations init` and review the diff. Nothing was trained or registered."
        )
    return report


@task(cache_policy=NO_CACHE)
def split_data(
    frame: pd.DataFrame, card: DatasetCard, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seeded train/test split: temporal with a timestamp, stratified for classification."""
    return data.split_dataset(frame, card, seed)
