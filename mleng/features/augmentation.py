"""Noisy copies of training rows: a cheap regulariser for small tabular training sets.

Numeric columns get Gaussian noise (`augment_training_rows`); text columns get words dropped,
swapped and masked (`augment_text_rows`). Call them after the train/test split with the training
rows only: test rows must stay real rows, or the evaluation would score the model on data it was
built to resemble.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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


@dataclass(frozen=True)
class TextPerturbation:
    """How one copy's words are perturbed: per-word probabilities and the mask token."""

    word_dropout: float = 0.1
    swap: float = 0.05
    mask: float = 0.0
    mask_token: str = "[MASK]"

    def __post_init__(self) -> None:
        for name in ("word_dropout", "swap", "mask"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if self.word_dropout == 1:
            raise ValueError("word_dropout 1 would drop every word; use a probability below 1")


def perturb_words(text: str, perturbation: TextPerturbation, rng: np.random.Generator) -> str:
    """`text` with words dropped, swapped with their successor and masked at random.

    A text that loses every word keeps one of them at random, so a copy is never empty where
    the row had words.
    """
    words = text.split()
    if not words:
        return text
    kept = [word for word in words if rng.random() >= perturbation.word_dropout]
    if not kept:
        kept = [words[int(rng.integers(len(words)))]]
    position = 0
    while position < len(kept) - 1:
        if rng.random() < perturbation.swap:
            kept[position], kept[position + 1] = kept[position + 1], kept[position]
            position += 2
        else:
            position += 1
    return " ".join(
        perturbation.mask_token if rng.random() < perturbation.mask else word for word in kept
    )


def augment_text_rows(
    X: pd.DataFrame,
    y: pd.Series,
    copies: int,
    text_columns: Sequence[str],
    perturbation: TextPerturbation,
    seed: int,
) -> tuple[pd.DataFrame, pd.Series]:
    """The rows followed by `copies` copies whose text columns have perturbed words.

    Missing text stays missing, other columns and the target are copied unchanged, and the same
    seed gives the same copies. Like `augment_training_rows`, call it on training rows only: the
    result has a fresh 0..n-1 index with the original rows first, in order.
    """
    if copies < 0:
        raise ValueError(f"copies must be >= 0, got {copies}")
    if len(X) != len(y):
        raise ValueError(
            f"X has {len(X)} rows but y has {len(y)}; pass the training rows and their targets"
        )
    absent = sorted(set(text_columns) - set(X.columns))
    if absent:
        raise ValueError(f"text columns {absent} are not in X")
    rows = X.reset_index(drop=True)
    if copies == 0 or len(X) == 0 or not text_columns:
        return rows.copy(), y.reset_index(drop=True)
    rng = np.random.default_rng(seed)
    perturbed_copies = []
    for _ in range(copies):
        copy = rows.copy()
        for column in text_columns:
            values = rows[column]
            copy[column] = pd.Series(
                [
                    value if pd.isna(value) else perturb_words(str(value), perturbation, rng)
                    for value in values.astype(object)
                ],
                index=rows.index,
                dtype=object,
            )
        perturbed_copies.append(copy)
    augmented_X = pd.concat([rows, *perturbed_copies], ignore_index=True)
    augmented_y = pd.concat([y] * (copies + 1), ignore_index=True)
    return augmented_X, augmented_y
