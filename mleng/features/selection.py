"""Feature selection after encoding: correlated duplicates, mutual information, model importance."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor
from sklearn.feature_selection import (
    SelectFromModel,
    SelectKBest,
    SelectorMixin,
    mutual_info_classif,
    mutual_info_regression,
)
from sklearn.utils.validation import check_is_fitted, validate_data


class CorrelationFilter(SelectorMixin, BaseEstimator):
    """Drop one column of every pair whose |Pearson correlation| is at or above `threshold`.

    Columns are visited in order and a column is kept unless it is that correlated with one already
    kept, so the first of a duplicated pair survives. Constant columns correlate with nothing.
    `dropped_pairs_` lists (dropped index, kept index, |r|) for the report.
    """

    def __init__(self, threshold: float = 0.95) -> None:
        self.threshold = threshold

    def fit(self, X: Any, y: Any = None) -> CorrelationFilter:
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan")
        if not 0 < self.threshold <= 1:
            raise ValueError(f"threshold must be in (0, 1], got {self.threshold}")
        correlation = np.nan_to_num(np.abs(_correlation_matrix(X)), nan=0.0)
        kept: list[int] = []
        self.dropped_pairs_: list[tuple[int, int, float]] = []
        for column in range(X.shape[1]):
            partners = [k for k in kept if correlation[column, k] >= self.threshold]
            if partners:
                strongest = max(partners, key=lambda k: correlation[column, k])
                self.dropped_pairs_.append(
                    (column, strongest, float(correlation[column, strongest]))
                )
            else:
                kept.append(column)
        self.support_ = np.isin(np.arange(X.shape[1]), kept)
        return self

    def _get_support_mask(self) -> np.ndarray:
        check_is_fitted(self)
        return self.support_

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


def _correlation_matrix(X: np.ndarray) -> np.ndarray:
    """Pearson correlations; pairwise-complete (slower) only when values are missing."""
    if X.shape[0] < 2:
        return np.zeros((X.shape[1], X.shape[1]))
    if np.isnan(X).any():
        return pd.DataFrame(X).corr().to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.atleast_2d(np.corrcoef(X, rowvar=False))


def score_mutual_information(
    X: Any, y: Any, task: str = "binary", random_state: int = 0
) -> np.ndarray:
    """Mutual information of each column with the target; two-valued columns count as discrete.

    One-hot and indicator columns take two values; scoring them as discrete is exact and far
    faster than the nearest-neighbour estimate scikit-learn would use for a dense matrix.
    """
    X = np.array(X, dtype=float)
    discrete = np.zeros(X.shape[1], dtype=bool)
    for j in range(X.shape[1]):
        levels, codes = np.unique(X[:, j], return_inverse=True)
        if len(levels) <= 2:
            discrete[j], X[:, j] = True, codes  # 0/1 codes: a scaled indicator is still a label
    if task == "regression":
        return mutual_info_regression(X, y, discrete_features=discrete, random_state=random_state)
    return mutual_info_classif(X, y, discrete_features=discrete, random_state=random_state)


def build_k_best_selector(k: int, task: str, seed: int) -> SelectKBest:
    """Keep the k columns with the most mutual information with the target (all if fewer)."""
    return SelectKBest(
        score_func=partial(score_mutual_information, task=task, random_state=seed), k=k
    )


def build_model_selector(task: str, threshold: float | str, seed: int) -> SelectFromModel:
    """Keep columns whose extra-trees importance passes `threshold` (e.g. 'median')."""
    model: BaseEstimator
    forest_options = {"n_estimators": 50, "min_samples_leaf": 5, "random_state": seed, "n_jobs": 1}
    if task == "regression":
        model = ExtraTreesRegressor(**forest_options)
    else:
        model = ExtraTreesClassifier(**forest_options)
    return SelectFromModel(model, threshold=threshold)
