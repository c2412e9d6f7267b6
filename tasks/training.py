"""Training tasks: the candidate families, one search trial (a Prefect task run and an MLflow
child run), the refit, the decision threshold and the latency the gate reads."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

from mleng.card import FamilySpace
from mleng.data.loading import FeatureColumns
from mleng.search.engine import Trial, TrialResult
from mleng.search.families import choose_families, describe_data
from mleng.tracking import runs
from mleng.training.confirm import (
    Confirmation,
    Retune,
    confirm_finalists,
    needs_confirmation,
    pick_finalists,
)
from mleng.training.cv import (
    FoldSetup,
    build_pipeline,
    choose_holdout,
    fit_pipeline,
    measure_latency_ms,
)
from mleng.training.ensemble_selection import (
    EnsembleRows,
    HeldOutPredictions,
    build_final_ensemble,
    describe_candidate,
    describe_choice,
)
from mleng.training.estimators import count_iterations
from mleng.training.threshold import (
    attach_cost_decision,
    attach_threshold,
    cap_threshold_rows,
    resolve_positive_label,
    tune_out_of_fold_threshold,
)
from mleng.training.trials import score_trial
from tasks.context import RunContext
from tasks.runners import TrialRunner


@task(cache_policy=NO_CACHE)
def choose_candidates(
    context: RunContext, columns: FeatureColumns, n_rows: int, target: pd.Series | None = None
) -> dict[str, FamilySpace]:
    """Narrow the card's model families to those its requirements allow, add the choices the
    training rows call for (native categoricals, a skewed target's transform); record why."""
    card = context.card
    traits = (
        None
        if target is None
        else describe_data(len(columns.categorical), target, card.task, len(columns.text))
    )
    choice = choose_families(card, n_rows, len(columns.all), traits)
    context.log(
        tags={
            "search.families": ",".join(choice.spaces),
            "search.family_reasons": " | ".join(choice.reasons),
        }
    )
    for reason in choice.reasons:
        print(f"algorithm choice: {reason}")
    return choice.spaces


def trial_run_name(trial: Trial) -> str:
    """The child run's name, e.g. `fine-017-random_forest`; the parent tags the best one."""
    return f"{trial.stage}-{trial.index:03d}-{trial.family}"


@task(cache_policy=NO_CACHE, task_run_name="trial-{trial.index}-{trial.family}")
def evaluate_trial(
    context: RunContext,
    trial: Trial,
    columns: FeatureColumns,
    features: pd.DataFrame,
    target: pd.Series,
    setup: FoldSetup,
) -> TrialResult:
    """Cross-validate one configuration and log it as a child run tagged with its search stage.

    The child run opens before the trial starts, so its duration in the MLflow UI is the trial's.
    """
    tags = {
        "search.stage": trial.stage,
        "search.round": str(trial.round),
        "search.fidelity": f"{trial.fidelity:.4g}",
        "model.family": trial.family,
    }
    run_id = context.start_child_run(trial_run_name(trial), tags)
    outcome = score_trial(trial, columns, features, target, setup)
    runs.log_values(
        context.client,
        run_id,
        params={"family": trial.family, **trial.params},
        metrics=outcome.metrics(context.card),
        tags={"search.error": outcome.error} if outcome.error else None,
    )
    runs.end_run(context.client, run_id, "FAILED" if outcome.error else "FINISHED")
    return outcome.result


@dataclass(frozen=True)
class TrialData:
    """What every trial of a search scores on: the columns, the search rows and their folds."""

    columns: FeatureColumns
    features: pd.DataFrame
    target: pd.Series
    setup: FoldSetup


def evaluate_trials(
    runner: TrialRunner,
    context: RunContext,
    trials: list[Trial],
    data: TrialData,
) -> list[TrialResult]:
    """A round of trials on the search's runner, each a task run; results in trial order (each
    trial is seeded, so where and in which order they run changes nothing)."""
    setup = dataclasses.replace(data.setup, threads=runner.threads)
    parameters = [
        {"context": context, "trial": trial, "columns": data.columns, "features": data.features,
         "target": data.target, "setup": setup}
        for trial in trials
    ]  # fmt: skip
    return runner.run_all(evaluate_trial, parameters)


@task(cache_policy=NO_CACHE)
def confirm_best(
    context: RunContext,
    columns: FeatureColumns,
    results: list[TrialResult],
    best: TrialResult,
    rows: tuple[pd.DataFrame, pd.Series],
    spaces: dict[str, FamilySpace],
) -> tuple[TrialResult, HeldOutPredictions | None]:
    """The search's best, or, when it scored only a small share of the training rows, the
    finalist that wins on many more of them (mleng/training/confirm.py); logged either way.
    With the finalists' predictions of the rows they were confirmed on, when confirmed; the
    winning finalist's family in `spaces` gives the fresh draws scored after them."""
    card = context.card
    features = rows[0]
    searched = min(len(features), card.search.max_rows or len(features))
    if not needs_confirmation(len(features), searched, card.search.confirm_rows):
        return best, None
    setup = FoldSetup.for_run(card, columns, context.seed, None)
    retune = Retune(spaces, [r.trial for r in results])
    found = confirm_finalists(
        pick_finalists(results), columns, rows, setup, card.search.confirm_rows, retune
    )
    sign = -1.0 if card.lower_is_better else 1.0
    context.log(
        metrics={
            f"confirm_{card.metric}_{name.replace('-', '_')}": sign * score
            for name, score in found.scores.items()
            if np.isfinite(score)
        }
        | {"confirm_fit_rows": found.fit_rows, "confirm_holdout_rows": found.holdout_rows},
        tags={"search.confirmed_best": trial_run_name(found.chosen.trial)},
    )
    print(
        f"search scored {searched:,} of {len(features):,} training rows: finalists refit on "
        f"{found.fit_rows:,} and scored on {found.holdout_rows:,} others: "
        + ", ".join(f"{name} {sign * score:.4f}" for name, score in found.scores.items())
        + f"; chosen {trial_run_name(found.chosen.trial)}"
    )
    draws = [c.trial for c in found.held_out.candidates if c.trial.stage == "confirm"]
    log_confirm_draws(context, draws, found)
    return found.chosen, found.held_out


def log_confirm_draws(context: RunContext, draws: list[Trial], found: Confirmation) -> None:
    """Each fresh draw of the confirmation as a child run (stage `confirm`), beside the search's
    trials, with its holdout score on the confirmation rows: the MLflow UI lists every fit."""
    card = context.card
    sign = -1.0 if card.lower_is_better else 1.0
    for trial in draws:
        name = trial_run_name(trial)
        tags = {"search.stage": "confirm", "search.round": "0", "model.family": trial.family}
        run_id = context.start_child_run(name, tags)
        score = found.scores.get(name, float("nan"))
        runs.log_values(
            context.client, run_id, params={"family": trial.family, **trial.params},
            metrics={f"confirm_{card.metric}": sign * score, "confirm_fit_rows": found.fit_rows}
            if np.isfinite(score) else {"confirm_fit_rows": found.fit_rows},
        )  # fmt: skip
        runs.end_run(context.client, run_id, "FINISHED" if np.isfinite(score) else "FAILED")


@task(cache_policy=NO_CACHE)
def choose_validation_rows(
    context: RunContext,
    columns: FeatureColumns,
    features: pd.DataFrame,
    target: pd.Series,
    test_features: pd.DataFrame,
) -> np.ndarray | None:
    """For adversarial validation, the search rows most like the test rows (a mask); None for CV.

    Only the test rows' features are read, never their labels, so the test metrics stay honest.
    """
    card = context.card
    context.log(tags={"search.validation": card.search.validation})
    if card.search.validation != "adversarial":
        return None
    holdout = choose_holdout(card, columns, features, target, test_features, context.seed)
    held_out = int(holdout.sum())
    context.log(metrics={"validation_rows": held_out})
    print(
        f"adversarial validation: {held_out} of {len(features)} search rows, those most like "
        "the test rows, score every trial"
    )
    return holdout


@task(cache_policy=NO_CACHE)
def refit_best(
    context: RunContext,
    columns: FeatureColumns,
    best: TrialResult,
    features: pd.DataFrame,
    target: pd.Series,
) -> Pipeline:
    """Fit the winning configuration on the whole training part (augmented when the card asks)."""
    card, seed = context.card, context.seed
    pipeline = build_pipeline(card, columns, best.trial.family, best.trial.params, seed)
    fitted = fit_pipeline(pipeline, features, target, FoldSetup.for_run(card, columns, seed, None))
    # Boosting stops early again, on a tenth of these rows: more rows than a fold support more
    # iterations than the folds kept, so their count is not reused.
    iterations = count_iterations(fitted[-1])
    if np.isfinite(iterations):
        context.log(metrics={"refit_n_iter": iterations})
        print(f"refit: {iterations:.0f} boosting iterations (early stopping on its own split)")
    return fitted


@task(cache_policy=NO_CACHE)
def build_ensemble(
    context: RunContext,
    columns: FeatureColumns,
    results: list[TrialResult],
    best: Pipeline,
    rows: EnsembleRows,
    chosen: TrialResult | None = None,
) -> tuple[BaseEstimator, str]:
    """A weighted ensemble of the best configurations when it beats the refit single best (the
    configuration `chosen`) out of fold (card search.ensemble); log the choice. Returns the
    model and the summary's line."""
    model, choice = build_final_ensemble(columns, results, best, rows, chosen)
    if choice is None:
        context.log(tags={"ensemble.chosen": "false"})
        enabled = context.card.search.ensemble.enabled
        return model, "not tried: fewer than two scored configurations" if enabled else "off"
    metric = context.card.metric
    members = [describe_candidate(choice.candidates[i]) for i in choice.members]
    context.log(
        metrics={
            f"oof_{metric}_single": choice.single_score,
            f"oof_{metric}_ensemble": choice.ensemble_score,
            "ensemble_probability_better": choice.probability_better,
        },
        tags={
            "ensemble.chosen": str(choice.chosen).lower(),
            "ensemble.members": ",".join(members),
            "ensemble.weights": ",".join(f"{choice.weights[i]:.4f}" for i in choice.members),
            "ensemble.reason": choice.reason,
        },
    )
    line = describe_choice(choice, metric)
    print(f"ensemble {line}")
    return model, line


@task(cache_policy=NO_CACHE)
def tune_decision_threshold(
    context: RunContext,
    pipeline: Pipeline,
    features: pd.DataFrame,
    target: pd.Series,
    setup: FoldSetup,
) -> BaseEstimator:
    """Tune the binary decision threshold on out-of-fold predictions when the card asks; log it.

    Returns the refit pipeline wrapped to decide with that threshold, or unchanged. The folds
    refit unfitted clones of it, so they share its configuration without rebuilding it.
    """
    card = context.card
    if card.task == "multiclass" and card.costs is not None:
        print("decision rule: the class of least expected cost under the card's costs.matrix")
        context.log(params={"decision_rule": "minimum_expected_cost"})
        return attach_cost_decision(pipeline, card, target)
    if card.costs is not None and card.imbalance.threshold_metric is not None:
        print(
            f"costs: set, so the threshold minimises expected cost; imbalance.threshold_metric "
            f"'{card.imbalance.threshold_metric}' is not used for the decision"
        )
    tune_x, tune_y = cap_threshold_rows(features, target, card, context.seed)
    if len(tune_x) < len(features):
        print(f"decision threshold: tuned on a seeded sample of {len(tune_x):,} training rows")
    choice = tune_out_of_fold_threshold(pipeline, tune_x, tune_y, setup)
    if choice is None:
        return pipeline
    metric = choice.metric
    context.log(
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
        f"decision threshold {choice.threshold:.4f}: out-of-fold {metric} {choice.score:.4f} "
        f"(at 0.5: {choice.score_at_half:.4f})"
    )
    positive = resolve_positive_label(context.card, target)
    return attach_threshold(pipeline, choice, positive, features, target)


@task(cache_policy=NO_CACHE)
def measure_latency(context: RunContext, model: BaseEstimator, rows: pd.DataFrame) -> float:
    """Median single-row prediction latency of the refit model, logged as `latency_ms_p50`."""
    latency = measure_latency_ms(model, rows)
    context.log(metrics={"latency_ms_p50": latency})
    return latency
