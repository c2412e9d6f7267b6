"""Evaluation tasks: baselines and the refit model on the test rows with bootstrap intervals, and
the paired comparison with the current champion."""

from __future__ import annotations

import pandas as pd
from mlflow import MlflowClient
from prefect import task
from prefect.cache_policies import NO_CACHE
from sklearn.pipeline import Pipeline

from mleng import evaluation, promotion
from mleng.card import DatasetCard
from mleng.tracking import registry
from mleng.tracking import runs as tracking


@task(cache_policy=NO_CACHE)
def evaluate_baselines(
    card: DatasetCard,
    train_features: pd.DataFrame,
    train_target: pd.Series,
    test_features: pd.DataFrame,
    test_target: pd.Series,
    seed: int,
    client: MlflowClient,
    run_id: str,
) -> dict[str, dict[str, float]]:
    """Score zero-rule, random and (if the card gives one) heuristic baselines on the same test rows;
    every model is read against them."""
    baselines = evaluation.fit_baselines(card.task, train_features, train_target, seed)
    if card.heuristic_baseline is not None:
        rule = card.heuristic_baseline
        baselines["heuristic"] = evaluation.fit_heuristic_baseline(
            rule.expression, rule.then, rule.otherwise, card.task, train_features, train_target
        )
    scores = {
        name: evaluation.compute_metrics(
            card.task,
            test_target,
            evaluation.predict_with(model, test_features),
            card.positive_label,
        )
        for name, model in baselines.items()
    }
    tracking.log_values(
        client,
        run_id,
        metrics={
            f"baseline_{name}_{metric}": value
            for name, values in scores.items()
            for metric, value in values.items()
        },
    )
    return scores


@task(cache_policy=NO_CACHE)
def evaluate_on_test(
    card: DatasetCard,
    pipeline: Pipeline,
    test_features: pd.DataFrame,
    test_target: pd.Series,
    seed: int,
    n_resamples: int,
    client: MlflowClient,
    run_id: str,
) -> tuple[evaluation.Predictions, dict[str, evaluation.MetricInterval]]:
    """Test metrics with bootstrap 95% intervals, logged as test_<metric>[_ci_low|_ci_high]."""
    predictions = evaluation.predict_with(pipeline, test_features)
    intervals = evaluation.bootstrap_metrics(
        card.task,
        test_target,
        predictions,
        card.positive_label,
        n_resamples=n_resamples,
        seed=seed,
        method=card.evaluation.bootstrap_method,
    )
    metrics: dict[str, float] = {}
    for name, interval in intervals.items():
        metrics[f"test_{name}"] = interval.estimate
        metrics[f"test_{name}_ci_low"] = interval.low
        metrics[f"test_{name}_ci_high"] = interval.high
    tracking.log_values(
        client, run_id, metrics=metrics, params={"bootstrap_resamples": n_resamples}
    )
    return predictions, intervals


@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=2)
def compare_with_champion(
    card: DatasetCard,
    challenger: evaluation.Predictions,
    test_rows: pd.DataFrame,
    test_target: pd.Series,
    seed: int,
    n_resamples: int,
    client: MlflowClient,
) -> promotion.ChampionComparison:
    """Paired bootstrap of challenger against champion on the same test rows and resamples.

    The champion gets the raw rows with every column, so a champion trained on other features
    is still compared fairly."""
    champion_version = registry.find_alias_version(client, card.model_name, registry.CHAMPION)
    if champion_version is None:
        return promotion.ChampionComparison(champion_version=None)
    try:
        champion_model = registry.load_alias_model(card.model_name, registry.CHAMPION)
        champion = evaluation.predict_with(champion_model, test_rows)
        comparison = evaluation.compare_paired(
            card.task,
            card.metric,
            test_target,
            champion,
            challenger,
            card.positive_label,
            n_resamples=n_resamples,
            seed=seed,
        )
    except Exception as error:  # noqa: BLE001 - any failure to score means no evidence either way
        return promotion.ChampionComparison(
            champion_version, unavailable_reason=f"{type(error).__name__}: {error}"
        )
    return promotion.ChampionComparison(
        champion_version,
        comparison.difference,
        comparison.low,
        comparison.high,
        comparison.probability_better,
    )


@task(cache_policy=NO_CACHE)
def gate_promotion(
    card: DatasetCard,
    interval: evaluation.MetricInterval,
    baselines: dict[str, float],
    comparison: promotion.ChampionComparison,
    stable_share: float | None,
    latency_ms: float | None,
) -> promotion.PromotionDecision:
    """Apply the card's promotion policy; every check is recorded, passed or failed."""
    return promotion.decide_promotion(
        card.promotion,
        card.metric,
        card.lower_is_better,
        (interval.estimate, interval.low, interval.high),
        baselines,
        comparison,
        stable_share,
        latency=(latency_ms, card.requirements.max_latency_ms),
    )
