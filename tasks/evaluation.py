"""Evaluation tasks: baselines and the refit model on the test rows with bootstrap intervals, and
the paired comparison with the current champion."""

from __future__ import annotations

import pandas as pd
from mlflow import MlflowClient
from prefect import task
from prefect.cache_policies import NO_CACHE
from sklearn.pipeline import Pipeline

from mleng import evaluation, promotion, registry, tracking
from mleng.config import DatasetCard


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
    """Score zero-rule and random baselines on the same test rows; every model is read against them."""
    baselines = evaluation.fit_baselines(card.task, train_features, train_target, seed)
    scores = {
        name: evaluation.compute_metrics(card.task, test_target, evaluation.predict_with(model, test_features), card.positive_label)
        for name, model in baselines.items()
    }
    tracking.log_values(
        client,
        run_id,
        metrics={f"baseline_{name}_{metric}": value for name, values in scores.items() for metric, value in values.items()},
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
        card.task, test_target, predictions, card.positive_label, n_resamples=n_resamples, seed=seed
    )
    metrics: dict[str, float] = {}
    for name, interval in intervals.items():
        metrics[f"test_{name}"] = interval.estimate
        metrics[f"test_{name}_ci_low"] = interval.low
        metrics[f"test_{name}_ci_high"] = interval.high
    tracking.log_values(client, run_id, metrics=metrics, params={"bootstrap_resamples": n_resamples})
    return predictions, intervals


@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=2)
def compare_with_champion(
    card: DatasetCard,
    challenger: evaluation.Predictions,
    test_features: pd.DataFrame,
    test_target: pd.Series,
    seed: int,
    n_resamples: int,
    client: MlflowClient,
) -> promotion.PromotionDecision:
    """Paired bootstrap of challenger against champion on the same test rows and resamples."""
    champion_version = registry.find_alias_version(client, card.model_name, registry.CHAMPION)
    if champion_version is None:
        return promotion.decide_without_champion()
    try:
        champion_model = registry.load_alias_model(card.model_name, registry.CHAMPION)
        champion = evaluation.predict_with(champion_model, test_features)
    except Exception as error:  # any failure to score means no evidence either way
        return promotion.decide_unscorable_champion(champion_version, f"{type(error).__name__}: {error}")
    comparison = evaluation.compare_paired(
        card.task, card.metric, test_target, champion, challenger, card.positive_label, n_resamples=n_resamples, seed=seed
    )
    return promotion.decide_from_comparison(
        champion_version, card.metric, comparison.difference, comparison.low, comparison.high, comparison.probability_better
    )
