"""Data tasks: load the card and the data, validate against the expectation suite, split and
record what the run saw."""

from __future__ import annotations

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from mleng.card import DatasetCard, load_card, resolve_expectations_path
from mleng.data.chunks import SAMPLE_ATTR
from mleng.data.loading import FeatureColumns, build_examples, load_dataset
from mleng.data.sources import describe_source
from mleng.data.split import SplitData, split_dataset
from mleng.tracking import datasets
from mleng.validation.report import (
    ValidationReport,
    raise_for_failures,
    render_validation_html,
    render_validation_markdown,
)
from mleng.validation.suites import load_suite, validate_frame
from tasks.context import RunContext


@task(cache_policy=NO_CACHE)
def read_card(
    card_path: str,
    budget: int | None = None,
    strategy: str | None = None,
    time_budget_s: float | None = None,
    runner: str | None = None,
) -> DatasetCard:
    """Read and check the dataset card, applying flow-level overrides."""
    return load_card(card_path).with_overrides(budget, strategy, time_budget_s, runner)


@task(
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=2,
    retry_condition_fn=lambda t, r, s: isinstance(s.result(raise_on_failure=False), OSError),
)
def load_data(card: DatasetCard) -> pd.DataFrame:
    """Read the dataset as training examples (windows over a series when the card asks); transient
    I/O errors are retried, bad files fail at once with a clear error."""
    return build_examples(load_dataset(card), card)


@task(cache_policy=NO_CACHE)
def validate_data(context: RunContext, frame: pd.DataFrame) -> ValidationReport:
    """Validate the batch against its suite; publish the report; stop the flow when it fails."""
    card = context.card
    suite_path = resolve_expectations_path(card)
    source = describe_source(card)
    if SAMPLE_ATTR in frame.attrs:  # larger than memory: say the suite saw a sample
        source = f"{source} ({frame.attrs[SAMPLE_ATTR]})"
    report = validate_frame(frame, load_suite(suite_path), source=source)
    context.publish_markdown(
        render_validation_markdown(report), "data-validation", f"Validation of {card.display_path}",
        "data_validation/report.md",
    )  # fmt: skip
    context.log_text(render_validation_html(report), "data_validation/report.html")
    context.log_json(report.to_dict(), "data_validation/report.json")
    context.log(
        metrics={"data_rows": report.n_rows, "data_expectations_failed": len(report.failures)},
        tags={
            "data.validation": "passed" if report.success else "failed",
            "data.suite": suite_path.name,
        },
    )
    raise_for_failures(report, suite_path)
    return report


@task(cache_policy=NO_CACHE)
def split_data(context: RunContext, frame: pd.DataFrame, columns: FeatureColumns) -> SplitData:
    """Split by stable row keys (or time); log both sides as the run's dataset inputs and the
    training rows' keys, so later runs compare models only on rows neither trained on."""
    split = split_dataset(frame, context.card, columns)
    datasets.log_split(context.client, context.run_id, split, context.card)
    return split
