"""Feature tasks: the features report (power, cost, reliability, correlation) for reviewers."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from mleng.data.split import SplitData
from mleng.features.report import build_features_report, render_features_markdown
from tasks.context import RunContext


@task(cache_policy=NO_CACHE)
def report_features(context: RunContext, split: SplitData) -> dict:
    """Per feature: predictive power, cost, reliability and strong associations with the others."""
    card = context.card
    report = build_features_report(
        split.train_x, split.train_y, split.test_x, split.columns, card, seed=context.seed
    )
    context.publish_markdown(
        render_features_markdown(report), "features-report", f"Features of {card.name}",
        "features/report.md",
    )  # fmt: skip
    context.log_json(report, "features/report.json")
    return report
