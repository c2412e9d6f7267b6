"""Evaluation tasks: baselines and the refit model on the test rows with bootstrap intervals, the
paired comparison with the current champion, and the gate."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE
from sklearn.base import BaseEstimator

from mleng import evaluation, promotion
from mleng.data.split import SplitData
from mleng.evaluation import simple
from mleng.evaluation.champion import compare_with_incumbent, row_costs, score_baselines
from mleng.evaluation.costs import EXPECTED_COST, bootstrap_expected_cost
from mleng.evaluation.simple import SimpleVerdict
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
    if card.costs is not None:  # logged as test_expected_cost[_ci_low|_ci_high], per decision
        costs = row_costs(card, split.test_y, predictions)
        intervals[EXPECTED_COST] = bootstrap_expected_cost(costs, resampling)
    metrics: dict[str, float] = {}
    for name, interval in intervals.items():
        metrics[f"test_{name}"] = interval.estimate
        metrics[f"test_{name}_ci_low"] = interval.low
        metrics[f"test_{name}_ci_high"] = interval.high
    context.log(metrics=metrics, params={"bootstrap_resamples": context.bootstrap_resamples})
    return predictions, intervals


@task(cache_policy=NO_CACHE)
def weigh_simple_baselines(
    context: RunContext,
    predictions: evaluation.Predictions,
    scores: dict[str, dict[str, float]],
    split: SplitData,
) -> SimpleVerdict:
    """Pair the model with the best simple baseline on the same test rows and, with costs,
    report every expected cost per 1,000 decisions; logged as `simple_*` and `*_per_1000`."""
    card = context.card
    inputs = simple.gather_simple_inputs(card, split, predictions, scores, context.seed)
    resampling = evaluation.Resampling(context.bootstrap_resamples, seed=context.seed)
    verdict = simple.weigh_simple_baselines(card, inputs, resampling)
    context.log(metrics=verdict.as_metrics(), tags=verdict.as_tags())
    print(verdict.sentence())
    for line in verdict.costs.lines() if verdict.costs else []:
        print(f"expected cost: {line}")
    return verdict


def prefers_simple(context: RunContext, verdict: SimpleVerdict) -> bool:
    """Whether the card asks to register the simple rule and the evidence allows it."""
    return context.card.promotion.prefer_simple and verdict.simple_is_enough


@task(cache_policy=NO_CACHE)
def adopt_simple_rule(
    context: RunContext, verdict: SimpleVerdict, split: SplitData
) -> BaseEstimator:
    """The best simple baseline as the model to gate and register (card promotion.prefer_simple):
    the contract's input coercer, then the rule fitted on the training rows."""
    columns = split.columns
    rule = simple.build_rule_model(
        verdict.model, columns.numeric, columns.categorical, split.train_x
    )
    context.log(tags={"simple.registered": verdict.baseline})
    print(
        f"promotion.prefer_simple: registering {verdict.description} instead of the model; it is "
        "evaluated and gated like one"
    )
    return rule


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
    metric, lower_is_better = promotion.read_primary(card)
    return promotion.decide_promotion(
        card.promotion, metric, lower_is_better, evidence,
        max_latency_ms=card.requirements.max_latency_ms,
    )  # fmt: skip
