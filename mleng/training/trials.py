"""One search trial: build the configuration's pipeline, cross-validate it, and say what to log."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mleng.card import DatasetCard
from mleng.data.loading import FeatureColumns
from mleng.search.engine import Trial, TrialResult
from mleng.training.cv import FoldSetup, build_pipeline, cross_validate_pipeline, limit_threads

# A bad corner of the search space (a solver that diverges, a config that runs out of memory)
# fails its trial, not the flow.
TRIAL_FAILURES = (ValueError, ArithmeticError, MemoryError)

# A full-cost trial keeps its held-out predictions for the final ensemble (one value per row, or
# per row and class) up to this many values, 4 MB: 40 trials of 10,000 rows and 50 classes.
# Above it ensemble selection cross-validates its few candidates again instead.
KEPT_PREDICTION_VALUES = 500_000


@dataclass(frozen=True)
class TrialOutcome:
    """A scored trial (NaN scores when it failed, with the error), its wall time, and the mean
    boosting iterations its folds kept after early stopping (nan for other models)."""

    result: TrialResult
    error: str
    wall_seconds: float
    iterations: float = float("nan")

    def metrics(self, card: DatasetCard) -> dict[str, float]:
        """The child run's finite metrics; the CV mean is logged in the metric's own direction."""
        sign = -1.0 if card.lower_is_better else 1.0
        values = {
            f"cv_{card.metric}_mean": sign * self.result.score,
            f"cv_{card.metric}_std": self.result.score_std,
            "cv_score": self.result.score,
            "fit_seconds": self.result.fit_seconds,
            "wall_seconds": self.wall_seconds,
            "n_iter": self.iterations,
            "fidelity": self.result.trial.fidelity,
        }
        return {key: value for key, value in values.items() if np.isfinite(value)}


def score_trial(
    trial: Trial,
    columns: FeatureColumns,
    features: pd.DataFrame,
    target: pd.Series,
    setup: FoldSetup,
) -> TrialOutcome:
    """Cross-validate one configuration; a failure becomes a NaN score with its reason.

    A cheap look (`trial.fidelity` < 1, from successive halving) fits each fold on that share of
    its training rows and scores the whole validation fold, as a full trial does.
    """
    started = time.perf_counter()
    if trial.fidelity < 1.0:
        setup = dataclasses.replace(setup, train_fraction=trial.fidelity)
    try:
        pipeline = build_pipeline(setup.card, columns, trial.family, trial.params, setup.seed)
        pipeline = limit_threads(pipeline, setup.threads)
        keep = trial.fidelity >= 1.0 and can_keep_predictions(target, setup.card.task)
        score = cross_validate_pipeline(pipeline, features, target, setup, keep)
        result = TrialResult(trial, score.mean, score.std, score.fit_seconds, score.out_of_fold)
        error, iterations = "", score.iterations
    except TRIAL_FAILURES as failure:
        nan = float("nan")
        result = TrialResult(trial, nan, nan, nan)
        error, iterations = f"{type(failure).__name__}: {failure}"[:500], nan
    return TrialOutcome(result, error, time.perf_counter() - started, iterations)


def can_keep_predictions(target: pd.Series, task: str) -> bool:
    """Whether a trial's held-out predictions are small enough to keep (KEPT_PREDICTION_VALUES)."""
    width = 1 if task == "regression" else target.nunique()
    return len(target) * width <= KEPT_PREDICTION_VALUES
