"""Data-stage tasks: sampling, the five data questions, leakage and bias, reported three ways
(Prefect markdown artifact, MLflow artifacts with plots, JSON) and enforced by the card's
policies; the split's overlap checks; model metrics per sensitive group."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from mleng.card import DatasetCard
from mleng.data.loading import FeatureColumns
from mleng.data.sampling import limit_rows
from mleng.data.sources import describe_source
from mleng.data.split import SplitData
from mleng.evaluation import Predictions
from mleng.quality.checks import (
    check_split,
    drop_columns,
    enforce_policies,
    measure_model_fairness,
    run_data_checks,
)
from mleng.quality.findings import Finding
from mleng.quality.markdown import render_bias_markdown, render_findings_markdown
from mleng.quality.size import LearningCurve
from tasks.context import RunContext


@task(cache_policy=NO_CACHE)
def sample_data(frame: pd.DataFrame, card: DatasetCard, seed: int) -> pd.DataFrame:
    """Cap the rows as the card's sampling settings say (random, systematic or stratified)."""
    regression = card.task == "regression"
    return limit_rows(frame, card.data_checks.sampling, card.target, seed, regression=regression)


@dataclass(frozen=True)
class CheckedData:
    """What the data stage hands on: the frame and columns kept, the findings that only warn,
    and the learning curve's extrapolation for the model card (None when it made none)."""

    frame: pd.DataFrame
    columns: FeatureColumns
    warnings: list[Finding]
    more_data: str | None


def log_extrapolation(context: RunContext, curve: LearningCurve | None) -> str | None:
    """The rows a stated gain would take, as run metrics and a tag; returns the tag's text for
    the model card, so no later stage has to read the run back."""
    if curve is None or curve.extrapolation is None:
        return None
    found = curve.extrapolation
    metrics = {"data_extrapolation_gain": found.gain, "data_curve_exponent": found.exponent}
    if math.isfinite(found.rows_needed):
        metrics["data_rows_needed_for_gain"] = found.rows_needed
    explanation = found.explanation[:500]
    context.log(metrics=metrics, tags={"data.more_data": explanation})
    print(f"learning curve: {found.explanation}")
    return explanation


@task(cache_policy=NO_CACHE)
def check_data(context: RunContext, frame: pd.DataFrame, columns: FeatureColumns) -> CheckedData:
    """Answer the five data questions, detect leakage and biased samples or labels, apply the
    policies; return the frame and columns kept, the findings that only warn and the learning
    curve's extrapolation."""
    card = context.card
    checks = run_data_checks(frame, card, columns, context.seed)
    context.publish_markdown(
        checks.render_markdown(), "data-report", f"Data report for {card.display_path}",
        "data_report/report.md",
    )  # fmt: skip
    context.log_json(checks.to_dict(), "data_report/report.json")
    context.log_figures(checks.render_figures(), folder="data_report")
    seconds = {f"data_check_seconds_{step}": value for step, value in checks.report.seconds.items()}
    counts = {f"data_findings_{policy}": n for policy, n in checks.count_findings().items()}
    context.log(metrics=counts | seconds)
    more_data = log_extrapolation(context, checks.report.learning_curve)
    outcome = enforce_policies(checks.findings, frame, "Data", describe_source(card))
    for warning in outcome.warnings:
        print(f"data check warning: {warning}")
    if outcome.dropped_columns:
        context.log(tags={"data.dropped_columns": ",".join(outcome.dropped_columns)})
    warned = [finding for finding in checks.findings if finding.policy == "warn"]
    kept = drop_columns(columns, outcome.dropped_columns)
    return CheckedData(outcome.frame, kept, warned, more_data)


@task(cache_policy=NO_CACHE)
def check_split_rows(context: RunContext, split: SplitData) -> None:
    """Rows shared by train and test, and time overlap of a temporal split, stop or warn."""
    findings = check_split(split, context.card)
    if findings:
        context.log_text(render_findings_markdown(findings), "data_report/split_checks.md")
    outcome = enforce_policies(findings, split.train_rows, "Split", describe_source(context.card))
    for warning in outcome.warnings:
        print(f"split check warning: {warning}")


@task(cache_policy=NO_CACHE)
def measure_group_fairness(
    context: RunContext, test_rows: pd.DataFrame, predictions: Predictions
) -> None:
    """Model metrics per group of each sensitive column, with intervals, flagging large gaps."""
    report = measure_model_fairness(context.card, test_rows, predictions, context.seed)
    if report is None:
        return
    markdown = "# Model metrics per group\n\n" + render_bias_markdown(report)
    context.publish_markdown(
        markdown, "group-fairness", "Test metrics per sensitive group",
        "evaluation/group_fairness.md",
    )  # fmt: skip
    context.log_json(report.to_dict(), "evaluation/group_fairness.json")
