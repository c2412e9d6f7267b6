"""The `train` flow: validated data in, a registered, evaluated and gated model out."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from mleng.runtime import apply_runtime_defaults

apply_runtime_defaults()

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from prefect.runtime import flow_run

from mleng.data.loading import cap_rows, infer_feature_columns, select_features
from mleng.reports.summary import (
    TrainSummary,
    describe_search,
    render_summary_markdown,
    summarize_families,
)
from mleng.search import engine as search
from mleng.tracking import runs as tracking
from mleng.training.threshold import describe_decision_rule
from tasks.assessment import assess_model, publish_model_card
from tasks.data import load_data, read_card, split_data, validate_data
from tasks.evaluation import (
    compare_with_champion,
    evaluate_baselines,
    evaluate_on_test,
    gate_promotion,
)
from tasks.features import report_features
from tasks.quality import check_data, check_split, measure_group_fairness, sample_data
from tasks.registry import register_model
from tasks.training import (
    choose_candidates,
    choose_validation_rows,
    evaluate_trial,
    measure_latency,
    refit_best,
    tune_decision_threshold,
)


@contextmanager
def timed(stage_seconds: dict[str, float], stage: str) -> Iterator[None]:
    """Record how long a stage took, for the summary table."""
    started = time.perf_counter()
    try:
        yield
    finally:
        stage_seconds[stage] = round(time.perf_counter() - started, 2)


@flow(name="train", log_prints=True)
def train(
    card_path: str = "configs/adult.yaml",
    budget: int | None = None,
    seed: int = 42,
    strategy: Literal["coarse_to_fine", "random", "grid"] | None = None,
    bootstrap_resamples: int = 1000,
) -> TrainSummary:
    """Train, evaluate and register a model for one dataset card.

    Loads the data, validates it against its expectation suite, answers the five data questions
    and checks for leakage and bias, splits it, scores baselines, searches model families coarse
    to fine, refits the best configuration, evaluates it with bootstrap intervals and registers it
    as `challenger`, promoting it to `champion` only on paired evidence.

    Args:
        card_path: Path of the dataset card (YAML), e.g. configs/adult.yaml.
        budget: Total number of search evaluations; defaults to the card's search.budget.
        seed: Seed for the split, the search and the bootstrap.
        strategy: Search strategy; defaults to the card's search.strategy.
        bootstrap_resamples: Resamples for the test-metric intervals and the champion comparison.
    """
    seconds: dict[str, float] = {}
    with timed(seconds, "load"):
        card = read_card(card_path, budget, strategy)
        frame = sample_data(load_data(card), card, seed)
    client = tracking.configure_tracking()
    experiment_id = tracking.ensure_experiment(client, card.name)
    run_id = tracking.start_run(
        client,
        experiment_id,
        run_name=f"train-{flow_run.name or 'local'}",
        tags={
            "prefect.flow_run_id": str(flow_run.id or ""),
            "mleng.card": card_path,
            "mleng.flow": "train",
        },
    )
    summary = TrainSummary(
        card_name=card.name,
        metric=card.metric,
        experiment_id=experiment_id,
        parent_run_id=run_id,
        tracking_uri=client.tracking_uri,
    )
    try:
        search_settings = card.search.model_dump(
            include={"budget", "strategy", "cv_folds", "max_rows"}
        )
        tracking.log_values(
            client,
            run_id,
            params={
                "seed": seed,
                "metric": card.metric,
                "test_size": card.test_size,
                **search_settings,
            },
        )
        tracking.log_json(client, run_id, card.model_dump(mode="json"), "card.json")
        with timed(seconds, "validate"):
            report = validate_data(frame, card, client, run_id)
            summary.validation = (
                f"passed ({len(report.outcomes)} expectations on {report.n_rows} rows)"
            )

        with timed(seconds, "data checks"):
            frame, columns = check_data(
                frame, card, infer_feature_columns(frame, card), seed, client, run_id
            )

        with timed(seconds, "split"):
            train_rows, test_rows = split_data(frame, card, seed)
            check_split(train_rows, test_rows, card, client, run_id)
            train_x, test_x = (
                select_features(train_rows, columns),
                select_features(test_rows, columns),
            )
            train_y, test_y = train_rows[card.target], test_rows[card.target]
            summary.rows = {"train": len(train_rows), "test": len(test_rows)}

        with timed(seconds, "features report"):
            report_features(card, columns, train_x, train_y, test_x, seed, client, run_id)

        with timed(seconds, "baselines"):
            baselines = evaluate_baselines(
                card, train_x, train_y, test_x, test_y, seed, client, run_id
            )
            summary.baselines = {name: scores[card.metric] for name, scores in baselines.items()}

        with timed(seconds, "search"):
            spaces = choose_candidates(card, columns, len(train_x), client, run_id)
            search_x, search_y = cap_rows(train_x, train_y, card, seed)
            holdout = choose_validation_rows(
                card, columns, search_x, search_y, test_x, seed, client, run_id
            )

            def evaluate_batch(trials: list[search.Trial]) -> list[search.TrialResult]:
                return [
                    evaluate_trial(
                        trial,
                        card,
                        columns,
                        search_x,
                        search_y,
                        seed,
                        client,
                        experiment_id,
                        run_id,
                        holdout,
                    )
                    for trial in trials
                ]

            results = search.run_search(
                spaces, card.search.budget, evaluate_batch, seed=seed, strategy=card.search.strategy,
                patience=card.search.patience, min_improvement=card.search.min_improvement,
            )  # fmt: skip
            stopped_early = len(results) < card.search.budget
            tracking.log_values(
                client,
                run_id,
                metrics={"search_evaluations": len(results)},
                tags={"search.stopped_early": str(stopped_early).lower()},
            )
            best = search.select_best(results)
            summary.best_family = best.trial.family
            summary.search = describe_search(card.search, len(results))
            summary.best_per_family = summarize_families(results, card.lower_is_better)

        with timed(seconds, "refit"):
            pipeline = refit_best(card, columns, best, train_x, train_y, seed)
            model = tune_decision_threshold(
                card, columns, pipeline, search_x, search_y, seed, client, run_id, holdout
            )
            latency_ms = measure_latency(model, test_x, client, run_id)
            summary.decision_rule = describe_decision_rule(card, model)

        with timed(seconds, "evaluate"):
            predictions, intervals = evaluate_on_test(
                card, model, test_x, test_y, seed, bootstrap_resamples, client, run_id
            )
            summary.test_metrics = {
                name: (i.estimate, i.low, i.high) for name, i in intervals.items()
            }
            measure_group_fairness(card, test_rows, predictions, client, run_id)

        with timed(seconds, "assess"):
            assessment = assess_model(
                card,
                columns,
                model,
                predictions,
                intervals,
                results,
                train_rows,
                test_rows,
                seed,
                client,
                run_id,
            )

        with timed(seconds, "gate"):
            comparison = compare_with_champion(
                card,
                predictions,
                test_rows.drop(columns=[card.target]),
                test_y,
                seed,
                bootstrap_resamples,
                client,
            )
            decision = gate_promotion(
                card,
                intervals[card.metric],
                summary.baselines,
                comparison,
                assessment.stable_share,
                latency_ms,
            )

        with timed(seconds, "register"):
            version = register_model(
                card,
                model,
                test_x,
                columns.numeric,
                decision,
                {k: v[0] for k, v in summary.test_metrics.items()},
                client,
                run_id,
            )
            summary.model_name, summary.model_version, summary.aliases = (
                version.name,
                version.version,
                version.aliases,
            )
            summary.decision, summary.reason = decision.label, decision.reason
            publish_model_card(
                card, summary, model, intervals, baselines, assessment, decision, client, run_id
            )

        summary.stage_seconds = seconds
        markdown = render_summary_markdown(summary)
        create_markdown_artifact(
            markdown, key="train-summary", description=f"Training summary for {card.name}"
        )
        tracking.log_text(client, run_id, markdown, "summary.md")
        tracking.log_values(
            client, run_id, metrics={f"stage_seconds_{k}": v for k, v in seconds.items()}
        )
        tracking.end_run(client, run_id, "FINISHED")
        return summary
    except BaseException as error:
        tracking.log_values(
            client, run_id, tags={"mleng.error": f"{type(error).__name__}: {error}"}
        )
        tracking.end_run(client, run_id, "FAILED")
        raise
