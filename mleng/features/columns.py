"""Per-column choices as tunable estimators: which encoder or binning each column gets is a
parameter.

`CategoricalEncoder` and `NumericTransformer` resolve their per-column rules at fit time (a rule
such as "more than 30 levels -> target encoding" needs the training rows) and delegate the work to
scikit-learn's encoders and our own. Because the choices are plain parameters, a search can tune
them through `set_params`, e.g. `features__columns__categorical__encoder="count"`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    KBinsDiscretizer,
    MinMaxScaler,
    OneHotEncoder,
    RobustScaler,
    StandardScaler,
    TargetEncoder,
)
from sklearn.utils.validation import check_is_fitted, validate_data

from mleng.card.features import ODDS_ENCODINGS
from mleng.features.encoders import CountEncoder, OddsRatioEncoder

MISSING_LEVEL = "__missing__"
CATEGORICAL_ENCODINGS = ("one_hot", "target", "count", "frequency", "odds_ratio", "log_odds_ratio")
BINNING_STRATEGIES = ("none", "uniform", "quantile", "kmeans")
SCALERS = {"standard": StandardScaler, "robust": RobustScaler, "minmax": MinMaxScaler}


def _column_names(estimator: BaseEstimator) -> list[str]:
    """Input column names: the frame's own, or x0, x1, ... for arrays (scikit-learn's
    convention)."""
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None:
        return [str(name) for name in names]
    return [f"x{index}" for index in range(estimator.n_features_in_)]


def _label_column(values: np.ndarray) -> np.ndarray:
    """One column's values as string labels, missing as its own level.

    Whole-number floats are written as integers, value by value: a code column read as float
    because it had a missing value (3.0) must give the same label as the same code read as int (3).
    """
    missing = pd.isna(values)
    labels = np.full(values.shape, MISSING_LEVEL, dtype=object)
    present = values[~missing]
    kind = pd.api.types.infer_dtype(present, skipna=False)
    if kind in ("string", "empty"):
        labels[~missing] = present
    elif kind in ("integer", "floating", "mixed-integer-float"):
        numbers = present.astype(float)
        whole = (numbers % 1 == 0) & (np.abs(numbers) < 2**53)
        text = numbers.astype(str).astype(object)
        text[whole] = numbers[whole].astype(np.int64).astype(str)
        labels[~missing] = text
    else:
        labels[~missing] = [str(value) for value in present]
    return labels


def _as_labels(X: np.ndarray) -> np.ndarray:
    """Every column as string labels, so mixed types and numeric codes encode safely."""
    labels = np.empty(X.shape, dtype=object)
    for index in range(X.shape[1]):
        labels[:, index] = _label_column(X[:, index])
    return labels


class CategoricalEncoder(TransformerMixin, BaseEstimator):
    """Encode each categorical column with the encoder its rule picks; missing values are a level.

    Precedence: `column_encoders[name]`, then `high_cardinality_encoder` for columns with more than
    `high_cardinality_threshold` training levels, then `encoder`. Encoders: "one_hot"
    (OneHotEncoder, rare levels grouped, unseen levels -> the infrequent column or all zeros),
    "target" (TargetEncoder, cross-fitted, unseen -> target mean), "count" / "frequency"
    (CountEncoder, unseen -> 0), "odds_ratio" / "log_odds_ratio" (OddsRatioEncoder, binary
    targets, cross-fitted, unseen -> 1 / 0). The resolved choice per column is in `encoders_`.
    Output columns come grouped by encoder, groups in the order of their first input column.
    """

    def __init__(  # noqa: PLR0913 - the estimator contract: every parameter here
        self,
        encoder: str = "one_hot",
        high_cardinality_threshold: int | None = None,
        high_cardinality_encoder: str = "target",
        column_encoders: dict[str, str] | None = None,
        min_frequency: float | None = 0.01,  # a float is a share of rows, an int a count
        max_categories: int | None = 50,
        target_type: str = "auto",
        target_smoothing: float | str = "auto",
        odds_smoothing: float = 0.5,
        positive_label: Any = None,
        cv: int = 5,
        random_state: int | None = 0,
    ) -> None:
        self.encoder = encoder
        self.high_cardinality_threshold = high_cardinality_threshold
        self.high_cardinality_encoder = high_cardinality_encoder
        self.column_encoders = column_encoders
        self.min_frequency = min_frequency
        self.max_categories = max_categories
        self.target_type = target_type
        self.target_smoothing = target_smoothing
        self.odds_smoothing = odds_smoothing
        self.positive_label = positive_label
        self.cv = cv
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None) -> CategoricalEncoder:
        labels = self._prepare(X, y)
        for _, encoder, positions in self.groups_:
            encoder.fit(labels[:, positions], y)
        return self

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> np.ndarray:
        """Fit and encode; target and odds encoders return their cross-fitted training encodings."""
        labels = self._prepare(X, y)
        parts = [
            encoder.fit_transform(labels[:, positions], y) for _, encoder, positions in self.groups_
        ]
        return self._stack(parts, labels.shape[0])

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        labels = _as_labels(
            validate_data(self, X, dtype=None, ensure_all_finite=False, reset=False)
        )
        parts = [encoder.transform(labels[:, positions]) for _, encoder, positions in self.groups_]
        return self._stack(parts, labels.shape[0])

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self)
        names = _column_names(self)
        out = [
            encoder.get_feature_names_out([names[p] for p in positions])
            for _, encoder, positions in self.groups_
        ]
        return np.concatenate(out).astype(object) if out else np.array([], dtype=object)

    def _prepare(self, X: Any, y: Any) -> np.ndarray:
        labels = _as_labels(validate_data(self, X, dtype=None, ensure_all_finite=False, reset=True))
        names = _column_names(self)
        overrides = dict(self.column_encoders or {})
        unknown = sorted(set(overrides) - set(names))
        if unknown:
            raise ValueError(
                f"column_encoders names columns {unknown} that are not among the inputs {names}"
            )
        self.encoders_: dict[str, str] = {}
        for position, name in enumerate(names):
            levels = len(pd.unique(labels[:, position]))
            high = (
                self.high_cardinality_threshold is not None
                and levels > self.high_cardinality_threshold
            )
            self.encoders_[name] = overrides.get(
                name, self.high_cardinality_encoder if high else self.encoder
            )
        unknown_encoders = sorted(set(self.encoders_.values()) - set(CATEGORICAL_ENCODINGS))
        if unknown_encoders:
            raise ValueError(
                f"unknown encoders {unknown_encoders}; use any of {list(CATEGORICAL_ENCODINGS)}"
            )
        kinds = list(dict.fromkeys(self.encoders_.values()))
        self.groups_ = [
            (
                kind,
                self._make_encoder(kind, y),
                [p for p, n in enumerate(names) if self.encoders_[n] == kind],
            )
            for kind in kinds
        ]
        return labels

    def _make_encoder(self, kind: str, y: Any) -> BaseEstimator:
        if kind == "one_hot":
            return OneHotEncoder(
                handle_unknown="infrequent_if_exist",
                min_frequency=self.min_frequency,
                max_categories=self.max_categories,
                sparse_output=False,
            )
        if kind == "count":
            # Raw counts run to thousands: scaled, so linear models converge and regularise fairly.
            return Pipeline([("count", CountEncoder()), ("scale", StandardScaler())])
        if kind == "frequency":
            return CountEncoder(normalize=True)
        if kind in ODDS_ENCODINGS:
            return OddsRatioEncoder(
                kind=kind,  # type: ignore[arg-type]
                smoothing=self.odds_smoothing,
                positive_label=self.positive_label,
                cv=self.cv,
                random_state=self.random_state,
            )
        # TargetEncoder takes its shuffled folds as a splitter (scikit-learn >= 1.9).
        splitter = KFold if self.target_type == "continuous" else StratifiedKFold
        if (
            self.target_type == "auto"
            and y is not None
            and pd.api.types.is_float_dtype(np.asarray(y))
        ):
            splitter = KFold
        return TargetEncoder(
            target_type=self.target_type,
            smooth=self.target_smoothing,
            cv=splitter(n_splits=self.cv, shuffle=True, random_state=self.random_state),
        )

    @staticmethod
    def _stack(parts: list[np.ndarray], n_rows: int) -> np.ndarray:
        return np.hstack(parts).astype(float) if parts else np.empty((n_rows, 0))

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        tags.input_tags.allow_nan = True
        return tags


class NumericTransformer(TransformerMixin, BaseEstimator):
    """Impute, then scale or bin each numeric column; binning is chosen globally or per column.

    Unbinned columns: SimpleImputer (with missing indicators) then the scaler, exactly the
    pipeline without settings. Binned columns: imputed, then KBinsDiscretizer with their strategy
    ("uniform", "quantile" or "kmeans") and bin count, plus missing indicators of their own.
    `column_binning` maps a column to {"strategy": ..., "n_bins": ...}; strategy "none" exempts
    it from `binning`. Values outside the training range fall in the first or last bin.
    """

    def __init__(  # noqa: PLR0913 - the estimator contract: every parameter here
        self,
        imputation: str = "median",
        add_indicator: bool = True,
        scaling: str = "standard",
        binning: str = "none",
        n_bins: int = 5,
        bin_encoding: str = "onehot-dense",
        column_binning: dict[str, dict[str, Any]] | None = None,
        random_state: int | None = 0,
    ) -> None:
        self.imputation = imputation
        self.add_indicator = add_indicator
        self.scaling = scaling
        self.binning = binning
        self.n_bins = n_bins
        self.bin_encoding = bin_encoding
        self.column_binning = column_binning
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None) -> NumericTransformer:
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> np.ndarray:
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=True)
        self.groups_ = self._build_groups()
        parts = [step.fit_transform(X[:, positions]) for _, step, positions in self.groups_]
        return np.hstack(parts).astype(float)

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=False)
        return np.hstack(
            [step.transform(X[:, positions]) for _, step, positions in self.groups_]
        ).astype(float)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self)
        names = _column_names(self)
        out = [
            step.get_feature_names_out([names[p] for p in positions])
            for _, step, positions in self.groups_
        ]
        return np.concatenate(out).astype(object)

    def _build_groups(self) -> list[tuple[str, BaseEstimator, list[int]]]:
        names = _column_names(self)
        if self.scaling != "none" and self.scaling not in SCALERS:
            raise ValueError(f"scaling must be one of {['none', *SCALERS]}, got {self.scaling!r}")
        overrides = dict(self.column_binning or {})
        unknown = sorted(set(overrides) - set(names))
        if unknown:
            raise ValueError(
                f"column_binning names columns {unknown} that are not among the inputs {names}"
            )
        self.binning_: dict[str, tuple[str, int]] = {}
        for name in names:
            spec = overrides.get(name, {})
            strategy = spec.get("strategy", self.binning)
            if strategy not in BINNING_STRATEGIES:
                raise ValueError(
                    f"binning strategy for {name!r} must be one of {BINNING_STRATEGIES}, "
                    f"got {strategy!r}"
                )
            self.binning_[name] = (strategy, int(spec.get("n_bins", self.n_bins)))
        imputer = SimpleImputer(strategy=self.imputation, keep_empty_features=True)
        scaled = [p for p, n in enumerate(names) if self.binning_[n][0] == "none"]
        groups: list[tuple[str, BaseEstimator, list[int]]] = []
        if scaled:
            scaler = "passthrough" if self.scaling == "none" else SCALERS[self.scaling]()
            steps = [
                ("impute", clone(imputer).set_params(add_indicator=self.add_indicator)),
                ("scale", scaler),
            ]
            groups.append(("scaled", Pipeline(steps), scaled))
        binned = [p for p, n in enumerate(names) if self.binning_[n][0] != "none"]
        for strategy, n_bins in dict.fromkeys(self.binning_[names[p]] for p in binned):
            positions = [p for p in binned if self.binning_[names[p]] == (strategy, n_bins)]
            discretizer = KBinsDiscretizer(
                n_bins=n_bins,
                encode=self.bin_encoding,
                strategy=strategy,
                random_state=self.random_state,
            )
            groups.append(
                (
                    f"binned_{strategy}_{n_bins}",
                    Pipeline([("impute", clone(imputer)), ("bin", discretizer)]),
                    positions,
                )
            )
        if binned and self.add_indicator:
            groups.append(("binned_missing", MissingIndicator(error_on_new=False), binned))
        return groups

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags
