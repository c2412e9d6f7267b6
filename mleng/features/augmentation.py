"""Noisy copies of training rows: a cheap regulariser for small tabular training sets.

Call it after the train/test split with the training rows only: test rows must stay real rows,
or the evaluation would score the model on data it was built to resemble.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def augment_training_rows(
    X: pd.DataFrame,
    y: pd.Series,
    copies: int,
    noise_fraction: float,
    numeric_columns: Sequence[str],
    seed: int,
) -> tuple[pd.DataFrame, pd.Series]:
    """The rows followed by `copies` copies whose numeric features carry Gaussian noise.

    Each numeric column's noise has standard deviation `noise_fraction` times that column's
    standard deviation in `X`, so every feature is perturbed on its own scale. Missing values
    stay missing, other columns and the target are copied unchanged, and numeric columns become
    float. The result has a fresh 0..n-1 index; the original rows come first, in order.
    """
    if copies < 0:
        raise ValueError(f"copies must be >= 0, got {copies}")
    if not 0 <= noise_fraction <= 1:
        raise ValueError(f"noise_fraction must be in [0, 1], got {noise_fraction}")
    if len(X) != len(y):
        raise ValueError(
            f"X has {len(X)} rows but y has {len(y)}; pass the training rows and their targets"
        )
    absent = sorted(set(numeric_columns) - set(X.columns))
    if absent:
        raise ValueError(f"numeric columns {absent} are not in X")
    not_numeric = [c for c in numeric_columns if not pd.api.types.is_numeric_dtype(X[c])]
    if not_numeric:
        raise ValueError(
            f"columns {not_numeric} are not numeric; list only numeric columns to perturb"
        )
    rows = X.copy()
    for column in numeric_columns:
        rows[column] = rows[column].astype(float)
    if copies == 0 or len(X) == 0:
        return rows.reset_index(drop=True), y.reset_index(drop=True)
    rng = np.random.default_rng(seed)
    spread = (
        rows[list(numeric_columns)].std().fillna(0.0).to_numpy() if numeric_columns else np.empty(0)
    )
    noisy_copies = []
    for _ in range(copies):
        copy = rows.copy()
        if numeric_columns:
            noise = (
                rng.normal(0.0, 1.0, size=(len(rows), len(numeric_columns)))
                * noise_fraction
                * spread
            )
            copy[list(numeric_columns)] = copy[list(numeric_columns)].to_numpy() + noise
        noisy_copies.append(copy)
    augmented_X = pd.concat([rows, *noisy_copies], ignore_index=True)
    augmented_y = pd.concat([y] * (copies + 1), ignore_index=True)
    return augmented_X, augmented_y
