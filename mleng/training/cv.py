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
from mleng.features.augmentation import (
    TextPerturbation,
    augment_text_rows,
    augment_training_rows,
)
from mleng.features.native import NativeCategoricalEncoder
from mleng.features.pipeline import build_feature_pipeline, build_model_pipeline
from mleng.training.estimators import (
    build_estimator,
    build_target_transform,
    count_iterations,
    scoring_for,
    uses_native_categoricals,
)
from mleng.training.imbalance import build_imbalance_pipeline, imbalance_fit_params
from mleng.training.parallel import map_side_by_side

Augmenter = Callable[[pd.DataFrame, pd.Series], tuple[pd.DataFrame, pd.Series]]


@dataclass(frozen=True)
class OutOfFold:
    """Each held-out row's prediction (probabilities in `classes` order, or values) and its
    position among the cross-validated rows."""

    positions: np.ndarray
    values: np.ndarray
    classes: np.ndarray | None = None


def predict_values(model: Any, rows: pd.DataFrame, classes: np.ndarray | None) -> np.ndarray:
    """A fitted model's predictions as ensemble selection blends them: probabilities in `classes`
    order (zero for a class the model never saw), or values for regression (`classes` None)."""
    if classes is None:
        return np.asarray(model.predict(rows), dtype=float)
    proba = np.zeros((len(rows), len(classes)))
    proba[:, np.searchsorted(classes, np.asarray(model.classes_))] = model.predict_proba(rows)
    return proba


@dataclass(frozen=True)
class CrossValidationScore:
    """Mean and spread of a configuration's fold scores (higher is better), its mean fit time,
    the mean boosting iterations its folds kept after early stopping (nan for other models) and,
    when asked for, every held-out row's prediction."""

    mean: float
    std: float
    fit_seconds: float
    iterations: float = float("nan")
    out_of_fold: OutOfFold | None = None


def build_pipeline(
    card: DatasetCard, columns: FeatureColumns, family: str, params: dict[str, Any], seed: int
) -> Pipeline:
    """Raw-input coercion, the card's feature pipeline and one model family's estimator.

    Parameters named with a step path (`features__columns__categorical__encoder`) tune the
    feature pipeline, so encoder and binning choices can be searched like hyperparameters; the
    rest go to the estimator. `categorical_handling: native` (tree boosting only) replaces the
    card's encoders with one integer-coded category column per feature; `target_transform`
    (regression) fits the estimator on a transformed target (`build_target_transform`).
    """
    model_params = {name: value for name, value in params.items() if "__" not in name}
    step_params = {name: value for name, value in params.items() if "__" in name}
    if uses_native_categoricals(family, model_params, columns):
        if columns.text:
            raise ValueError(
                f"categorical_handling 'native' cannot carry the text columns {columns.text}; "
                "use 'encoded' for this card"
            )
        features: Any = NativeCategoricalEncoder(columns.numeric, columns.categorical)
        # the card's encoder choices tune a feature pipeline this configuration does not have
        step_params = {k: v for k, v in step_params.items() if not k.startswith("features__")}
    else:
        features = build_feature_pipeline(
            columns.numeric,
            columns.categorical,
            settings=card.features,
            task=card.task,
            positive_label=card.positive_label,
            seed=seed,
            text_columns=columns.text,
        )
    estimator = build_estimator(family, model_params, card.task, seed)
    transform = model_params.get("target_transform", "none")
    if card.task == "regression" and transform != "none":
        estimator = build_target_transform(estimator, transform)
    pipeline = build_model_pipeline(features, estimator, columns.numeric, columns.categorical)
    if step_params:
        pipeline.set_params(**step_params)
    if card.task == "regression" or card.imbalance.strategy == "none":
        return pipeline
    return build_imbalance_pipeline(pipeline, card.imbalance, seed)


def limit_threads(pipeline: Pipeline, threads: int | None) -> Pipeline:
    """Cap every `n_jobs` in the pipeline (forests, LightGBM, XGBoost) at `threads`, so trials
    running side by side do not oversubscribe the cores; OpenMP pools are capped by the caller."""
    if threads is None:
        return pipeline
    caps = {
        name: threads
        for name, value in pipeline.get_params(deep=True).items()
        if name.endswith("n_jobs") and (value is None or value < 0 or value > threads)
    }
    return pipeline.set_params(**caps) if caps else pipeline


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
    """Copies of training rows as the card asks (numeric noise, perturbed words), or None when
    augmentation is off.

    With both kinds on, the rows come first, then the numeric copies, then the text copies (each
    made from the rows themselves, so copies never compound).
    """
    settings, text = card.features.augmentation, card.features.text.augmentation
    numeric_on = settings.copies > 0 and bool(columns.numeric)
    text_on = text.copies > 0 and bool(columns.text)
    if not numeric_on and not text_on:
        return None
    perturbation = TextPerturbation(text.word_dropout, text.swap, text.mask, text.mask_token)

    def augment(features: pd.DataFrame, target: pd.Series) -> tuple[pd.DataFrame, pd.Series]:
        rows, labels = features.reset_index(drop=True), target.reset_index(drop=True)
        parts_x, parts_y = [rows], [labels]
        if numeric_on:
            noisy_x, noisy_y = augment_training_rows(
                rows, labels, settings.copies, settings.noise_fraction, columns.numeric, seed
            )
            parts_x[0] = noisy_x.iloc[: len(rows)]  # numeric columns as float, as in the copies
            parts_x.append(noisy_x.iloc[len(rows) :])
            parts_y.append(noisy_y.iloc[len(rows) :])
        if text_on:
            worded_x, worded_y = augment_text_rows(
                rows, labels, text.copies, columns.text, perturbation, seed
            )
            parts_x.append(worded_x.iloc[len(rows) :])
            parts_y.append(worded_y.iloc[len(rows) :])
        return pd.concat(parts_x, ignore_index=True), pd.concat(parts_y, ignore_index=True)

    return augment


@dataclass(frozen=True)
class FoldSetup:
    """How a configuration is cross-validated: the card's folds for the run's seed, the training
    rows' augmentation, an optional adversarial holdout (a boolean mask over the rows), the
    share of each training fold to fit on (below 1 only for a search's cheap looks), and the
    threads a trial's estimator may use (None: every core)."""

    card: DatasetCard
    seed: int
    augment: Augmenter | None = None
    holdout: np.ndarray | None = None
    train_fraction: float = 1.0
    threads: int | None = None  # cores one trial may use when trials run side by side

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
    pipeline: Pipeline,
    features: pd.DataFrame,
    target: pd.Series,
    setup: FoldSetup,
    at_once: bool = False,
) -> Iterator[FoldModel]:
    """Each fold's model, fitted on its training rows (augmented when asked) and nothing else.

    The one place folds are fitted, so scoring trials and tuning the decision threshold can
    never disagree on which rows a model saw. With `at_once` (a caller that is alone on the
    machine, such as the decision threshold), the folds are fitted side by side, one per core and
    each on one thread: on 2 cores a LightGBM fit on one thread took 0.57 s, on two threads
    (OpenMP waiting passively, as the runtime defaults ask) 1.43 s. Same models either way.
    """
    folds = make_folds(setup.card, setup.seed, setup.holdout)
    splits = folds.split(features, target)

    def fit_fold(split: tuple[np.ndarray, np.ndarray], model: Pipeline) -> FoldModel:
        train_index, valid_index = split
        if setup.train_fraction < 1.0:
            train_index = subsample_training_rows(train_index, target, setup)
        fold_x, fold_y = features.iloc[train_index], target.iloc[train_index]
        if setup.augment is not None:
            fold_x, fold_y = setup.augment(fold_x, fold_y)
        started = time.perf_counter()
        fit_params = fit_params_for(model, fold_y, setup.card)
        fitted = guard_early_stopping(clone(model), fold_y, setup.card.task)
        fitted = fitted.fit(fold_x, fold_y, **fit_params)
        return FoldModel(fitted, valid_index, time.perf_counter() - started)

    if not at_once:
        for split in splits:
            yield fit_fold(split, pipeline)
        return
    single = limit_threads(clone(pipeline), 1)  # a copy: the caller's keeps its n_jobs
    yield from map_side_by_side(lambda split: fit_fold(split, single), list(splits))


def subsample_training_rows(
    train_index: np.ndarray, target: pd.Series, setup: FoldSetup
) -> np.ndarray:
    """A cheap look's training rows: `train_fraction` of the fold's, the latest ones for
    time-ordered data, else a seeded sample with every class kept in proportion."""
    keep = max(2, round(setup.train_fraction * len(train_index)))
    if setup.card.timestamp_column:
        return train_index[-keep:]
    rng = np.random.default_rng(setup.seed)
    if setup.card.task == "regression":
        return np.sort(rng.choice(train_index, size=keep, replace=False))
    labels = target.to_numpy()[train_index]
    chosen = []
    for label in pd.unique(labels):
        rows = train_index[labels == label]
        share = max(2, round(setup.train_fraction * len(rows)))
        chosen.append(rng.choice(rows, size=min(share, len(rows)), replace=False))
    return np.sort(np.concatenate(chosen))


def cross_validate_pipeline(
    pipeline: Pipeline,
    features: pd.DataFrame,
    target: pd.Series,
    setup: FoldSetup,
    keep_predictions: bool = False,
) -> CrossValidationScore:
    """Fit on each training fold (augmented when asked) and score the untouched validation fold;
    with `keep_predictions`, also keep each held-out row's prediction (ensemble selection blends
    them later instead of fitting the folds again)."""
    card = setup.card
    scorer = check_scoring(
        pipeline, scoring=scoring_for(card.metric, card.task, card.positive_label)
    )
    classes = np.unique(target.to_numpy()) if card.task != "regression" else None
    scores, fit_seconds, iterations, positions, values = [], [], [], [], []
    for fold in fit_fold_models(pipeline, features, target, setup):
        fit_seconds.append(fold.fit_seconds)
        final = fold.model[-1] if isinstance(fold.model, Pipeline) else fold.model
        iterations.append(count_iterations(final))
        valid_x = features.iloc[fold.valid_index]
        scores.append(scorer(fold.model, valid_x, target.iloc[fold.valid_index]))
        if keep_predictions:
            positions.append(fold.valid_index)
            values.append(predict_values(fold.model, valid_x, classes))
    kept = (
        OutOfFold(np.concatenate(positions), np.concatenate(values), classes)
        if keep_predictions
        else None
    )
    return CrossValidationScore(
        float(np.mean(scores)),
        float(np.std(scores)),
        float(np.mean(fit_seconds)),
        float(np.mean(iterations)),
        kept,
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
    pipeline = guard_early_stopping(pipeline, target, setup.card.task)
    return pipeline.fit(features, target, **fit_params_for(pipeline, target, setup.card))


# Early stopping holds out a tenth of the training rows, stratified for classifiers: below these
# counts that split fails (a class with one row) or scores on a handful of rows, so it is off.
EARLY_STOPPING_MIN_ROWS = 200
EARLY_STOPPING_MIN_CLASS_ROWS = 20


def guard_early_stopping(pipeline: Pipeline, target: pd.Series, task: str) -> Pipeline:
    """The pipeline with early stopping turned off when these training rows are too few for its
    internal validation split; unchanged otherwise (the split is the estimator's own)."""
    params = pipeline.get_params(deep=True)
    switches = [name for name, value in params.items() if name.endswith("early_stopping")]
    if not any(params[name] is True for name in switches):
        return pipeline
    too_few = len(target) < EARLY_STOPPING_MIN_ROWS
    if task != "regression" and not too_few:
        too_few = int(target.value_counts().min()) < EARLY_STOPPING_MIN_CLASS_ROWS
    if not too_few:
        return pipeline
    return pipeline.set_params(**{name: False for name in switches if params[name] is True})


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
