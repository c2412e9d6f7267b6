"""Training tasks: one search trial (a Prefect task run and an MLflow child run), and the refit."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from mlflow import MlflowClient
from prefect import task
from prefect.cache_policies import NO_CACHE
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

from mleng.card import DatasetCard, FamilySpace
from mleng.data.loading import FeatureColumns
from mleng.search.engine import Trial, TrialResult
from mleng.search.families import choose_families
from mleng.tracking import runs as tracking
from mleng.training.cv import (
    build_pipeline,
    choose_holdout,
    cross_validate_pipeline,
    fit_pipeline,
    make_augmenter,
    measure_latency_ms,
)
from mleng.training.threshold import (
    attach_threshold,
    resolve_positive_label,
    tune_out_of_fold_threshold,
)


@task(cache_policy=NO_CACHE)
def choose_candidates(
    card: DatasetCard, columns: FeatureColumns, n_rows: int, client: MlflowClient, run_id: str
) -> dict[str, FamilySpace]:
    """Narrow the card's model families to those its requirements allow; record why."""
    choice = choose_families(card, n_rows, len(columns.all))
    tracking.log_values(
        client,
        run_id,
        tags={
            "search.families": ",".join(choice.spaces),
            "search.family_reasons": " | ".join(choice.reasons),
        },
    )
    for reason in choice.reasons:
        print(f"algorithm choice: {reason}")
    return choice.spaces


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
    holdout: np.ndarray | None = None,
) -> TrialResult:
    """Cross-validate one configuration and log it as a child run tagged with its search stage."""
    started = time.perf_counter()
    error = ""
    try:
        pipeline = build_pipeline(card, columns, trial.family, trial.params, seed)
        score = cross_validate_pipeline(
            pipeline, features, target, card, seed, make_augmenter(card, columns, seed), holdout
        )
        mean, std, fit_seconds = score.mean, score.std, score.fit_seconds
    except (
        ValueError,
        ArithmeticError,
        MemoryError,
    ) as failure:  # a bad corner of the space, not a bad flow
        mean, std, fit_seconds, error = (
            float("nan"),
            float("nan"),
            float("nan"),
            f"{type(failure).__name__}: {failure}"[:500],
        )
    sign = -1.0 if card.lower_is_better else 1.0
    run_id = tracking.start_run(
        client,
        experiment_id,
        run_name=f"{trial.stage}-{trial.index:03d}-{trial.family}",
        tags={
            "search.stage": trial.stage,
            "search.round": str(trial.round),
            "model.family": trial.family,
        },
        parent_run_id=parent_run_id,
    )
    finite = {
        f"cv_{card.metric}_mean": sign * mean,
        f"cv_{card.metric}_std": std,
        "cv_score": mean,
        "fit_seconds": fit_seconds,
        "wall_seconds": time.perf_counter() - started,
    }
    tracking.log_values(
        client,
        run_id,
        params={"family": trial.family, **trial.params},
        metrics={key: value for key, value in finite.items() if np.isfinite(value)},
        tags={"search.error": error} if error else None,
    )
    tracking.end_run(client, run_id, "FAILED" if error else "FINISHED")
    return TrialResult(trial=trial, score=mean, score_std=std, fit_seconds=fit_seconds)


@task(cache_policy=NO_CACHE)
def choose_validation_rows(
    card: DatasetCard,
    columns: FeatureColumns,
    features: pd.DataFrame,
    target: pd.Series,
    test_features: pd.DataFrame,
    seed: int,
    client: MlflowClient,
    run_id: str,
) -> np.ndarray | None:
    """For adversarial validation, the search rows most like the test rows (a mask); None for CV.

    Only the test rows' features are read, never their labels, so the test metrics stay honest.
    """
    tracking.log_values(client, run_id, tags={"search.validation": card.search.validation})
    if card.search.validation != "adversarial":
        return None
    holdout = choose_holdout(card, columns, features, target, test_features, seed)
    tracking.log_values(client, run_id, metrics={"validation_rows": int(holdout.sum())})
    print(
        f"adversarial validation: {int(holdout.sum())} of {len(features)} search rows, those most like the test rows, score every trial"
    )
    return holdout


@task(cache_policy=NO_CACHE)
def refit_best(
    card: DatasetCard,
    columns: FeatureColumns,
    best: TrialResult,
    features: pd.DataFrame,
    target: pd.Series,
    seed: int,
) -> Pipeline:
    """Fit the winning configuration on the whole training part (augmented when the card asks)."""
    pipeline = build_pipeline(card, columns, best.trial.family, best.trial.params, seed)
    return fit_pipeline(pipeline, features, target, card, make_augmenter(card, columns, seed))


@task(cache_policy=NO_CACHE)
def tune_decision_threshold(
    card: DatasetCard,
    columns: FeatureColumns,
    pipeline: Pipeline,
    features: pd.DataFrame,
    target: pd.Series,
    seed: int,
    client: MlflowClient,
    run_id: str,
    holdout: np.ndarray | None = None,
) -> BaseEstimator:
    """Tune the binary decision threshold on out-of-fold predictions when the card asks; log it.

    Returns the refit pipeline wrapped to decide with that threshold, or unchanged. The folds
    refit unfitted clones of it, so they share its configuration without rebuilding it.
    """
    choice = tune_out_of_fold_threshold(
        pipeline, features, target, card, seed, make_augmenter(card, columns, seed), holdout
    )
    if choice is None:
        return pipeline
    metric = choice.metric
    tracking.log_values(
        client,
        run_id,
        params={
            "decision_threshold": round(choice.threshold, 6),
            "decision_threshold_metric": metric,
        },
        metrics={
            f"oof_{metric}_at_threshold": choice.score,
            f"oof_{metric}_at_half": choice.score_at_half,
        },
    )
    print(
        f"decision threshold {choice.threshold:.4f}: out-of-fold {metric} {choice.score:.4f} (at 0.5: {choice.score_at_half:.4f})"
    )
    return attach_threshold(
        pipeline, choice, resolve_positive_label(card, target), features, target
    )


@task(cache_policy=NO_CACHE)
def measure_latency(
    pipeline: Pipeline, rows: pd.DataFrame, client: MlflowClient, run_id: str
) -> float:
    """Median single-row prediction latency of the refit pipeline, logged as `latency_ms_p50`."""
    latency = measure_latency_ms(pipeline, rows)
    tracking.log_values(client, run_id, metrics={"latency_ms_p50": latency})
    return latency
