"""Class imbalance: weight, resample or ensemble on training rows only, then tune the threshold.

Strategies (`ImbalanceSettings.strategy`):
- `none`: the pipeline as it is.
- `class_weight`: the model's `class_weight="balanced"`, or balanced sample weights passed to
  its `fit` when it has no such parameter (see `imbalance_fit_params`).
- `resample`: an imblearn sampler between the features and the model of an
  `imblearn.pipeline.Pipeline`, which runs samplers in `fit` only, so validation and test rows
  are never resampled. `under` and `over` draw rows at random; `smote` interpolates new minority
  rows, keeping one-hot and flag columns categorical (SMOTE-NC) so they stay 0 or 1.
- `balanced_ensemble`: `BalancedChunkEnsemble` as the model: one model per balanced chunk of the
  training rows (every minority row plus a disjoint share of the majority rows).

The decision threshold is tuned on validation rows (`tune_threshold`); test rows only measure.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from imblearn.over_sampling import SMOTE, SMOTEN, SMOTENC, RandomOverSampler
from imblearn.pipeline import Pipeline as ImbalancedPipeline
from imblearn.under_sampling import RandomUnderSampler
from scipy import sparse
from sklearn.base import BaseEstimator, clone
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import average_precision_score, balanced_accuracy_score, f1_score
from sklearn.model_selection import FixedThresholdClassifier, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.validation import has_fit_parameter

from mleng.card.imbalance import ImbalanceSettings, SamplerName, ThresholdMetric
from mleng.training.ensembles import BalancedChunkEnsemble


def list_default_strategies() -> list[ImbalanceSettings]:
    """Every strategy once, each sampler once, each at a threshold tuned for balanced accuracy:
    the set worth comparing on a new dataset."""
    tuned = {"threshold_metric": "balanced_accuracy"}
    return [
        ImbalanceSettings(strategy="none", **tuned),
        ImbalanceSettings(strategy="class_weight", **tuned),
        ImbalanceSettings(strategy="resample", sampler="under", **tuned),
        ImbalanceSettings(strategy="resample", sampler="over", **tuned),
        ImbalanceSettings(strategy="resample", sampler="smote", **tuned),
        ImbalanceSettings(strategy="balanced_ensemble", **tuned),
    ]


def find_categorical_columns(X: Any) -> np.ndarray:
    """Columns SMOTE must not interpolate: values all 0 or 1 (one-hot levels, missing flags),
    or non-numeric columns of a DataFrame. A blend of 0 and 1 is a value that never occurs."""
    if sparse.issparse(X):
        matrix = sparse.csc_matrix(X)
        column_of_value = np.repeat(np.arange(matrix.shape[1]), np.diff(matrix.indptr))
        other = (matrix.data != 0) & (matrix.data != 1)
        categorical = np.ones(matrix.shape[1], dtype=bool)
        categorical[column_of_value[other]] = False
        return categorical
    frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X))
    return np.array(
        [
            not pd.api.types.is_numeric_dtype(column) or bool(column.isin([0, 1]).all())
            for _, column in frame.items()
        ]
    )


class AdaptiveSMOTE(BaseEstimator):
    """SMOTE on encoded features that keeps categorical columns categorical.

    SMOTE-NC when some columns are categorical (see `find_categorical_columns`), SMOTEN when
    all are, plain SMOTE when none are. Neighbours are capped by the rarest class, and a class
    of one row is duplicated instead (there is nothing to interpolate between).
    """

    def __init__(self, k_neighbors: int = 5, random_state: int | None = None) -> None:
        self.k_neighbors = k_neighbors
        self.random_state = random_state

    def fit_resample(self, X: Any, y: Any) -> tuple[Any, Any]:
        smallest = int(pd.Series(np.asarray(y)).value_counts().min())
        if smallest < 2:
            return RandomOverSampler(random_state=self.random_state).fit_resample(X, y)
        neighbours = min(self.k_neighbors, smallest - 1)
        categorical = find_categorical_columns(X)
        sampler: Any
        if categorical.all():
            sampler = SMOTEN(k_neighbors=neighbours, random_state=self.random_state)
        elif categorical.any():
            sampler = SMOTENC(
                np.flatnonzero(categorical).tolist(),
                k_neighbors=neighbours,
                random_state=self.random_state,
            )
        else:
            sampler = SMOTE(k_neighbors=neighbours, random_state=self.random_state)
        return sampler.fit_resample(X, y)


def build_sampler(name: SamplerName, seed: int) -> Any:
    """The imblearn sampler behind a sampler name, seeded."""
    if name == "under":
        return RandomUnderSampler(random_state=seed)
    if name == "over":
        return RandomOverSampler(random_state=seed)
    if name == "smote":
        return AdaptiveSMOTE(random_state=seed)
    raise ValueError(f"unknown sampler '{name}'; use 'under', 'over' or 'smote'")


def split_final_step(model: BaseEstimator) -> tuple[list[tuple[str, Any]], str, BaseEstimator]:
    """The steps before the model, the model's step name and the model of a (cloned) pipeline."""
    model = clone(model)
    if isinstance(model, Pipeline):
        *head, (name, estimator) = model.steps
        return list(head), name, estimator
    return [], "model", model


def build_imbalance_pipeline(
    model: BaseEstimator, settings: ImbalanceSettings, seed: int
) -> BaseEstimator:
    """An unfitted copy of `model` (a pipeline or a bare estimator) that handles imbalance as set.

    Samplers and the ensemble go right before or in place of the final estimator, so the
    preprocessing is still fitted on every training row and saved with the model.
    """
    if settings.strategy == "none":
        return clone(model)
    head, name, estimator = split_final_step(model)
    if settings.strategy == "class_weight":
        if "class_weight" in estimator.get_params(deep=False):
            estimator.set_params(class_weight="balanced")
        return Pipeline([*head, (name, estimator)]) if head else estimator
    if settings.strategy == "resample":
        sampler = build_sampler(settings.sampler or "under", seed)
        return ImbalancedPipeline([*head, ("sampler", sampler), (name, estimator)])
    ensemble = BalancedChunkEnsemble(
        estimator, voting=settings.voting, random_state=seed, max_chunks=settings.max_chunks
    )
    return Pipeline([*head, (name, ensemble)]) if head else ensemble


def imbalance_fit_params(
    model: BaseEstimator, y: Any, settings: ImbalanceSettings
) -> dict[str, np.ndarray]:
    """Balanced sample weights for `fit` when `class_weight` is asked of a model without it."""
    if settings.strategy != "class_weight":
        return {}
    _, name, estimator = split_final_step(model)
    if "class_weight" in estimator.get_params(deep=False):
        return {}
    if not has_fit_parameter(estimator, "sample_weight"):
        raise ValueError(
            f"{type(estimator).__name__} takes neither class_weight nor sample_weight; "
            "use strategy 'resample' or 'balanced_ensemble' for it"
        )
    key = f"{name}__sample_weight" if isinstance(model, Pipeline) else "sample_weight"
    return {key: compute_sample_weight("balanced", np.asarray(y))}


@dataclass(frozen=True)
class ThresholdChoice:
    """The decision threshold chosen on validation rows and what it bought there."""

    threshold: float  # predict positive when its probability is at least this
    metric: str
    score: float  # the metric on validation rows at `threshold`
    score_at_half: float  # the metric on validation rows at the default 0.5


def score_thresholds(
    positives: np.ndarray, proba_positive: np.ndarray, metric: str
) -> tuple[np.ndarray, np.ndarray]:
    """Each distinct probability as a threshold ("positive if at least") and the metric there."""
    order = np.argsort(-proba_positive, kind="stable")
    ordered, hits = proba_positive[order], positives[order]
    last_of_run = np.r_[ordered[1:] != ordered[:-1], True]
    true_positives = np.cumsum(hits)[last_of_run].astype(float)
    flagged = (np.flatnonzero(last_of_run) + 1).astype(float)
    n_positive, n_negative = hits.sum(), len(hits) - hits.sum()
    false_positives = flagged - true_positives
    if metric == "balanced_accuracy":
        values = (true_positives / n_positive + 1 - false_positives / n_negative) / 2
    elif metric == "f1":
        values = 2 * true_positives / (flagged + n_positive)  # 2TP / (2TP + FP + FN)
    else:
        raise ValueError(f"unknown threshold metric '{metric}'; use 'balanced_accuracy' or 'f1'")
    return ordered[last_of_run], values


def tune_threshold(
    y_true: Any,
    proba_positive: Any,
    metric: ThresholdMetric = "balanced_accuracy",
    positive_label: Any = None,
) -> ThresholdChoice:
    """The threshold that maximises `metric` on validation rows; never call it on test rows.

    The cut sits halfway between the best distinct probability and the next lower one, so a new
    row scored between the two is not decided by which side of a seen value it lands on. Ties go
    to the highest threshold. Without `positive_label`, the larger label is positive, as in
    scikit-learn.
    """
    truth = np.asarray(y_true)
    labels = np.unique(truth)
    if len(labels) != 2:
        raise ValueError(
            f"threshold tuning needs both classes in the validation rows, found {list(labels)}"
        )
    positive = labels[1] if positive_label is None else positive_label
    positives = truth == positive
    if not positives.any():
        raise ValueError(f"positive_label {positive!r} is not among the labels {list(labels)}")
    proba = np.asarray(proba_positive, dtype=float)
    cuts, values = score_thresholds(positives, proba, metric)
    best = int(np.argmax(values))
    lower = cuts[best + 1] if best + 1 < len(cuts) else 0.0
    threshold = float((cuts[best] + lower) / 2)
    at_half = predict_with_threshold(proba, 0.5)
    score_at_half = (
        balanced_accuracy_score(positives, at_half)
        if metric == "balanced_accuracy"
        else f1_score(positives, at_half, zero_division=0.0)
    )
    return ThresholdChoice(threshold, metric, float(values[best]), float(score_at_half))


def predict_with_threshold(proba_positive: Any, threshold: float) -> np.ndarray:
    """True where the positive class's probability reaches `threshold`."""
    return np.asarray(proba_positive, dtype=float) >= threshold


def freeze_with_threshold(
    model: BaseEstimator, threshold: float, positive_label: Any, X: Any, y: Any
) -> FixedThresholdClassifier:
    """The fitted `model` predicting with its tuned threshold, so the registered artifact decides
    as it was validated. Nothing is refitted: `X` and `y` only let scikit-learn read the classes.
    """
    wrapper = FixedThresholdClassifier(
        FrozenEstimator(model),
        threshold=threshold,
        pos_label=positive_label,
        response_method="predict_proba",
    )
    return wrapper.fit(X, y)


def positive_column(model: Any, proba: np.ndarray, positive: Any) -> np.ndarray:
    """The positive class's probability column of a fitted classifier's predict_proba."""
    return proba[:, list(np.asarray(model.classes_)).index(positive)]


def compare_imbalance_strategies(
    X: pd.DataFrame,
    y: pd.Series,
    make_pipeline: Callable[[], BaseEstimator],
    strategies: Sequence[ImbalanceSettings],
    positive_label: Any = None,
    seed: int = 0,
    test_size: float = 0.25,
    validation_size: float = 0.25,
) -> pd.DataFrame:
    """Each strategy fitted on the same rows, its threshold tuned on validation rows, and scored on
    held-out test rows: PR AUC (average precision, threshold-free) next to balanced accuracy and
    F1 at the tuned threshold, since either alone flatters some strategy.

    Rows are split once, stratified: test, then validation out of the rest; the remainder fits.
    """
    labels = np.unique(np.asarray(y))
    if len(labels) != 2:
        raise ValueError(f"comparing imbalance strategies needs a binary target, found {labels}")
    positive = labels[1] if positive_label is None else positive_label
    X_rest, X_test, y_rest, y_test = train_test_split(
        X, y, test_size=test_size, stratify=y, random_state=seed
    )
    X_fit, X_valid, y_fit, y_valid = train_test_split(
        X_rest, y_rest, test_size=validation_size, stratify=y_rest, random_state=seed
    )
    rows = []
    for settings in strategies:
        model = build_imbalance_pipeline(make_pipeline(), settings, seed)
        started = time.perf_counter()
        model.fit(X_fit, y_fit, **imbalance_fit_params(model, y_fit, settings))
        fit_seconds = time.perf_counter() - started
        valid_proba = positive_column(model, model.predict_proba(X_valid), positive)
        test_proba = positive_column(model, model.predict_proba(X_test), positive)
        threshold = (
            tune_threshold(y_valid, valid_proba, settings.threshold_metric, positive).threshold
            if settings.threshold_metric is not None
            else 0.5
        )
        truth, flagged = (
            np.asarray(y_test) == positive,
            predict_with_threshold(test_proba, threshold),
        )
        rows.append(
            {
                "strategy": settings.label,
                "threshold_metric": settings.threshold_metric or "none (0.5)",
                "pr_auc": average_precision_score(truth, test_proba),
                "balanced_accuracy": balanced_accuracy_score(truth, flagged),
                "f1": f1_score(truth, flagged, zero_division=0.0),
                "threshold": threshold,
                "balanced_accuracy_at_half": balanced_accuracy_score(
                    truth, predict_with_threshold(test_proba, 0.5)
                ),
                "fit_seconds": fit_seconds,
            }
        )
    return pd.DataFrame(rows)
