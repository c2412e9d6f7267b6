"""A lookup-table baseline: the answer of each cell of the strongest one or two raw features.

If a table a clerk could print ("age band x relationship -> share of high earners") is as good
as the searched model, the model has not earned its cost. The table takes raw frames: numeric
columns are cut at training quantiles, categorical columns keep their levels, a missing value is
a cell of its own, and a value never seen in training gets the overall answer. Features are
chosen on training folds only (cross-validated log loss, or squared error for regression), so
test rows judge the table exactly as they judge the model. A cell answers with its class shares
shrunk toward the overall shares (so ROC AUC and expected cost can read them), or its mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.model_selection import KFold, StratifiedKFold

UNSEEN = -1
PARTNERS = 4  # second features tried beside the best first one


@dataclass(frozen=True)
class FeatureCells:
    """How one raw column becomes cell codes 0..size-1 (UNSEEN for values training never saw)."""

    column: str
    edges: np.ndarray | None  # inner quantile edges of a numeric column
    levels: dict[str, int] | None  # a categorical column's levels
    size: int  # codes in use, the last being "missing"

    def encode(self, X: pd.DataFrame) -> np.ndarray:
        values = X[self.column]
        missing = values.isna().to_numpy().copy()
        if self.edges is not None:
            numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
            codes = np.searchsorted(self.edges, np.nan_to_num(numbers), side="right")
            missing |= np.isnan(numbers)
        else:
            text = values.astype(str).to_numpy()
            codes = np.array([self.levels.get(value, UNSEEN) for value in text], dtype=np.int64)
        return np.where(missing, self.size - 1, codes).astype(np.int64)

    def describe(self) -> str:
        if self.edges is not None:
            return f"`{self.column}` in {len(self.edges) + 1} quantile bins"
        return f"`{self.column}` ({len(self.levels)} levels)"


def build_cells(column: str, values: pd.Series, n_bins: int) -> FeatureCells:
    """Quantile bins for a numeric column, levels for anything else; one more code for missing."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        finite = numbers[np.isfinite(numbers)]
        quantiles = np.linspace(0, 1, n_bins + 1)[1:-1]
        edges = np.unique(np.quantile(finite, quantiles)) if finite.size else np.array([])
        return FeatureCells(column, edges, None, len(edges) + 2)
    levels = sorted(set(values.dropna().astype(str)))
    return FeatureCells(column, None, {level: i for i, level in enumerate(levels)}, len(levels) + 1)


def combine(codes: list[np.ndarray], sizes: list[int]) -> np.ndarray:
    """One cell code per row for several features' codes; UNSEEN if any part is unseen."""
    combined = np.zeros(len(codes[0]), dtype=np.int64)
    unseen = np.zeros(len(codes[0]), dtype=bool)
    for part, size in zip(codes, sizes, strict=True):
        unseen |= part == UNSEEN
        combined = combined * size + np.clip(part, 0, None)
    return np.where(unseen, UNSEEN, combined)


def cell_answers(
    cells: np.ndarray, targets: np.ndarray, n_cells: int, smoothing: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per cell, the smoothed answer (rows: cells; columns: classes, or one mean), and the
    overall answer: counts shrunk toward the overall shares with `smoothing` pseudo-rows."""
    overall = targets.mean(axis=0)
    sums = np.zeros((n_cells, targets.shape[1]))
    np.add.at(sums, cells, targets)
    counts = np.bincount(cells, minlength=n_cells)[:, None].astype(float)
    return (sums + smoothing * overall) / (counts + smoothing), overall


class LookupTable(BaseEstimator):
    """The answer of each cell of the one or two raw columns that score best on training folds.

    `task` is binary, multiclass or regression; `max_features` 1 or 2; `n_bins` quantile bins per
    numeric column; `smoothing` pseudo-rows of the overall answer in every cell.
    """

    def __init__(
        self,
        task: str = "binary",
        max_features: int = 2,
        n_bins: int = 5,
        smoothing: float = 1.0,
        cv_folds: int = 3,
        random_state: int = 0,
    ):
        self.task = task
        self.max_features = max_features
        self.n_bins = n_bins
        self.smoothing = smoothing
        self.cv_folds = cv_folds
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y: Any) -> LookupTable:
        y = np.asarray(y)
        targets = self._encode_target(y)
        candidates = [build_cells(column, X[column], self.n_bins) for column in X.columns]
        codes = {cells.column: cells.encode(X) for cells in candidates}
        folds = self._folds(y)
        scored = sorted(
            ((self._cv_loss([c], codes, targets, folds), c) for c in candidates),
            key=lambda pair: pair[0],
        )
        best_loss, best = scored[0]
        chosen = [best]
        if self.max_features >= 2:
            for _, partner in scored[1 : 1 + PARTNERS]:
                loss = self._cv_loss([best, partner], codes, targets, folds)
                if loss < best_loss:
                    best_loss, chosen = loss, [best, partner]
        self.features_ = chosen
        self.cv_loss_ = float(best_loss)
        cells, n_cells = self._cells(chosen, codes)
        self.answers_, self.overall_ = cell_answers(cells, targets, n_cells, self.smoothing)
        self.n_features_in_ = X.shape[1]
        return self

    def _encode_target(self, y: np.ndarray) -> np.ndarray:
        if self.task == "regression":
            return y.astype(float).reshape(-1, 1)
        self.classes_ = np.unique(y)
        return (y[:, None] == self.classes_[None, :]).astype(float)

    def _folds(self, y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        if self.task == "regression":
            splitter = KFold(self.cv_folds, shuffle=True, random_state=self.random_state)
        else:
            splitter = StratifiedKFold(self.cv_folds, shuffle=True, random_state=self.random_state)
        return list(splitter.split(np.zeros(len(y)), y))

    @staticmethod
    def _cells(features: list[FeatureCells], codes: dict[str, np.ndarray]) -> tuple[Any, int]:
        sizes = [cells.size for cells in features]
        combined = combine([codes[cells.column] for cells in features], sizes)
        return np.clip(combined, 0, None), int(np.prod(sizes))

    def _cv_loss(self, features, codes, targets, folds) -> float:
        """Mean held-out log loss (classification) or squared error of the table on `features`."""
        cells, n_cells = self._cells(features, codes)
        losses = []
        for train, valid in folds:
            answers, _ = cell_answers(cells[train], targets[train], n_cells, self.smoothing)
            predicted = answers[cells[valid]]
            if self.task == "regression":
                losses.append(np.mean((predicted[:, 0] - targets[valid, 0]) ** 2))
            else:
                chosen = np.sum(predicted * targets[valid], axis=1)
                losses.append(-np.mean(np.log(np.clip(chosen, 1e-12, None))))
        return float(np.mean(losses))

    def _answer(self, X: pd.DataFrame) -> np.ndarray:
        sizes = [cells.size for cells in self.features_]
        combined = combine([cells.encode(X) for cells in self.features_], sizes)
        answers = self.answers_[np.clip(combined, 0, None)]
        answers[combined == UNSEEN] = self.overall_
        return answers

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        if self.task == "regression":
            raise AttributeError("a regression lookup table has no probabilities")
        return self._answer(X)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        answers = self._answer(X)
        if self.task == "regression":
            return answers[:, 0]
        return self.classes_[np.argmax(answers, axis=1)]

    def describe(self) -> str:
        """The table in words, e.g. "lookup table on `age` in 5 quantile bins x `sex`"."""
        return "lookup table on " + " x ".join(cells.describe() for cells in self.features_)


def fit_lookup_table(task: str, X_train: pd.DataFrame, y_train: Any, seed: int) -> LookupTable:
    """The lookup-table baseline fitted on the training rows."""
    return LookupTable(task=task, random_state=seed).fit(X_train, y_train)
