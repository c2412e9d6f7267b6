"""Assessment tasks: what the test metrics alone do not say, and the model card that gathers it
all for a reviewer."""

from __future__ import annotations

from dataclasses import replace

from prefect import task
from prefect.cache_policies import NO_CACHE
from sklearn.base import BaseEstimator

from mleng.assessment.assess import Assessment, TestEvidence
from mleng.assessment.assess import assess_model as assess_in_core
from mleng.data.split import SplitData
from mleng.promotion import PromotionDecision
from mleng.reports.embedding import embed_figures, render_html_page, render_png
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
    images = {name: render_png(figure) for name, figure in assessment.figures.items()}
    assessment.figure_paths = context.log_images(images)
    assessment.figure_images = dict(
        zip(assessment.figure_paths.values(), images.values(), strict=True)
    )
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
    facts = replace(facts, worth=summary.worth or None)
    markdown = render_model_card(facts)
    title = f"Model card for {summary.model_name} v{summary.model_version}"
    embedded = embed_figures(markdown, assessment.figure_images)
    context.log_text(markdown, "model_card.md")
    context.log_text(render_html_page(embedded, title), "model_card.html")
    context.publish_prefect_markdown(embedded, "model-card", title)
    return markdown
