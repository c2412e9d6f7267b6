"""A final ensemble of the search's best configurations, by greedy selection on out-of-fold
predictions (Caruana et al. 2004, as AutoGluon and auto-sklearn do), kept only when it beats the
single best configuration on the same folds by more than noise.

1. The best distinct configurations (the best of each family first, then the next best overall)
   with each held-out row's prediction from the run's folds:
   class probabilities, or values for regression. The single best is one of them, so both scores
   come from the same folds and the same rows.
2. Greedy selection with replacement: start empty, add whichever candidate most improves the
   card's metric of the running average, for `rounds` steps; the weights are the shares of the
   best step. Picking weights on the rows they are scored on flatters the ensemble, so its
   out-of-fold score is cross-fitted: the rows are cut into groups and each group is blended with
   weights selected on the other groups.
3. The ensemble is chosen when that honest score beats the single best's, a paired bootstrap
   of the out-of-fold rows finds it better in at least `min_confidence` of the resamples, and it
   removes at least `min_error_reduction` of the single best's error: every member is refit,
   tuned and served, so a gain too small to notice costs more than it earns.

The search's trials keep their out-of-fold predictions (`TrialResult.out_of_fold`, the same
folds), so step 1 fits nothing unless a trial's predictions were too large to keep.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

from mleng.card import DatasetCard
from mleng.card.ensemble import EnsembleSettings
from mleng.data.loading import FeatureColumns
from mleng.evaluation.bootstrap import compare_paired
from mleng.evaluation.records import LOWER_IS_BETTER, Predictions, Resampling, Truth
from mleng.evaluation.tables import build_table
from mleng.evaluation.weighted import evaluate_table
from mleng.search.engine import TrialResult
from mleng.training.cv import (
    FoldSetup,
    OutOfFold,
    build_pipeline,
    fit_fold_models,
    fit_pipeline,
    predict_values,
)
from mleng.training.trials import TRIAL_FAILURES
from mleng.training.weighted_ensemble import assemble_ensemble

PAIRED_RESAMPLES = 500


@dataclass(frozen=True)
class EnsembleChoice:
    """What selection found: the weight of every candidate (zero for those left out), both
    out-of-fold scores in the metric's own units, and whether the ensemble is kept and why."""

    candidates: list[TrialResult]
    weights: np.ndarray
    single_score: float
    ensemble_score: float  # cross-fitted: weights chosen on other rows than scored
    probability_better: float
    chosen: bool
    reason: str
    members: list[int] = field(default_factory=list)  # candidates with a positive weight


def describe_candidate(result: TrialResult) -> str:
    """A candidate's name as members are listed: `fine-017-random_forest`."""
    trial = result.trial
    return f"{trial.stage}-{trial.index:03d}-{trial.family}"


def pick_candidates(
    results: list[TrialResult], count: int, first: TrialResult | None = None
) -> list[TrialResult]:
    """Up to `count` distinct scored configurations: the single best first (`first` when the
    refit one is not the best CV score, e.g. confirmed on more rows), then the best of each
    other family (diversity is what an average gains from), then the next best overall."""
    scored = [r for r in results if np.isfinite(r.score)]
    ranked = sorted(scored, key=lambda r: (-r.score, r.trial.index))
    if first is not None:
        ranked = [first, *[r for r in ranked if r is not first]]
    distinct, seen = [], set()
    for result in ranked:
        key = (result.trial.family, repr(sorted(result.trial.params.items())))
        if key not in seen:
            seen.add(key)
            distinct.append(result)
    leaders, families = [], set()
    for result in distinct:
        if result.trial.family not in families:
            families.add(result.trial.family)
            leaders.append(result)
    rest = [r for r in distinct if r not in leaders]
    return (leaders + rest)[:count]


def predict_out_of_fold(
    pipeline: Any, features: pd.DataFrame, target: pd.Series, setup: FoldSetup
) -> OutOfFold:
    """Every held-out row's prediction from the fold model that did not see it (the run's folds:
    forward-chaining or an adversarial holdout cover fewer rows than `features` has)."""
    classification = setup.card.task != "regression"
    classes = np.unique(target.to_numpy()) if classification else None
    positions, values = [], []
    for fold in fit_fold_models(pipeline, features, target, setup):
        values.append(predict_values(fold.model, features.iloc[fold.valid_index], classes))
        positions.append(fold.valid_index)
    return OutOfFold(np.concatenate(positions), np.concatenate(values), classes)


def as_predictions(values: np.ndarray, classes: np.ndarray | None) -> Predictions:
    """Blended out-of-fold values as the evaluation reads them: labels by the most probable
    class (the 0.5 rule for two classes) and the probabilities, or the values."""
    if classes is None:
        return Predictions(values)
    return Predictions(classes[np.argmax(values, axis=1)], values, classes)


@dataclass(frozen=True)
class Scorer:
    """The card's metric of blended predictions, oriented so that higher is better."""

    task: str
    metric: str
    truth: np.ndarray
    classes: np.ndarray | None
    positive_label: Any = None

    def __call__(self, values: np.ndarray, rows: np.ndarray | None = None) -> float:
        truth = self.truth if rows is None else self.truth[rows]
        predictions = as_predictions(values, self.classes)
        table = build_table(self.task, truth, predictions, self.positive_label, (self.metric,))
        score = float(evaluate_table(table)[self.metric])
        return -score if self.metric in LOWER_IS_BETTER else score


def select_weights(
    values: list[np.ndarray], scorer: Scorer, rounds: int, rows: np.ndarray | None = None
) -> np.ndarray:
    """Greedy forward selection with replacement; the weights (summing to one) of the best step.

    Ties go to the earlier candidate, so the single best (candidate 0) wins a draw.
    """
    subset = [v if rows is None else v[rows] for v in values]
    counts = np.zeros(len(values))
    total = np.zeros_like(subset[0])
    best_counts, best_score = counts.copy(), -np.inf
    for step in range(1, rounds + 1):
        trials = [scorer((total + v) / step, rows) for v in subset]
        pick = int(np.argmax(trials))
        counts[pick] += 1
        total = total + subset[pick]
        if trials[pick] > best_score:
            best_counts, best_score = counts.copy(), trials[pick]
    return best_counts / best_counts.sum()


def blend(values: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """The weighted average of the candidates' predictions."""
    return sum(w * v for w, v in zip(weights, values, strict=True) if w > 0)


def cross_fit_blend(
    values: list[np.ndarray], scorer: Scorer, rounds: int, n_groups: int, seed: int
) -> np.ndarray:
    """Each row blended with weights selected on the other rows only: an honest ensemble."""
    n_rows = len(values[0])
    groups = np.random.default_rng(seed).permutation(n_rows) % n_groups
    blended = np.zeros_like(values[0])
    for group in range(n_groups):
        inside = groups == group
        weights = select_weights(values, scorer, rounds, np.flatnonzero(~inside))
        blended[inside] = blend([v[inside] for v in values], weights)
    return blended


def choose_ensemble(
    card: DatasetCard,
    candidates: list[TrialResult],
    predictions: list[OutOfFold],
    target: pd.Series,
    seed: int,
) -> EnsembleChoice:
    """Select weights on all out-of-fold rows, judge them cross-fitted, and decide (module doc)."""
    settings: EnsembleSettings = card.search.ensemble
    positions = predictions[0].positions
    if any(not np.array_equal(p.positions, positions) for p in predictions):
        raise ValueError("out-of-fold predictions of the candidates cover different rows")
    truth = target.to_numpy()[positions]
    classes = predictions[0].classes
    scorer = Scorer(card.task, card.metric, truth, classes, card.positive_label)
    values = [p.values for p in predictions]
    weights = select_weights(values, scorer, settings.rounds)
    members = [int(i) for i in np.flatnonzero(weights > 0)]
    sign = -1.0 if card.lower_is_better else 1.0
    single = scorer(values[0])
    honest = cross_fit_blend(values, scorer, settings.rounds, max(card.search.cv_folds, 2), seed)
    comparison = compare_paired(
        Truth(card.task, truth, card.positive_label), card.metric,
        as_predictions(values[0], classes), as_predictions(honest, classes),
        Resampling(PAIRED_RESAMPLES, seed=seed),
    )  # fmt: skip
    ensemble = scorer(honest)
    gain = Gain(ensemble - single, share_of_error(single, ensemble, card.metric))
    chosen, reason = judge_ensemble(members, gain, comparison.probability_better, settings)
    return EnsembleChoice(
        candidates, weights, sign * single, sign * ensemble, comparison.probability_better,
        chosen, reason, members,
    )  # fmt: skip


@dataclass(frozen=True)
class Gain:
    """How much better the cross-fitted ensemble scores than the single best: in the metric's
    units (higher is better) and as the share of the single best's error it removes."""

    score: float
    error_share: float


def share_of_error(single: float, ensemble: float, metric: str) -> float:
    """The share of the single best's error the ensemble removes; scores are oriented higher is
    better, so an error metric's score is minus the error and any other's error is 1 - score."""
    error = -single if metric in LOWER_IS_BETTER else 1.0 - single
    if error <= 0:  # a perfect single best: nothing left to remove
        return 0.0
    return (ensemble - single) / error


def judge_ensemble(
    members: list[int], gain: Gain, probability_better: float, settings: EnsembleSettings
) -> tuple[bool, str]:
    """Keep the ensemble only when it has several members, beats the single best by more than
    the paired bootstrap's noise and by enough to pay for its members; the reason says which
    test decided."""
    if len(members) < 2:
        return False, "selection kept a single configuration"
    if gain.score <= 0:
        return False, f"its cross-fitted out-of-fold score is not better ({gain.score:+.4g})"
    if probability_better < settings.min_confidence:
        return False, (
            f"better in {probability_better:.0%} of paired resamples, below "
            f"search.ensemble.min_confidence {settings.min_confidence:.0%}"
        )
    if gain.error_share < settings.min_error_reduction:
        return False, (
            f"it removes {gain.error_share:.1%} of the single best's error ({gain.score:+.4g}), "
            f"below search.ensemble.min_error_reduction {settings.min_error_reduction:.0%}"
        )
    return True, (
        f"better in {probability_better:.0%} of paired resamples ({gain.score:+.4g}, "
        f"{gain.error_share:.1%} of the single best's error)"
    )


def describe_choice(choice: EnsembleChoice, metric: str) -> str:
    """One line for the run summary: chosen or not, members and weights, both scores."""
    members = ", ".join(
        f"{describe_candidate(choice.candidates[i])} ({choice.weights[i]:.2f})"
        for i in choice.members
    )
    verdict = "chosen" if choice.chosen else "not chosen"
    return (
        f"{verdict}: {members or 'no members'}; out-of-fold {metric} "
        f"{choice.ensemble_score:.4f} (cross-fitted) vs single best {choice.single_score:.4f}; "
        f"{choice.reason}"
    )


@dataclass(frozen=True)
class HeldOutPredictions:
    """Candidates already fitted on more rows than the search saw, with their predictions of
    the same held-out training rows (the finalists' confirmation, mleng/training/confirm.py)."""

    candidates: list[TrialResult]
    predictions: list[OutOfFold]
    target: pd.Series


@dataclass(frozen=True)
class EnsembleRows:
    """The rows an ensemble is selected on (the search's rows and folds, or the confirmation's
    held-out rows when there was one) and refit on (all training rows, the refit's setup)."""

    search_x: pd.DataFrame
    search_y: pd.Series
    search_setup: FoldSetup
    train_x: pd.DataFrame
    train_y: pd.Series
    refit_setup: FoldSetup
    held_out: HeldOutPredictions | None = None


def build_final_ensemble(
    columns: FeatureColumns,
    results: list[TrialResult],
    best: Pipeline,
    rows: EnsembleRows,
    chosen: TrialResult | None = None,
) -> tuple[BaseEstimator, EnsembleChoice | None]:
    """The ensemble pipeline when the card enables it and selection keeps it, else `best`
    (the refit single best, the configuration `chosen`, by default the best CV score); with the
    choice, or None when nothing was tried."""
    card, seed = rows.search_setup.card, rows.search_setup.seed
    settings = card.search.ensemble
    if not settings.enabled:
        return best, None
    if rows.held_out is not None:  # weights sized for the search sample would not transfer
        candidates = kept = rows.held_out.candidates
        predictions, truth = rows.held_out.predictions, rows.held_out.target
    else:
        candidates = pick_candidates(results, settings.candidates, chosen)
        if len(candidates) < 2:
            return best, None
        kept, predictions = predict_candidates(candidates, columns, rows)
        truth = rows.search_y
    if len(kept) < 2 or kept[0] is not candidates[0]:
        return best, None
    choice = choose_ensemble(card, kept, predictions, truth, seed)
    if not choice.chosen:
        return best, choice
    fitted = []
    for index in choice.members:
        trial = kept[index].trial
        model = best if index == 0 else fit_pipeline(
            build_pipeline(card, columns, trial.family, trial.params, seed),
            rows.train_x, rows.train_y, rows.refit_setup,
        )  # fmt: skip
        fitted.append((describe_candidate(kept[index]), model))
    class_weight = "balanced" if card.imbalance.strategy == "class_weight" else None
    model = assemble_ensemble(
        card.task, fitted, [float(choice.weights[i]) for i in choice.members],
        (rows.train_x, rows.train_y), class_weight,
    )  # fmt: skip
    return model, choice


def predict_candidates(
    candidates: list[TrialResult], columns: FeatureColumns, rows: EnsembleRows
) -> tuple[list[TrialResult], list[OutOfFold]]:
    """The candidates with their out-of-fold predictions on the search rows: those their trial
    kept (the same folds), else from cross-validating them again; a configuration that fails now
    cannot be a member, the others still may."""
    card, seed = rows.search_setup.card, rows.search_setup.seed
    kept, predictions = [], []
    for result in candidates:
        if result.out_of_fold is not None:
            kept.append(result)
            predictions.append(result.out_of_fold)
            continue
        pipeline = build_pipeline(card, columns, result.trial.family, result.trial.params, seed)
        try:
            oof = predict_out_of_fold(pipeline, rows.search_x, rows.search_y, rows.search_setup)
        except TRIAL_FAILURES:
            continue
        kept.append(result)
        predictions.append(oof)
    return kept, predictions
