"""Held-out predictive power of one column, a pair of columns or a pattern hidden in an id.

Each probe encodes the column on a training part (categories by their label frequencies),
fits a shallow tree and scores the held-out part, so a column that merely memorises rows
(an id) scores near chance while one that truly carries the label scores near perfect.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from mleng.card import Task
from mleng.quality.columns import is_numeric_column, to_float_array
from mleng.quality.group_metrics import compute_auc

HOLDOUT_FRACTION = 0.3
SMOOTHING = 1.0  # prior rows added to each category's label counts


@dataclass(frozen=True)
class ProbeData:
    """A labelled sample split once into a training and a held-out part, shared by all probes."""

    train: pd.DataFrame
    test: pd.DataFrame
    y_train: np.ndarray
    y_test: np.ndarray
    task: Task
    classes: int


@dataclass(frozen=True)
class LabelledSample:
    """Rows with a usable label, the target column, the task and the metric its probes report."""

    frame: pd.DataFrame
    target: str
    task: Task
    metric: str


@dataclass(frozen=True)
class ColumnScores:
    """Each column's held-out score on its own, and what all columns reach together (or NaN)."""

    scores: dict[str, float]
    whole_score: float

    def of(self, column: str) -> float:
        """The column's own score, NaN when it was not scored."""
        return self.scores.get(column, float("nan"))


def split_probe_data(frame: pd.DataFrame, y: np.ndarray, task: Task, seed: int) -> ProbeData | None:
    """One stratified train/held-out split; None when the labels cannot support one."""
    if len(frame) < 20:
        return None
    classes = len(np.unique(y)) if task != "regression" else 0
    stratify = None
    if task != "regression":
        if classes < 2:
            return None
        counts = np.unique(y, return_counts=True)[1]
        stratify = y if counts.min() >= 2 else None
    train_index, test_index = train_test_split(
        np.arange(len(frame)), test_size=HOLDOUT_FRACTION, random_state=seed, stratify=stratify
    )
    return ProbeData(
        frame.iloc[train_index],
        frame.iloc[test_index],
        y[train_index],
        y[test_index],
        task,
        classes,
    )


def encode_column(
    train: pd.Series, test: pd.Series, y_train: np.ndarray, task: Task, classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Numbers as they are; categories as smoothed label frequencies learnt on the training part.

    Frequencies are one column per class (one column for binary and regression), so a tree can
    split categories the way the label groups them. Unseen categories get the overall frequency.
    """
    if is_numeric_column(train) or pd.api.types.is_datetime64_any_dtype(train):
        return to_float_array(train)[:, None], to_float_array(test)[:, None]
    keys_train = train.astype("string").fillna("<missing>").to_numpy()
    keys_test = test.astype("string").fillna("<missing>").to_numpy()
    targets = build_target_matrix(y_train, task, classes)
    prior = targets.mean(axis=0)
    table = pd.DataFrame(targets).groupby(keys_train)
    sums, counts = table.sum(), table.size()
    encoded = (sums.to_numpy() + SMOOTHING * prior) / (counts.to_numpy()[:, None] + SMOOTHING)
    lookup = pd.DataFrame(encoded, index=sums.index)
    train_values = lookup.reindex(keys_train).to_numpy()
    test_values = lookup.reindex(keys_test).to_numpy().copy()
    test_values[np.isnan(test_values).any(axis=1)] = prior
    return train_values, test_values


def build_target_matrix(y: np.ndarray, task: Task, classes: int) -> np.ndarray:
    """Labels as columns to average: the value (regression), positive flag (binary), one-hot."""
    if task == "regression":
        return y.astype(float)[:, None]
    if task == "binary":
        return (y == 1).astype(float)[:, None]
    return np.eye(classes)[y]


def score_holdout(y_test: np.ndarray, predicted: np.ndarray, task: Task, classes: int) -> float:
    """Held-out AUC (binary; macro one-vs-rest for multiclass) or R2; NaN when undefined."""
    if task == "regression":
        if len(y_test) < 2 or np.ptp(y_test) == 0:
            return float("nan")
        residual = ((y_test - predicted) ** 2).sum()
        return float(1 - residual / ((y_test - y_test.mean()) ** 2).sum())
    if task == "binary":
        return float(compute_auc(y_test == 1, predicted[:, -1]))
    scores = [
        compute_auc(y_test == label, predicted[:, label])
        for label in range(classes)
        if 0 < (y_test == label).sum() < len(y_test)
    ]
    return float(np.mean(scores)) if scores else float("nan")


def fit_and_score(
    train: np.ndarray, test: np.ndarray, data: ProbeData, depth: int, seed: int
) -> float:
    """Fit a shallow tree on the encoded training part and score the held-out part."""
    if data.task == "regression":
        model = DecisionTreeRegressor(max_depth=depth, min_samples_leaf=5, random_state=seed)
        return score_holdout(
            data.y_test, model.fit(train, data.y_train).predict(test), data.task, data.classes
        )
    model = DecisionTreeClassifier(max_depth=depth, min_samples_leaf=5, random_state=seed)
    model.fit(train, data.y_train)
    proba = np.zeros((len(test), max(data.classes, 2)))
    proba[:, model.classes_] = model.predict_proba(test)
    return score_holdout(data.y_test, proba, data.task, data.classes)


def score_column(data: ProbeData, column: str, depth: int, seed: int) -> float:
    """Held-out score of a shallow tree that sees only this column."""
    train, test = encode_column(
        data.train[column], data.test[column], data.y_train, data.task, data.classes
    )
    return fit_and_score(train, test, data, depth, seed)


def score_pair(data: ProbeData, first: str, second: str, depth: int, seed: int) -> float:
    """Held-out score of a tree on two columns, with their sum and difference when both are numbers.

    Sum and difference let a shallow tree find leaks such as `total = a + b` or `label = a > b`
    that it could only approximate with a staircase of splits.
    """
    parts = [
        encode_column(data.train[c], data.test[c], data.y_train, data.task, data.classes)
        for c in (first, second)
    ]
    train = np.hstack([p[0] for p in parts])
    test = np.hstack([p[1] for p in parts])
    if train.shape[1] == 2:
        train = np.column_stack([train, train[:, 0] + train[:, 1], train[:, 0] - train[:, 1]])
        test = np.column_stack([test, test[:, 0] + test[:, 1], test[:, 0] - test[:, 1]])
    return fit_and_score(train, test, data, depth, seed)


def derive_id_patterns(values: pd.Series) -> dict[str, pd.Series]:
    """Parts of an id that can hide a label: prefixes, suffixes, length and character shape."""
    text = values.astype("string")
    names = {1: "character", 2: "2 characters", 3: "3 characters"}
    patterns = {f"first {names[k]}": text.str[:k] for k in (1, 2, 3)}
    patterns |= {f"last {names[k]}": text.str[-k:] for k in (1, 2, 3)}
    patterns["length"] = text.str.len().astype("string")
    patterns["character shape"] = text.str.replace(r"[A-Za-z]", "A", regex=True).str.replace(
        r"\d", "9", regex=True
    )
    return patterns


def score_id_patterns(data: ProbeData, column: str, depth: int, seed: int) -> tuple[str, float]:
    """The id pattern that best predicts the label on held-out rows, and its score."""
    best_name, best_score = "", float("-inf")
    train_patterns = derive_id_patterns(data.train[column])
    test_patterns = derive_id_patterns(data.test[column])
    for name, train_values in train_patterns.items():
        if train_values.nunique() > 0.5 * len(train_values):
            continue
        train, test = encode_column(
            train_values, test_patterns[name], data.y_train, data.task, data.classes
        )
        score = fit_and_score(train, test, data, depth, seed)
        if np.isfinite(score) and score > best_score:
            best_name, best_score = name, score
    return best_name, best_score


def score_columns_together(data: ProbeData, columns: list[str], depth: int, seed: int) -> float:
    """Held-out score of one deeper tree on every column: what the columns reach together.

    A column that alone scores about as well as all of them carries the whole signal by itself,
    the mark of a value recorded after the event rather than a measurement among others.
    """
    if not columns:
        return float("nan")
    parts = [
        encode_column(data.train[c], data.test[c], data.y_train, data.task, data.classes)
        for c in columns
    ]
    train = np.hstack([p[0] for p in parts])
    test = np.hstack([p[1] for p in parts])
    return fit_and_score(train, test, data, depth, seed)
