"""Evaluation tasks: baselines and the refit model on the test rows with bootstrap intervals, the
paired comparison with the current champion, and the gate."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE
from sklearn.base import BaseEstimator

from mleng import evaluation, promotion
from mleng.data.split import SplitData
from mleng.evaluation.champion import compare_with_incumbent, score_baselines
from mleng.tracking import registry
from tasks.context import RunContext


@task(cache_policy=NO_CACHE)
def evaluate_baselines(context: RunContext, split: SplitData) -> dict[str, dict[str, float]]:
    """Score zero-rule, random and (if the card gives one) heuristic baselines on the same test
    rows; every model is read against them."""
    scores = score_baselines(context.card, split, context.seed)
    context.log(
        metrics={
            f"baseline_{name}_{metric}": value
            for name, values in scores.items()
            for metric, value in values.items()
        }
    )
    return scores


@task(cache_policy=NO_CACHE)
def evaluate_on_test(
    context: RunContext, model: BaseEstimator, split: SplitData
) -> tuple[evaluation.Predictions, dict[str, evaluation.MetricInterval]]:
    """Test metrics with bootstrap 95% intervals, logged as test_<metric>[_ci_low|_ci_high]."""
    card = context.card
    predictions = evaluation.predict_with(model, split.test_x)
    truth = evaluation.Truth(card.task, split.test_y, card.positive_label)
    resampling = evaluation.Resampling(context.bootstrap_resamples, seed=context.seed)
    intervals = evaluation.bootstrap_metrics(
        truth, predictions, resampling, method=card.evaluation.bootstrap_method
    )
    metrics: dict[str, float] = {}
    for name, interval in intervals.items():
        metrics[f"test_{name}"] = interval.estimate
        metrics[f"test_{name}_ci_low"] = interval.low
        metrics[f"test_{name}_ci_high"] = interval.high
    context.log(metrics=metrics, params={"bootstrap_resamples": context.bootstrap_resamples})
    return predictions, intervals


@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=2)
def compare_with_champion(
    context: RunContext, challenger: evaluation.Predictions, split: SplitData
) -> promotion.ChampionComparison:
    """Paired bootstrap of challenger against champion on the test rows neither trained on.

    The champion gets the raw rows with every column, so a champion trained on other features
    is still compared fairly."""
    card = context.card
    version = registry.find_alias_version(context.client, card.model_name, registry.CHAMPION)
    if version is None:
        return promotion.ChampionComparison(champion_version=None)
    return compare_with_incumbent(context.client, card, version, challenger, split, context.seed,
                                  context.bootstrap_resamples)  # fmt: skip


@task(cache_policy=NO_CACHE)
def gate_promotion(
    context: RunContext, evidence: promotion.GateEvidence
) -> promotion.PromotionDecision:
    """Apply the card's promotion policy; every check is recorded, passed or failed."""
    card = context.card
    return promotion.decide_promotion(
        card.promotion, card.metric, card.lower_is_better, evidence,
        max_latency_ms=card.requirements.max_latency_ms,
    )  # fmt: skip
