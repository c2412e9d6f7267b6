"""The `train` flow: validated data in, a registered, evaluated and gated model out."""

from __future__ import annotations

import time
from typing import Literal

from mleng.runtime import apply_runtime_defaults

apply_runtime_defaults()

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from prefect.runtime import flow_run

from mleng.assessment.assess import TestEvidence
from mleng.data.loading import infer_feature_columns
from mleng.data.split import cap_rows, compute_row_keys, format_row_keys
from mleng.promotion import GateEvidence, select_gate_inputs
from mleng.reports.model_card import WorthInputs, describe_worth
from mleng.reports.summary import (
    TrainSummary,
    describe_search,
    explain_stop,
    render_summary_markdown,
    summarize_families,
    time_stage,
)
from mleng.search.engine import (
    EarlyStopping,
    Trial,
    TrialResult,
    count_spent,
    full_cost,
    run_search,
    select_best,
)
from mleng.search.halving import Halving
from mleng.tracking.datasets import digest_keys
from mleng.tracking.lineage import describe_lineage
from mleng.tracking.runs import run_url
from mleng.tracking.versions import read_version_aliases
from mleng.training.cv import FoldSetup
from mleng.training.ensemble_selection import EnsembleRows
from mleng.training.threshold import describe_decision_rule
from tasks.assessment import assess_model, publish_model_card
from tasks.context import RunContext, open_run
from tasks.data import load_data, read_card, split_data, validate_data
from tasks.evaluation import (
    adopt_simple_rule,
    compare_with_champion,
    evaluate_baselines,
    evaluate_on_test,
    gate_promotion,
    prefers_simple,
    weigh_simple_baselines,
)
from tasks.features import report_features
from tasks.quality import check_data, check_split_rows, measure_group_fairness, sample_data
from tasks.registry import find_unchanged_champion, register_model
from tasks.runners import open_trial_runner
from tasks.streaming import (
    evaluate_streamed_test,
    log_stream_sample,
    refit_incremental,
    sample_large_data,
)
from tasks.training import (
    TrialData,
    build_ensemble,
    choose_candidates,
    choose_validation_rows,
    confirm_best,
    evaluate_trials,
    measure_latency,
    refit_best,
    trial_run_name,
    tune_decision_threshold,
)


@flow(name="train", log_prints=True)
def train(  # noqa: PLR0913 - one parameter per field of the Prefect UI's run form
    card_path: str = "configs/adult.yaml",
    budget: int | None = None,
    seed: int = 42,
    strategy: Literal["coarse_to_fine", "random", "grid"] | None = None,
    bootstrap_resamples: int = 1000,
    time_budget_s: float | None = None,
    runner: Literal["threads", "dask", "sequential"] | None = None,
) -> TrainSummary:
    """Train, evaluate and register a model for one dataset card.

    Loads the data, validates it against its expectation suite, answers the five data questions
    and checks for leakage and bias, splits it by stable row keys, scores baselines, searches
    model families coarse to fine, refits the best configuration, evaluates it with bootstrap
    intervals and registers it as `challenger`, promoting it to `champion` only on paired
    evidence from rows neither model trained on. Unchanged data, card and code register nothing.

    Args:
        card_path: Path of the dataset card (YAML), e.g. configs/adult.yaml.
        budget: Total number of search evaluations; defaults to the card's search.budget.
        seed: Seed for the search, the feature pipeline, the data checks and the bootstrap.
        strategy: Search strategy; defaults to the card's search.strategy.
        bootstrap_resamples: Resamples for the test-metric intervals and the champion comparison.
        time_budget_s: Wall time for the search in seconds; defaults to the card's
            search.time_budget_s (none: the evaluation budget alone decides).
        runner: Where a round's trials run: threads (several at once here), dask (a Dask
            cluster; the card's search.runner.address or a local one) or sequential; defaults
            to the card's search.runner.kind.
    """
    seconds: dict[str, float] = {}
    with time_stage(seconds, "load"):
        card = read_card(card_path, budget, strategy, time_budget_s, runner)
        stream = None  # larger than memory: read in chunks; checks and search see a sample
        if card.requirements.larger_than_memory:
            stream = sample_large_data(card, seed)
            frame, digest = stream.frame, stream.counts.digest
        else:
            frame = sample_data(load_data(card), card, seed)
            digest = digest_keys(format_row_keys(compute_row_keys(frame, card)))
        lineage = describe_lineage(card, digest, seed)
    tags = {
        "prefect.flow_run_id": str(flow_run.id or ""),
        "mleng.card": card_path,
        "mleng.flow": "train",
    }
    run_name = f"train-{flow_run.name or 'local'}"
    with open_run(card, seed, run_name, tags | lineage.as_tags(), bootstrap_resamples) as context:
        summary = TrainSummary(
            card_name=card.name, metric=card.metric, experiment_id=context.experiment_id,
            parent_run_id=context.run_id, tracking_uri=context.client.tracking_uri,
            run_url=run_url(context.client.tracking_uri, context.experiment_id, context.run_id),
        )  # fmt: skip
        search = card.search.model_dump(include={"budget", "strategy", "cv_folds", "max_rows"})
        context.log(
            params={"seed": seed, "metric": card.metric, "test_size": card.test_size, **search}
        )
        context.log_json(card.model_dump(mode="json"), "card.json")

        unchanged = find_unchanged_champion(context, lineage)
        if unchanged is not None:
            return finish_unchanged(context, summary, unchanged, seconds)

        with time_stage(seconds, "validate"):
            report = validate_data(context, frame)
            summary.validation = (
                f"passed ({len(report.outcomes)} expectations on {report.n_rows} rows)"
            )

        with time_stage(seconds, "data_checks"):
            checked = check_data(context, frame, infer_feature_columns(frame, card))
            frame, columns, data_warnings = checked.frame, checked.columns, checked.warnings
            summary.data_warnings = [finding.message for finding in data_warnings]

        with time_stage(seconds, "split"):
            split = split_data(context, frame, columns)
            check_split_rows(context, split)
            summary.rows = {"train": len(split.train_rows), "test": len(split.test_rows)}

        with time_stage(seconds, "features_report"):
            report_features(context, split)

        with time_stage(seconds, "baselines"):
            baselines = evaluate_baselines(context, split)
            summary.baselines = {name: scores[card.metric] for name, scores in baselines.items()}

        with time_stage(seconds, "search"):
            spaces = choose_candidates(context, columns, len(split.train_x), split.train_y)
            search_x, search_y = cap_rows(split.train_x, split.train_y, card, seed)
            holdout = choose_validation_rows(context, columns, search_x, search_y, split.test_x)
            setup = FoldSetup.for_run(card, columns, seed, holdout)

            data = TrialData(columns, search_x, search_y, setup)
            search = card.search
            halving = Halving() if search.halving else None
            stopping = EarlyStopping(
                search.patience, search.min_improvement, search.time_budget_s, halving
            )
            started = time.monotonic()
            with open_trial_runner(search.runner) as trial_runner:
                print(f"search runner: {trial_runner.description}")
                context.log(tags={"search.runner": trial_runner.description})

                def evaluate_batch(trials: list[Trial]) -> list[TrialResult]:
                    return evaluate_trials(trial_runner, context, trials, data)

                results = run_search(
                    spaces, search.budget, evaluate_batch, seed=seed, strategy=search.strategy,
                    stopping=stopping,
                )  # fmt: skip
            # budget in full-cost evaluations; halving's cheap looks stay in their child runs only
            spent, results = round(count_spent(results)), full_cost(results)
            stopped_by = explain_stop(search, spent, time.monotonic() - started)
            context.log(
                metrics={"search_evaluations": spent},
                tags={
                    "search.stopped_early": str(stopped_by != "budget").lower(),
                    "search.stopped_by": stopped_by,
                },
            )
            best, held_out = confirm_best(
                context, columns, results, select_best(results),
                (split.train_x, split.train_y), spaces,
            )  # fmt: skip
            context.log(
                tags={
                    "search.best_family": best.trial.family,
                    "search.best_trial": trial_run_name(best.trial),
                }
            )
            summary.best_family = best.trial.family
            summary.search = describe_search(card.search, spent, stopped_by)
            summary.best_per_family = summarize_families(results, card.lower_is_better)

        with time_stage(seconds, "refit"):
            if stream is not None:  # partial_fit over every training chunk; no ensemble
                log_stream_sample(context, stream)
                pipeline = refit_incremental(context, columns, best, split, stream)
                summary.ensemble = "off: larger_than_memory trains one incremental model"
            else:
                pipeline = refit_best(context, columns, best, split.train_x, split.train_y)
            # The served decision is tuned on the rows and refit it will be served from.
            served_setup = FoldSetup.for_run(card, columns, seed, None)
            with time_stage(seconds, "ensemble"):  # in refit: out-of-fold fits, member refits
                rows = EnsembleRows(
                    search_x, search_y, setup, split.train_x, split.train_y, served_setup,
                    held_out,
                )  # fmt: skip
                if stream is None:
                    pipeline, summary.ensemble = build_ensemble(
                        context, columns, results, pipeline, rows, best
                    )
            model = tune_decision_threshold(
                context, pipeline, split.train_x, split.train_y, served_setup
            )
            latency_ms = measure_latency(context, model, split.test_x)
            summary.decision_rule = describe_decision_rule(card, model)
            if stream is not None:  # every test chunk scored; the stated sample in the summary
                streamed = evaluate_streamed_test(context, model, split)
                summary.validation += f"; {stream.statement}; streamed {streamed}"

        with time_stage(seconds, "evaluate"):
            predictions, intervals = evaluate_on_test(context, model, split)
            simple = weigh_simple_baselines(context, predictions, baselines, split)
            adopted = simple.baseline if prefers_simple(context, simple) else None
            if adopted is not None:  # card promotion.prefer_simple: the rule is the model
                model = adopt_simple_rule(context, simple, split)
                latency_ms = measure_latency(context, model, split.test_x)
                predictions, intervals = evaluate_on_test(context, model, split)
                summary.decision_rule = f"the simple {simple.description} (prefer_simple)"
            evidence = TestEvidence(predictions, intervals, baselines)
            summary.test_metrics = {
                name: (i.estimate, i.low, i.high) for name, i in intervals.items()
            }
            measure_group_fairness(context, split.test_rows, predictions)

        with time_stage(seconds, "assess"):
            assessment = assess_model(context, model, evidence, results, split)

        with time_stage(seconds, "gate"):
            comparison = compare_with_champion(context, predictions, split)
            primary, gate_baselines = select_gate_inputs(card, intervals, baselines, adopted)
            decision = gate_promotion(
                context,
                GateEvidence(
                    primary, gate_baselines, comparison,
                    data_warnings, assessment.stable_share, latency_ms,
                ),
            )  # fmt: skip
            summary.worth = describe_worth(
                WorthInputs(card, simple, adopted, latency_ms, data_warnings, summary.best_family,
                            intervals[card.metric], checked.more_data)
            )  # fmt: skip

        with time_stage(seconds, "register"):
            facts = {
                f"metric.{name}": f"{value[0]:.6g}" for name, value in summary.test_metrics.items()
            }
            version = register_model(context, model, split, decision, facts | lineage.as_tags())
            summary.model_name, summary.model_version, summary.aliases = (
                version.name,
                version.version,
                version.aliases,
            )
            summary.decision, summary.reason = decision.label, decision.reason
            if version.rollout is not None:
                summary.reason += (
                    f"; rolled out as a {version.rollout} beside champion "
                    f"(card serving.rollout): the `promote` flow or `mleng deploy --model "
                    f"{card.model_name} --strategy single` makes it champion, `rollback` ends it"
                )
            summary.checks = [
                f"{check.name}: {'passed' if check.passed else 'failed'}: {check.detail}"
                for check in decision.checks
            ]
            publish_model_card(context, summary, model, evidence, assessment, decision)

        return finish_run(context, summary, seconds)


def finish_run(
    context: RunContext, summary: TrainSummary, seconds: dict[str, float]
) -> TrainSummary:
    """The summary as a Prefect artifact and an MLflow artifact, and each stage's time."""
    summary.stage_seconds = seconds
    markdown = render_summary_markdown(summary)
    create_markdown_artifact(
        markdown, key="train-summary", description=f"Training summary for {summary.card_name}"
    )
    context.log_text(markdown, "summary.md")
    # The summary is the run's description in the MLflow UI (its note).
    context.log(
        metrics={f"stage_seconds_{k}": v for k, v in seconds.items()},
        tags={"mlflow.note.content": markdown},
    )
    return summary


def finish_unchanged(
    context: RunContext, summary: TrainSummary, version: str, seconds: dict[str, float]
) -> TrainSummary:
    """Nothing changed since the champion was trained: say so and register nothing."""
    card = context.card
    reason = f"unchanged since version {version}: same data digest, card and code"
    print(reason)
    aliases = read_version_aliases(context.client, card.model_name, version)
    summary.model_name, summary.model_version, summary.aliases = card.model_name, version, aliases
    summary.decision, summary.reason = "unchanged", reason
    summary.validation = "skipped (unchanged data)"
    context.log(tags={"promotion.decision": "unchanged", "promotion.reason": reason})
    return finish_run(context, summary, seconds)
