"""Benchmark problems for bench/search.py: datasets, model families, spaces and fixed CV folds.

Six datasets that ship offline: three 2-parameter SVC spaces (C, gamma) and three 5-parameter
HistGradientBoosting spaces. Each problem caches the CV score of every configuration it has seen,
so methods that propose the same configuration (grid, repeated seeds) do not refit it.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_wine,
    make_classification,
)
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score, train_test_split
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import SVC

from mleng.card import ParamSpec

ROOT = Path(__file__).resolve().parents[1]
CV_SEED = 0

SVC_SPACE = {
    "C": ParamSpec(type="float", low=1e-2, high=1e3, log=True),
    "gamma": ParamSpec(type="float", low=1e-5, high=10.0, log=True),
}
HGB_SPACE = {
    "learning_rate": ParamSpec(type="float", low=0.01, high=1.0, log=True),
    "max_iter": ParamSpec(type="int", low=10, high=50, log=True),
    "max_leaf_nodes": ParamSpec(type="int", low=2, high=64, log=True),
    "min_samples_leaf": ParamSpec(type="int", low=1, high=100, log=True),
    "l2_regularization": ParamSpec(type="float", low=1e-4, high=10.0, log=True),
}


@dataclass
class Problem:
    """One dataset, model and space, with fixed folds and a cache of scored configurations."""

    name: str
    X: np.ndarray
    y: np.ndarray
    build: Callable[[dict[str, Any]], BaseEstimator]
    space: dict[str, ParamSpec]
    scoring: str
    splits: list[tuple[np.ndarray, np.ndarray]]
    cache: dict[str, tuple[float, float]] = field(default_factory=dict)

    def score(self, params: dict[str, Any], fidelity: float = 1.0) -> tuple[float, float]:
        """Mean CV score and the seconds it cost, computed once per configuration and fidelity.

        At `fidelity` < 1 (a cheap look of successive halving) each fold fits on that share of its
        training rows (a fixed sample) and is scored on its whole validation fold, as in mleng.
        """
        key = repr((sorted(params.items()), fidelity))
        if key not in self.cache:
            splits = self.splits if fidelity >= 1 else subsample_splits(self.splits, fidelity)
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                folds = cross_val_score(
                    self.build(params),
                    self.X,
                    self.y,
                    cv=splits,
                    scoring=self.scoring,
                    error_score=np.nan,
                )
            self.cache[key] = (float(np.mean(folds)), time.perf_counter() - start)
        return self.cache[key]


def subsample_splits(
    splits: list[tuple[np.ndarray, np.ndarray]], fraction: float
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The folds with a fixed `fraction` of each training part (validation parts unchanged)."""
    rng = np.random.default_rng(CV_SEED)
    return [
        (
            np.sort(rng.choice(train, size=max(2, round(fraction * len(train))), replace=False)),
            valid,
        )
        for train, valid in splits
    ]


def make_problem(name: str, X: np.ndarray, y: np.ndarray, model: str, scoring: str) -> Problem:
    """Wrap a dataset with its model family, space and 3-fold splits (stratified if classifying)."""
    classify = scoring != "r2"
    splitter = (
        StratifiedKFold(3, shuffle=True, random_state=CV_SEED)
        if classify
        else KFold(3, shuffle=True, random_state=CV_SEED)
    )
    splits = list(splitter.split(X, y))
    if model == "svc":
        X = StandardScaler().fit_transform(X)  # fitted on all rows: identical for every method
        return Problem(name, X, y, lambda p: SVC(**p), SVC_SPACE, scoring, splits)
    estimator = HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor
    build = lambda p: estimator(early_stopping=False, max_bins=63, random_state=0, **p)
    return Problem(name, X, y, build, HGB_SPACE, scoring, splits)


def subsample(
    X: np.ndarray, y: np.ndarray, n_rows: int, stratify: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """A fixed stratified sample of `n_rows`, to keep each fit cheap on shared cores."""
    if len(y) <= n_rows:
        return X, y
    X_sample, _, y_sample, _ = train_test_split(
        X, y, train_size=n_rows, stratify=y if stratify else None, random_state=0
    )
    return X_sample, y_sample


def load_adult(n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """The bundled Adult census data: a stratified sample, one-hot encoded, target >50K.

    Levels under 2% are grouped (57 columns instead of 107): HistGradientBoosting bins every
    column on every fit, and that binning dominated the benchmark's run time.
    """
    frame = pd.read_csv(ROOT / "data" / "adult.csv.gz")
    target = (
        (frame.pop("class").astype(str).str.strip().str.rstrip(".") == ">50K")
        .astype(int)
        .to_numpy()
    )
    frame, _, target, _ = train_test_split(
        frame, target, train_size=n_rows, stratify=target, random_state=0
    )
    categorical = frame.select_dtypes(exclude="number").columns
    encoder = OneHotEncoder(
        min_frequency=0.02, handle_unknown="infrequent_if_exist", sparse_output=False
    )
    one_hot = encoder.fit_transform(frame[categorical].astype(str))
    return np.hstack([frame.drop(columns=categorical).to_numpy(dtype=float), one_hot]), target


@cache
def load_problems(quick: bool) -> list[Problem]:
    """The benchmark datasets: three 2-parameter SVC spaces and three 5-parameter HGB spaces."""
    if quick:
        return [
            make_problem("wine/svc", *load_wine(return_X_y=True), "svc", "accuracy"),
            make_problem(
                "breast_cancer/svc", *load_breast_cancer(return_X_y=True), "svc", "roc_auc"
            ),
            make_problem("diabetes/hgb", *load_diabetes(return_X_y=True), "hgb", "r2"),
        ]
    synthetic = make_classification(1000, 20, n_informative=8, flip_y=0.05, random_state=0)
    return [
        make_problem("breast_cancer/svc", *load_breast_cancer(return_X_y=True), "svc", "roc_auc"),
        make_problem("wine/svc", *load_wine(return_X_y=True), "svc", "accuracy"),
        make_problem(
            "digits/svc", *subsample(*load_digits(return_X_y=True), 900), "svc", "accuracy"
        ),
        make_problem("diabetes/hgb", *load_diabetes(return_X_y=True), "hgb", "r2"),
        make_problem("adult/hgb", *load_adult(4000), "hgb", "roc_auc"),
        make_problem("make_classification/hgb", *synthetic, "hgb", "roc_auc"),
    ]
