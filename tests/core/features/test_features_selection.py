"""Selection: one of each correlated pair goes, the most informative columns stay."""

from __future__ import annotations

import numpy as np
import pytest

from mleng.features.selection import (
    CorrelationFilter,
    build_k_best_selector,
    build_model_selector,
    score_mutual_information,
)


def signal_and_noise(rows: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Column 0 decides the class, column 1 is binary and informative, columns 2-4 are noise."""
    rng = np.random.default_rng(0)
    signal = rng.normal(size=rows)
    y = (signal > 0).astype(int)
    flag = np.where(rng.random(rows) < 0.9, y, 1 - y)
    X = np.column_stack([signal, flag, rng.normal(size=(rows, 3))])
    return X, y


def test_correlation_filter_drops_the_second_of_a_duplicated_column() -> None:
    rng = np.random.default_rng(0)
    base, other = rng.normal(size=200), rng.normal(size=200)
    X = np.column_stack([base, other, base * 3 + 1])
    selector = CorrelationFilter(threshold=0.95).fit(X)
    assert selector.get_support().tolist() == [True, True, False]
    assert selector.transform(X).shape == (200, 2)
    assert selector.dropped_pairs_ == [(2, 0, pytest.approx(1.0))]


def test_correlation_filter_counts_negative_correlation_and_keeps_weaker_pairs() -> None:
    rng = np.random.default_rng(1)
    base = rng.normal(size=500)
    X = np.column_stack([base, -base, base + rng.normal(scale=2.0, size=500)])
    assert CorrelationFilter(threshold=0.9).fit(X).get_support().tolist() == [True, False, True]


def test_correlation_filter_keeps_constant_columns() -> None:
    X = np.column_stack([np.arange(10.0), np.ones(10), np.ones(10)])
    assert CorrelationFilter(threshold=0.5).fit(X).get_support().tolist() == [True, True, True]


def test_correlation_filter_rejects_a_threshold_outside_zero_to_one() -> None:
    with pytest.raises(ValueError, match="threshold must be in \\(0, 1\\]"):
        CorrelationFilter(threshold=1.5).fit(np.ones((3, 2)))


def test_mutual_information_ranks_signal_above_noise() -> None:
    X, y = signal_and_noise()
    scores = score_mutual_information(X, y, task="binary", random_state=0)
    assert scores[0] > scores[1] > max(scores[2:])


def test_k_best_keeps_the_k_most_informative_columns() -> None:
    X, y = signal_and_noise()
    selector = build_k_best_selector(k=2, task="binary", seed=0).fit(X, y)
    assert selector.get_support().tolist() == [True, True, False, False, False]


def test_model_based_selection_keeps_informative_columns_and_drops_noise() -> None:
    X, y = signal_and_noise()
    selector = build_model_selector(task="binary", threshold=0.05, seed=0).fit(X, y)
    assert selector.get_support().tolist() == [True, True, False, False, False]
