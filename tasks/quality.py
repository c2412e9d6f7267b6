"""Data-stage tasks: the five data questions, leakage, bias and sampling, reported three ways
(Prefect markdown artifact, MLflow artifacts with plots, JSON) and enforced by the card's policies."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from mleng import quality
from mleng.card import DatasetCard
from mleng.data import sampling
from mleng.data.loading import FeatureColumns
from mleng.errors import DataQualityFailed
from mleng.evaluation import Predictions
from mleng.tracking import runs as tracking


@task(cache_policy=NO_CACHE)
def sample_data(frame: pd.DataFrame, card: DatasetCard, seed: int) -> pd.DataFrame:
    """Cap the rows as the card's sampling settings say (random, systematic or stratified)."""
    return sampling.limit_rows(
        frame, card.data_checks.sampling, card.target, seed, regression=card.task == "regression"
    )


def enforce_policies(
    findings: list, frame: pd.DataFrame, stage: str, source: str
) -> quality.PolicyOutcome:
    """Apply fail / warn / drop; a failure stops the flow with every reason listed."""
    outcome = quality.apply_policies(findings, frame)
    if outcome.fail_messages:
        reasons = "\n".join(f"  - {message}" for message in outcome.fail_messages)
        raise DataQualityFailed(
            f"{stage} checks on {source} ({len(frame)} rows) failed:\n{reasons}\n"
            "Fix the data, or set the detector's policy to warn or drop under data_checks.policies in the card. "
            "Nothing was trained or registered."
        )
    return outcome


def log_figure(client: MlflowClient, run_id: str, figure: plt.Figure, artifact_file: str) -> None:
    client.log_figure(run_id, figure, artifact_file)
    plt.close(figure)


@task(cache_policy=NO_CACHE)
def check_data(
    frame: pd.DataFrame,
    card: DatasetCard,
    columns: FeatureColumns,
    seed: int,
    client: MlflowClient,
    run_id: str,
) -> tuple[pd.DataFrame, FeatureColumns]:
    """Answer the five data questions, detect leakage and biased samples or labels, apply the policies."""
    settings = card.data_checks
    report = quality.build_data_report(frame, card, settings, seed=seed)
    leakage = quality.detect_leakage(frame, card, columns, settings, seed)
    bias_sections = []
    if settings.reference_path is not None:
        reference = quality.read_reference_sample(settings.reference_path)
        bias_sections.append(
            quality.compare_with_reference(frame, reference, columns.all, settings)
        )
    if settings.sensitive_columns:
        bias_sections.append(
            quality.measure_label_rates(
                frame, card.target, card.task, card.positive_label, settings
            )
        )
    findings = [
        *report.findings,
        *leakage.findings,
        *(f for section in bias_sections for f in section.findings),
    ]

    markdown = "\n\n".join(
        [
            quality.render_report_markdown(report),
            "# Leakage\n\n" + quality.render_leakage_markdown(leakage),
            *("# Bias\n\n" + quality.render_bias_markdown(section) for section in bias_sections),
        ]
    )
    create_markdown_artifact(
        markdown, key="data-report", description=f"Data report for {card.path}"
    )
    tracking.log_text(client, run_id, markdown, "data_report/report.md")
    tracking.log_json(
        client,
        run_id,
        {
            "report": report.to_dict(),
            "leakage": leakage.to_dict(),
            "bias": [s.to_dict() for s in bias_sections],
        },
        "data_report/report.json",
    )
    if report.learning_curve is not None:
        log_figure(
            client,
            run_id,
            quality.plot_learning_curve(report.learning_curve),
            "data_report/learning_curve.png",
        )
    log_figure(
        client,
        run_id,
        quality.plot_missing_values(report.usability),
        "data_report/missing_values.png",
    )
    counts = {
        policy: sum(f.policy == policy for f in findings) for policy in ("fail", "warn", "drop")
    }
    tracking.log_values(
        client,
        run_id,
        metrics={f"data_findings_{policy}": count for policy, count in counts.items()}
        | {f"data_check_seconds_{step}": value for step, value in report.seconds.items()},
    )
    outcome = enforce_policies(findings, frame, "Data", str(card.path))
    for warning in outcome.warnings:
        print(f"data check warning: {warning}")
    kept = FeatureColumns(
        [c for c in columns.numeric if c not in outcome.dropped_columns],
        [c for c in columns.categorical if c not in outcome.dropped_columns],
    )
    if outcome.dropped_columns:
        tracking.log_values(
            client, run_id, tags={"data.dropped_columns": ",".join(outcome.dropped_columns)}
        )
    return outcome.frame, kept


@task(cache_policy=NO_CACHE)
def check_split(
    train: pd.DataFrame, test: pd.DataFrame, card: DatasetCard, client: MlflowClient, run_id: str
) -> None:
    """Rows shared by train and test, and time overlap of a temporal split, inflate the test score.

    A shared row is one equal in every column (target included): rows that merely agree on a few
    features are a property of the data, not a duplicate.
    """
    settings = card.data_checks
    findings = quality.detect_split_overlap(train, test, list(train.columns), settings)
    if card.timestamp_column:
        findings += quality.detect_temporal_overlap(train, test, card.timestamp_column, settings)
    if findings:
        tracking.log_text(
            client,
            run_id,
            quality.render_findings_markdown(findings),
            "data_report/split_checks.md",
        )
    outcome = enforce_policies(findings, train, "Split", str(card.path))
    for warning in outcome.warnings:
        print(f"split check warning: {warning}")


@task(cache_policy=NO_CACHE)
def measure_group_fairness(
    card: DatasetCard,
    test_rows: pd.DataFrame,
    predictions: Predictions,
    client: MlflowClient,
    run_id: str,
) -> None:
    """Model metrics per group of each sensitive column, with intervals, flagging large gaps."""
    settings = card.data_checks
    if not settings.sensitive_columns:
        return
    y_true = test_rows[card.target].to_numpy()
    y_score = None
    metrics = (
        ["mae", "rmse"]
        if card.task == "regression"
        else ["accuracy", "true_positive_rate", "false_positive_rate"]
    )
    if card.task == "binary" and predictions.proba is not None and predictions.classes is not None:
        positive = (
            card.positive_label if card.positive_label is not None else predictions.classes[-1]
        )
        y_score = predictions.proba[:, list(predictions.classes).index(positive)]
        metrics.append("roc_auc")
    if card.task == "multiclass":
        metrics = ["accuracy"]
    report = quality.measure_group_performance(
        test_rows,
        y_true,
        np.asarray(predictions.y_pred),
        settings,
        metrics,
        card.positive_label,
        y_score,
    )
    markdown = "# Model metrics per group\n\n" + quality.render_bias_markdown(report)
    create_markdown_artifact(
        markdown, key="group-fairness", description="Test metrics per sensitive group"
    )
    tracking.log_text(client, run_id, markdown, "evaluation/group_fairness.md")
    tracking.log_json(client, run_id, report.to_dict(), "evaluation/group_fairness.json")
