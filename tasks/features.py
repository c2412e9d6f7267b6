"""Feature tasks: the features report (power, cost, reliability, correlation) for reviewers."""

from __future__ import annotations

import pandas as pd
from mlflow import MlflowClient
from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from mleng.card import DatasetCard
from mleng.data.loading import FeatureColumns
from mleng.features.report import build_features_report, render_features_markdown
from mleng.tracking import runs as tracking


@task(cache_policy=NO_CACHE)
def report_features(
    card: DatasetCard,
    columns: FeatureColumns,
    train_features: pd.DataFrame,
    train_target: pd.Series,
    test_features: pd.DataFrame,
    seed: int,
    client: MlflowClient,
    run_id: str,
) -> dict:
    """Per feature: predictive power, cost, reliability and strong associations with the others."""
    report = build_features_report(
        train_features,
        train_target,
        test_features,
        card.task,
        columns.numeric,
        columns.categorical,
        settings=card.features,
        seed=seed,
    )
    markdown = render_features_markdown(report)
    create_markdown_artifact(
        markdown, key="features-report", description=f"Features of {card.name}"
    )
    tracking.log_text(client, run_id, markdown, "features/report.md")
    tracking.log_json(client, run_id, report, "features/report.json")
    return report
