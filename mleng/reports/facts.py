"""The model card's facts, gathered from one run's summary, evidence, assessment and decision."""

from __future__ import annotations

from sklearn.base import BaseEstimator

from mleng.assessment.assess import Assessment, TestEvidence
from mleng.card import DatasetCard
from mleng.promotion import PromotionDecision
from mleng.reports import model_card
from mleng.reports.summary import TrainSummary
from mleng.training.threshold import describe_decision_rule, read_threshold, unwrap_pipeline


def describe_decision(card: DatasetCard, model: BaseEstimator) -> list[str]:
    """The model card's line on how labels are decided, when a tuned threshold decides them."""
    if read_threshold(model) is None:
        return []
    return [f"- decision threshold: {describe_decision_rule(card, model)}"]


def gather_model_card_facts(
    card: DatasetCard,
    summary: TrainSummary,
    model: BaseEstimator,
    evidence: TestEvidence,
    assessment: Assessment,
    decision: PromotionDecision,
) -> model_card.ModelCardFacts:
    """Everything a reviewer reads about the new version, in the model card's terms."""
    return model_card.ModelCardFacts(
        model_name=summary.model_name,
        version=summary.model_version,
        task=card.task,
        data=model_card.DataFacts(
            card.display_path, summary.rows, summary.validation, summary.data_warnings
        ),
        features=describe_decision(card, model)
        + model_card.describe_pipeline(unwrap_pipeline(model)),
        search=model_card.SearchFacts(
            card.search.strategy,
            card.search.budget,
            card.metric,
            summary.best_per_family,
            summary.best_family,
        ),
        metrics=evidence.intervals,
        baselines=evidence.baselines,
        slices=assessment.slices,
        robustness=assessment.robustness_markdown,
        shift=assessment.shift_markdown + "\n\n" + assessment.coverage_markdown,
        promotion=model_card.build_promotion_facts(decision),
        limits=[
            (
                f"evaluated on {summary.rows.get('test', 0)} held-out rows from the same source; "
                "performance on other populations is unknown"
            ),
            "search trials were scored on at most search.max_rows training rows",
        ],
        figures=assessment.figure_paths,
    )
