"""Training a configuration: the pipeline for a trial, its CV folds, and a CV loop that augments
training folds only (noisy copies of a row must never be scored as if unseen)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import check_scoring
from sklearn.model_selection import KFold, PredefinedSplit, StratifiedKFold, TimeSeriesSplit
from sklearn.pipeline import Pipeline

from mleng.assessment.validation_rows import select_validation_rows
from mleng.card import DatasetCard
from mleng.data.loading import FeatureColumns
from mleng.data.split import window_gap
from mleng.errors import DataError
from mleng.features.augmentation import augment_training_rows
from mleng.features.pipeline import build_feature_pipeline, build_model_pipeline
from mleng.training.estimators import build_estimator, scoring_for
from mleng.training.imbalance import build_imbalance_pipeline, imbalance_fit_params

Augmenter = Callable[[pd.DataFrame, pd.Series], tuple[pd.DataFrame, pd.Series]]


@dataclass(frozen=True)
class CrossValidationScore:
    """Mean and spread of a configuration's fold scores (higher is better) and its mean fit time."""

    mean: float
    std: float
    fit_seconds: float


def build_pipeline(
    card: DatasetCard, columns: FeatureColumns, family: str, params: dict[str, Any], seed: int
) -> Pipeline:
    """Raw-input coercion, the card's feature pipeline and one model family's estimator.

    Parameters named with a step path (`features__columns__categorical__encoder`) tune the
    feature pipeline, so encoder and binning choices can be searched like hyperparameters; the
    rest go to the estimator.
    """
    features = build_feature_pipeline(
        columns.numeric,
        columns.categorical,
        settings=card.features,
        task=card.task,
        positive_label=card.positive_label,
        seed=seed,
    )
    model_params = {name: value for name, value in params.items() if "__" not in name}
    step_params = {name: value for name, value in params.items() if "__" in name}
    estimator = build_estimator(family, model_params, card.task, seed)
    pipeline = build_model_pipeline(features, estimator, columns.numeric, columns.categorical)
    if step_params:
        pipeline.set_params(**step_params)
    if card.task == "regression" or card.imbalance.strategy == "none":
        return pipeline
    return build_imbalance_pipeline(pipeline, card.imbalance, seed)


def make_folds(
    card: DatasetCard, seed: int, holdout: np.ndarray | None = None
) -> KFold | StratifiedKFold | TimeSeriesSplit | PredefinedSplit:
    """The same seeded CV splits for every trial, so scores are comparable; forward-chaining folds
    (with the window gap) for time-ordered data, so no fold trains on its own future.

    With `holdout` (a boolean mask over the rows, from adversarial validation), one split: fit on
    the other rows, score on the held-out rows that look most like the data the model will meet.
    """
    if holdout is not None:
        return PredefinedSplit(np.where(holdout, 0, -1))
    if card.timestamp_column:
        return TimeSeriesSplit(n_splits=card.search.cv_folds, gap=window_gap(card))
    splitter = KFold if card.task == "regression" else StratifiedKFold
    return splitter(n_splits=card.search.cv_folds, shuffle=True, random_state=seed)


def make_augmenter(card: DatasetCard, columns: FeatureColumns, seed: int) -> Augmenter | None:
    """Noisy copies of training rows as the card asks, or None when augmentation is off."""
    settings = card.features.augmentation
    if settings.copies == 0 or not columns.numeric:
        return None

    def augment(features: pd.DataFrame, target: pd.Series) -> tuple[pd.DataFrame, pd.Series]:
        return augment_training_rows(
            features, target, settings.copies, settings.noise_fraction, columns.numeric, seed
        )

    return augment


@dataclass(frozen=True)
class FoldSetup:
    """How a configuration is cross-validated: the card's folds for the run's seed, the training
    rows' augmentation, and an optional adversarial holdout (a boolean mask over the rows)."""

    card: DatasetCard
    seed: int
    augment: Augmenter | None = None
    holdout: np.ndarray | None = None

    @classmethod
    def for_run(
        cls, card: DatasetCard, columns: FeatureColumns, seed: int, holdout: np.ndarray | None
    ) -> FoldSetup:
        """The setup every trial, the refit and the threshold share in one run."""
        return cls(card, seed, make_augmenter(card, columns, seed), holdout)


@dataclass(frozen=True)
class FoldModel:
    """A pipeline clone fitted on one training fold, the rows it held out, and its fit time."""

    model: Pipeline
    valid_index: np.ndarray
    fit_seconds: float


def fit_fold_models(
    pipeline: Pipeline, features: pd.DataFrame, target: pd.Series, setup: FoldSetup
) -> Iterator[FoldModel]:
    """Each fold's model, fitted on its training rows (augmented when asked) and nothing else.

    The one place folds are fitted, so scoring trials and tuning the decision threshold can
    never disagree on which rows a model saw.
    """
    folds = make_folds(setup.card, setup.seed, setup.holdout)
    for train_index, valid_index in folds.split(features, target):
        fold_x, fold_y = features.iloc[train_index], target.iloc[train_index]
        if setup.augment is not None:
            fold_x, fold_y = setup.augment(fold_x, fold_y)
        started = time.perf_counter()
        fit_params = fit_params_for(pipeline, fold_y, setup.card)
        model = clone(pipeline).fit(fold_x, fold_y, **fit_params)
        yield FoldModel(model, valid_index, time.perf_counter() - started)


def cross_validate_pipeline(
    pipeline: Pipeline, features: pd.DataFrame, target: pd.Series, setup: FoldSetup
) -> CrossValidationScore:
    """Fit on each training fold (augmented when asked) and score the untouched validation fold."""
    card = setup.card
    scorer = check_scoring(
        pipeline, scoring=scoring_for(card.metric, card.task, card.positive_label)
    )
    scores, fit_seconds = [], []
    for fold in fit_fold_models(pipeline, features, target, setup):
        fit_seconds.append(fold.fit_seconds)
        scores.append(
            scorer(fold.model, features.iloc[fold.valid_index], target.iloc[fold.valid_index])
        )
    return CrossValidationScore(
        float(np.mean(scores)), float(np.std(scores)), float(np.mean(fit_seconds))
    )


def fit_params_for(pipeline: Pipeline, target: pd.Series, card: DatasetCard) -> dict[str, Any]:
    """Balanced sample weights when the card asks for class weights of a model without them."""
    if card.task == "regression":
        return {}
    return imbalance_fit_params(pipeline, target, card.imbalance)


def fit_pipeline(
    pipeline: Pipeline, features: pd.DataFrame, target: pd.Series, setup: FoldSetup
) -> Pipeline:
    """Fit on all given training rows, augmented when asked."""
    if setup.augment is not None:
        features, target = setup.augment(features, target)
    return pipeline.fit(features, target, **fit_params_for(pipeline, target, setup.card))


def measure_latency_ms(pipeline: Pipeline, rows: pd.DataFrame, n_rows: int = 50) -> float:
    """Median wall time of single-row predictions, in milliseconds: what one request costs."""
    sample = rows.head(n_rows)
    timings = []
    for position in range(len(sample)):
        started = time.perf_counter()
        pipeline.predict(sample.iloc[[position]])
        timings.append((time.perf_counter() - started) * 1000)
    return float(np.median(timings)) if timings else float("nan")


def choose_holdout(
    card: DatasetCard,
    columns: FeatureColumns,
    features: pd.DataFrame,
    target: pd.Series,
    test_features: pd.DataFrame,
    seed: int,
) -> np.ndarray:
    """The adversarial holdout: a mask over `features`, True for the card's share of rows that look
    most like `test_features` (whose labels are never read), checked to keep every class."""
    chosen = select_validation_rows(
        features[columns.all], test_features[columns.all], columns,
        fraction=card.search.adversarial_fraction, seed=seed,
    )  # fmt: skip
    holdout = features.index.isin(chosen)
    check_holdout_classes(card, target, holdout)
    return holdout


def check_holdout_classes(card: DatasetCard, target: pd.Series, holdout: np.ndarray) -> None:
    """Refuse a holdout missing a class: no trial could be scored on it (or fitted without it)."""
    if card.task == "regression":
        return
    every = set(target.unique())
    missing = {
        "validation": every - set(target[holdout].unique()),
        "fitting": every - set(target[~holdout].unique()),
    }
    for part, classes in missing.items():
        if classes:
            raise DataError(
                f"adversarial validation left the {part} rows without class(es) "
                f"{sorted(map(str, classes))} ({int(holdout.sum())} of {len(target)} rows "
                "held out); raise search.adversarial_fraction or use search.validation: cv"
            )
