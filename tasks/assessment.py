"""Assessment tasks: what the test metrics alone do not say, and the model card that gathers it
all for a reviewer."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE
from sklearn.base import BaseEstimator

from mleng.assessment.assess import Assessment, TestEvidence
from mleng.assessment.assess import assess_model as assess_in_core
from mleng.data.split import SplitData
from mleng.promotion import PromotionDecision
from mleng.reports.facts import gather_model_card_facts
from mleng.reports.model_card import render_model_card
from mleng.reports.summary import TrainSummary
from mleng.search.engine import TrialResult
from tasks.context import RunContext


@task(cache_policy=NO_CACHE)
def assess_model(
    context: RunContext,
    model: BaseEstimator,
    evidence: TestEvidence,
    results: list[TrialResult],
    split: SplitData,
) -> Assessment:
    """Figures, per-slice metrics, epsilon-delta robustness, train/test shift and neuron
    coverage; figures go under plots/, numbers to the run's metrics."""
    assessment = assess_in_core(context.card, model, evidence, results, split, context.seed)
    assessment.figure_paths = context.log_figures(assessment.figures)
    context.log(metrics=assessment.metrics)
    return assessment


@task(cache_policy=NO_CACHE)
def publish_model_card(
    context: RunContext,
    summary: TrainSummary,
    model: BaseEstimator,
    evidence: TestEvidence,
    assessment: Assessment,
    decision: PromotionDecision,
) -> str:
    """The model card as a Prefect artifact `model-card` and an MLflow artifact `model_card.md`."""
    facts = gather_model_card_facts(context.card, summary, model, evidence, assessment, decision)
    markdown = render_model_card(facts)
    description = f"Model card for {summary.model_name} v{summary.model_version}"
    context.publish_markdown(markdown, "model-card", description, "model_card.md")
    return markdown
