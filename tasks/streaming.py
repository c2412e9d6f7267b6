"""Larger-than-memory tasks: read the card's data in chunks into a stated sample, train the winning
incremental learner over every training chunk, and score every test chunk."""

from __future__ import annotations

import numpy as np
from prefect import task
from prefect.cache_policies import NO_CACHE
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

from mleng import evaluation
from mleng.card import DatasetCard
from mleng.data.chunks import StreamSample, iterate_side, list_blocks, sample_stream, shuffle_blocks
from mleng.data.loading import FeatureColumns
from mleng.data.split import SplitData
from mleng.search.engine import TrialResult
from mleng.training.cv import build_pipeline
from mleng.training.incremental import (
    IncrementalPlan,
    PredictionReservoir,
    balanced_class_weights,
    check_incremental_card,
    fit_incremental,
    predict_chunks,
)
from tasks.context import RunContext


@task(
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=2,
    retry_condition_fn=lambda t, r, s: isinstance(s.result(raise_on_failure=False), OSError),
)
def sample_large_data(card: DatasetCard, seed: int) -> StreamSample:
    """One chunked pass over the data: count every row, keep a seeded stratified sample."""
    check_incremental_card(card)  # refuse what partial_fit cannot honour before reading
    sample = sample_stream(card, seed)
    print(f"larger than memory: checks, suite and search run {sample.describe()}")
    return sample


@task(cache_policy=NO_CACHE)
def log_stream_sample(context: RunContext, sample: StreamSample) -> None:
    """State the sample on the run: metrics, a `data.sample` tag and a `data-sample` artifact."""
    counts = sample.counts
    context.log(
        metrics={
            "data_rows_total": counts.total_rows,
            "data_rows_sampled": len(sample.frame),
            "data_rows_train_total": counts.train_rows,
            "data_rows_test_total": counts.test_rows,
            "data_chunks": counts.chunks,
        },
        tags={"data.sample": sample.statement, "data.larger_than_memory": "true"},
    )
    markdown = (
        "# Data sample (larger than memory)\n\n"
        f"The data validation, the data report, the features report, the baselines and the "
        f"search ran {sample.describe()}. The final model is trained on every training row and "
        "scored on the test rows chunk by chunk (metrics `test_streamed_*`).\n"
    )
    context.publish_markdown(
        markdown, "data-sample", f"Sample of {context.card.display_path}", "data_sample/report.md"
    )


@task(cache_policy=NO_CACHE)
def refit_incremental(
    context: RunContext,
    columns: FeatureColumns,
    best: TrialResult,
    split: SplitData,
    sample: StreamSample,
) -> Pipeline:
    """Fit the winning incremental configuration: features on the sample's training rows, then
    `partial_fit` over every training chunk for the card's epochs, in a seeded order each epoch."""
    card, seed = context.card, context.seed
    streaming = card.requirements.streaming
    pipeline = build_pipeline(card, columns, best.trial.family, best.trial.params, seed)
    train_counts = sample.counts.train_class_counts
    weighted = card.task != "regression" and card.imbalance.strategy == "class_weight"
    plan = IncrementalPlan(
        card.target,
        None if card.task == "regression" else np.unique(np.array(list(train_counts))),
        balanced_class_weights(train_counts) if weighted else None,
        streaming.epochs,
    )
    kept = list(split.train_rows.columns)  # the row keys are computed over the checked columns
    blocks = list_blocks(card)

    def passes(epoch: int):
        return iterate_side(card, "train", kept, shuffle_blocks(blocks, seed, epoch))

    fit = fit_incremental(pipeline, split.train_x, split.train_y, passes, plan)
    context.log(
        metrics={
            "incremental_epochs": fit.epochs,
            "incremental_chunks_per_epoch": fit.chunks_per_epoch,
            "incremental_rows_per_epoch": fit.rows_per_epoch,
        },
        tags={"training.incremental": "partial_fit"},
    )
    print(
        f"incremental refit: {fit.epochs} epochs of partial_fit over {fit.rows_per_epoch:,} "
        f"training rows in {fit.chunks_per_epoch} chunks; features fitted on the "
        f"{len(split.train_x):,} sampled training rows"
    )
    return fit.pipeline


@task(cache_policy=NO_CACHE)
def evaluate_streamed_test(context: RunContext, model: BaseEstimator, split: SplitData) -> str:
    """Score the test rows chunk by chunk with bootstrap intervals, logged as
    `test_streamed_<metric>[_ci_low|_ci_high]`; returns which rows they are on, in words."""
    card = context.card
    streaming = card.requirements.streaming
    reservoir = PredictionReservoir(streaming.test_prediction_rows, context.seed)
    chunks = iterate_side(card, "test", list(split.test_rows.columns))
    predict_chunks(model, chunks, split.columns.all, card.target, reservoir)
    truth = evaluation.Truth(card.task, reservoir.truth, card.positive_label)
    resampling = evaluation.Resampling(context.bootstrap_resamples, seed=context.seed)
    intervals = evaluation.bootstrap_metrics(
        truth, reservoir.predictions(), resampling, method=card.evaluation.bootstrap_method
    )
    metrics: dict[str, float] = {"test_streamed_rows": reservoir.kept}
    for name, interval in intervals.items():
        metrics[f"test_streamed_{name}"] = interval.estimate
        metrics[f"test_streamed_{name}_ci_low"] = interval.low
        metrics[f"test_streamed_{name}_ci_high"] = interval.high
    statement = reservoir.statement()
    context.log(metrics=metrics, tags={"evaluation.streamed": statement})
    primary = intervals[card.metric]
    print(
        f"streamed test {card.metric} {primary.estimate:.4f} "
        f"[{primary.low:.4f}, {primary.high:.4f}] {statement}"
    )
    return f"test {card.metric} {primary.estimate:.4g} {statement}"
