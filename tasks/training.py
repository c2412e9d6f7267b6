"""Training tasks: baselines, one search trial (a Prefect task run and an MLflow child run), refit."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
from mlflow import MlflowClient
from prefect import task
from prefect.cache_policies import NO_CACHE
from sklearn.model_selection import KFold, StratifiedKFold, cross_validate
from sklearn.pipeline import Pipeline

from mleng import tracking
from mleng.config import DatasetCard
from mleng.data import FeatureColumns
from mleng.features import build_feature_pipeline, build_model_pipeline
from mleng.models import build_estimator, scoring_for
from mleng.search import Trial, TrialResult


def build_pipeline(card: DatasetCard, columns: FeatureColumns, family: str, params: dict[str, Any], seed: int) -> Pipeline:
    """The features + model pipeline for one configuration."""
    features = build_feature_pipeline(
        columns.numeric, columns.categorical, settings=card.features, task=card.task, positive_label=card.positive_label
    )
    estimator = build_estimator(family, params, card.task, seed)
    return build_model_pipeline(features, estimator, columns.numeric, columns.categorical)


def make_folds(card: DatasetCard, seed: int) -> KFold | StratifiedKFold:
    """The same seeded CV splits for every trial, so scores are comparable."""
    splitter = KFold if card.task == "regression" else StratifiedKFold
    return splitter(n_splits=card.search.cv_folds, shuffle=True, random_state=seed)


@task(cache_policy=NO_CACHE, task_run_name="trial-{trial.index}-{trial.family}")
def evaluate_trial(
    trial: Trial,
    card: DatasetCard,
    columns: FeatureColumns,
    features: pd.DataFrame,
    target: pd.Series,
    seed: int,
    client: MlflowClient,
    experiment_id: str,
    parent_run_id: str,
) -> TrialResult:
    """Cross-validate one configuration and log it as a child run tagged with its search stage."""
    pipeline = build_pipeline(card, columns, trial.family, trial.params, seed)
    started = time.perf_counter()
    error = ""
    try:
        scores = cross_validate(
            pipeline,
            features,
            target,
            cv=make_folds(card, seed),
            scoring=scoring_for(card.metric, card.task, card.positive_label),
            error_score="raise",
        )
        test_scores = np.asarray(scores["test_score"], dtype=float)
        score, score_std = float(np.mean(test_scores)), float(np.std(test_scores))
        fit_seconds = float(np.mean(scores["fit_time"]))
    except (ValueError, ArithmeticError, MemoryError) as failure:  # a bad corner of the space, not a bad flow
        score, score_std, fit_seconds, error = float("nan"), float("nan"), float("nan"), str(failure)[:500]
    sign = -1.0 if card.lower_is_better else 1.0
    run_id = tracking.start_run(
        client,
        experiment_id,
        run_name=f"{trial.stage}-{trial.index:03d}-{trial.family}",
        tags={"search.stage": trial.stage, "search.round": str(trial.round), "model.family": trial.family},
        parent_run_id=parent_run_id,
    )
    tracking.log_values(
        client,
        run_id,
        params={"family": trial.family, **trial.params},
        metrics={
            f"cv_{card.metric}_mean": sign * score if np.isfinite(score) else None,
            f"cv_{card.metric}_std": score_std if np.isfinite(score_std) else None,
            "cv_score": score if np.isfinite(score) else None,
            "fit_seconds": fit_seconds if np.isfinite(fit_seconds) else None,
            "wall_seconds": time.perf_counter() - started,
        },
        tags={"search.error": error} if error else None,
    )
    tracking.end_run(client, run_id, "FAILED" if error else "FINISHED")
    return TrialResult(trial=trial, score=score, score_std=score_std, fit_seconds=fit_seconds)


@task(cache_policy=NO_CACHE)
def refit_best(card: DatasetCard, columns: FeatureColumns, best: TrialResult, features: pd.DataFrame, target: pd.Series, seed: int) -> Pipeline:
    """Fit the winning configuration on the whole training part."""
    pipeline = build_pipeline(card, columns, best.trial.family, best.trial.params, seed)
    return pipeline.fit(features, target)
