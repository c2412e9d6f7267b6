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

from typing import Any

import numpy as np
import pandas as pd
from imblearn.over_sampling import SMOTE, SMOTEN, SMOTENC, RandomOverSampler
from imblearn.pipeline import Pipeline as ImbalancedPipeline
from imblearn.under_sampling import RandomUnderSampler
from scipy import sparse
from sklearn.base import BaseEstimator, clone
from sklearn.pipeline import Pipeline
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.validation import has_fit_parameter

from mleng.card.imbalance import ImbalanceSettings, SamplerName
from mleng.training.ensembles import BalancedChunkEnsemble


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
        return ImbalancedPipeline([*flatten_steps(head), ("sampler", sampler), (name, estimator)])
    ensemble = BalancedChunkEnsemble(
        estimator, voting=settings.voting, random_state=seed, max_chunks=settings.max_chunks
    )
    return Pipeline([*head, (name, ensemble)]) if head else ensemble


def flatten_steps(steps: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """Steps with nested pipelines spliced in (`features` -> `features_columns`, ...).

    imbalanced-learn refuses a `Pipeline` as an intermediate step, and the card's configured
    feature pipeline is one; its parameters are set before this wrapping, so the names can change.
    """
    flat: list[tuple[str, Any]] = []
    for name, step in steps:
        if isinstance(step, Pipeline):
            flat += [(f"{name}_{inner}", inner_step) for inner, inner_step in step.steps]
        else:
            flat.append((name, step))
    return flat


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
