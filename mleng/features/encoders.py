"""Categorical encoders scikit-learn lacks: count (bin counting) and cross-fitted odds-ratio
encoding.

Both treat a missing value as a level of its own and never fail on a level unseen in training:
`CountEncoder` maps it to 0 (it was seen zero times), `OddsRatioEncoder` to the neutral value
(odds ratio 1, log-odds ratio 0: no evidence either way).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.model_selection import StratifiedKFold
from sklearn.utils import ClassifierTags
from sklearn.utils.validation import check_is_fitted, validate_data


def _validate_categories(estimator: BaseEstimator, X: Any, reset: bool) -> np.ndarray:
    """Any 2D input as an array whose values are kept as they are (strings stay strings)."""
    return validate_data(estimator, X, dtype=None, ensure_all_finite=False, reset=reset)


def _as_levels(values: np.ndarray) -> pd.Series:
    """One column's values as objects, every kind of missing (None, NaN, NA) as the same NaN
    level."""
    levels = pd.Series(values, dtype=object)
    return levels.where(levels.notna(), np.nan)


def _encode_column(
    values: np.ndarray, levels: pd.Index, encodings: np.ndarray, unseen: float
) -> np.ndarray:
    """Look each value up among the fitted levels; values not found get `unseen`."""
    positions = levels.get_indexer(_as_levels(values).to_numpy())
    return np.where(positions >= 0, encodings[positions], unseen)


class CountEncoder(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Replace each level by how often it occurs in the training rows (or its share with
    `normalize`).

    Counts carry the one thing many high-cardinality columns know, how common a level is, in a
    single column. Unseen levels map to 0. The encoding uses no target, so fit_transform equals
    fit().transform().
    """

    def __init__(self, normalize: bool = False) -> None:
        self.normalize = normalize

    def fit(self, X: Any, y: Any = None) -> CountEncoder:
        X = _validate_categories(self, X, reset=True)
        self.categories_: list[pd.Index] = []
        self.counts_: list[np.ndarray] = []
        for column in X.T:
            counts = _as_levels(column).value_counts(dropna=False, sort=False)
            self.categories_.append(counts.index)
            self.counts_.append(counts.to_numpy(dtype=float))
        self.n_samples_fit_ = X.shape[0]
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = _validate_categories(self, X, reset=False)
        scale = self.n_samples_fit_ if self.normalize else 1.0
        columns = [
            _encode_column(column, levels, counts / scale, unseen=0.0)
            for column, levels, counts in zip(X.T, self.categories_, self.counts_, strict=True)
        ]
        return np.column_stack(columns).astype(float)

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        tags.input_tags.allow_nan = True
        return tags


class OddsRatioEncoder(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Encode each level by the (log) odds ratio of the positive class inside versus outside the
    level.

    For a level with `a` positives and `b` negatives, and `c`, `d` positives and negatives in all
    other rows, the odds ratio is ((a + s)(d + s)) / ((b + s)(c + s)) with `s = smoothing`, so a
    small level is pulled towards 1 instead of being 0 or infinite. Unseen levels map to 1 (log:
    0). `fit_transform` cross-fits like scikit-learn's TargetEncoder: each fold is encoded with
    statistics from the other folds, so no training row sees its own target.
    """

    def __init__(
        self,
        kind: Literal["odds_ratio", "log_odds_ratio"] = "log_odds_ratio",
        smoothing: float = 0.5,
        positive_label: Any = None,
        cv: int = 5,
        random_state: int | None = None,
    ) -> None:
        self.kind = kind
        self.smoothing = smoothing
        self.positive_label = positive_label
        self.cv = cv
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> OddsRatioEncoder:
        X, is_positive = self._validate_fit(X, y)
        self.categories_, self.encodings_ = self._learn_encodings(X, is_positive)
        return self

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> np.ndarray:
        """Fit on all rows (for later transforms) but return out-of-fold encodings of these rows."""
        X, is_positive = self._validate_fit(X, y)
        self.categories_, self.encodings_ = self._learn_encodings(X, is_positive)
        folds = StratifiedKFold(n_splits=self.cv, shuffle=True, random_state=self.random_state)
        encoded = np.empty(X.shape, dtype=float)
        for fit_rows, encode_rows in folds.split(X, is_positive):
            categories, encodings = self._learn_encodings(X[fit_rows], is_positive[fit_rows])
            encoded[encode_rows] = self._encode(X[encode_rows], categories, encodings)
        return encoded

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = _validate_categories(self, X, reset=False)
        return self._encode(X, self.categories_, self.encodings_)

    def _validate_fit(self, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        if self.kind not in ("odds_ratio", "log_odds_ratio"):
            raise ValueError(f"kind must be 'odds_ratio' or 'log_odds_ratio', got {self.kind!r}")
        if not self.smoothing > 0:
            raise ValueError(
                "smoothing must be > 0 so a level seen with one class only gets a finite odds "
                f"ratio, got {self.smoothing}"
            )
        if y is None:
            raise ValueError("OddsRatioEncoder requires y to be passed, but the target y is None")
        X = _validate_categories(self, X, reset=True)
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != X.shape[0]:
            raise ValueError(
                f"y must be 1D with one value per row of X ({X.shape[0]}), got shape {y.shape}"
            )
        self.classes_ = np.unique(y)
        if len(self.classes_) != 2:
            raise ValueError(
                f"odds-ratio encoding needs a binary target, got {len(self.classes_)} classes; "
                "use target encoding for multiclass or regression targets"
            )
        positive = self.classes_[1] if self.positive_label is None else self.positive_label
        if positive not in self.classes_:
            raise ValueError(
                f"positive_label {positive!r} is not one of the target's classes "
                f"{list(self.classes_)}"
            )
        self.positive_label_ = positive
        return X, y == positive

    def _learn_encodings(
        self, X: np.ndarray, is_positive: np.ndarray
    ) -> tuple[list[pd.Index], list[np.ndarray]]:
        total_positive = float(is_positive.sum())
        total_negative = float(len(is_positive) - total_positive)
        categories, encodings = [], []
        for column in X.T:
            groups = pd.Series(is_positive).groupby(_as_levels(column), dropna=False, sort=False)
            summary = groups.agg(["sum", "count"])
            positive = summary["sum"].to_numpy(dtype=float)
            negative = summary["count"].to_numpy(dtype=float) - positive
            smoothing = float(self.smoothing)
            ratio = ((positive + smoothing) * (total_negative - negative + smoothing)) / (
                (negative + smoothing) * (total_positive - positive + smoothing)
            )
            categories.append(summary.index)
            encodings.append(np.log(ratio) if self.kind == "log_odds_ratio" else ratio)
        return categories, encodings

    def _encode(
        self, X: np.ndarray, categories: list[pd.Index], encodings: list[np.ndarray]
    ) -> np.ndarray:
        neutral = 0.0 if self.kind == "log_odds_ratio" else 1.0
        columns = [
            _encode_column(column, levels, values, unseen=neutral)
            for column, levels, values in zip(X.T, categories, encodings, strict=True)
        ]
        return np.column_stack(columns).astype(float)

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        tags.input_tags.allow_nan = True
        tags.target_tags.required = True
        # Declares the binary-only target; estimator checks then give it two-class targets.
        tags.classifier_tags = ClassifierTags(multi_class=False)
        return tags
