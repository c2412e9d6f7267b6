"""Fine-stage building blocks: sharing trials among families, and the surrogate."""

from __future__ import annotations

import math

import numpy as np

from mleng.search.fine import allocate_fine_trials, count_exploration_trials
from mleng.search.surrogate import (
    PER_DIMENSION_MIN_OBSERVATIONS,
    PerDimensionSurrogate,
    SharedScaleSurrogate,
    fit_surrogate,
    rank_candidates,
)


def test_allocation_gives_the_best_family_most_and_a_close_runner_up_some() -> None:
    shares = allocate_fine_trials(
        {"a": 0.90, "b": 0.89, "c": 0.60, "d": math.nan}, [0.9, 0.89, 0.6, 0.7, 0.65], 20, 4.0
    )
    assert sum(shares.values()) == 20
    assert shares["a"] >= shares["b"] > shares["c"]
    assert shares["b"] >= 5 and shares["d"] == 0


def test_exploration_share_holds_over_rounds_too_small_to_round_it_alone() -> None:
    per_round = [count_exploration_trials(3, r, 0.15) for r in range(1, 9)]
    assert sum(per_round) == round(0.15 * 24)  # 15% of 3 rounds to zero in any single round
    assert all(0 <= n <= 1 for n in per_round) and per_round[0] == 0
    assert sum(count_exploration_trials(6, r, 0.15) for r in range(1, 9)) == round(0.15 * 48)
    assert all(count_exploration_trials(3, r, 0.0) == 0 for r in range(1, 9))
    assert count_exploration_trials(2, 1, 1.0) == 2


def test_surrogate_ranks_the_candidate_at_the_optimum_first_and_spreads_the_batch() -> None:
    points = np.random.default_rng(0).random((30, 2))
    model = fit_surrogate(points, -np.sum((points - 0.3) ** 2, axis=1))
    candidates = np.array([[0.9, 0.9], [0.3, 0.3], [0.31, 0.29], [0.5, 0.2]])
    first, second = rank_candidates(model, candidates, 2, confidence_weight=0.0, min_distance=0.05)
    assert first in (1, 2) and second == 3  # the near-duplicate of the best is skipped
    assert rank_candidates(None, candidates, 2, 1.0, 0.05) == [0, 1]  # no model: drawing order


def test_surrogate_is_not_fitted_to_scores_that_carry_no_information() -> None:
    points = np.random.default_rng(0).random((10, 3))
    assert fit_surrogate(points, np.full(10, 0.7)) is None
    assert fit_surrogate(points[:2], np.array([0.1, 0.2])) is None


def test_surrogate_learns_a_length_scale_per_parameter_once_it_has_enough_results() -> None:
    points = np.random.default_rng(1).random((PER_DIMENSION_MIN_OBSERVATIONS + 14, 3))
    scores = -((points[:, 0] - 0.4) ** 2)  # only the first parameter matters
    model = fit_surrogate(points, scores)
    assert isinstance(model, PerDimensionSurrogate)
    scales = model.model.kernel_.k1.k2.length_scale
    assert scales[1] > 3 * scales[0] and scales[2] > 3 * scales[0]
    mean, _ = model.predict(np.array([[0.4, 0.9, 0.1], [0.95, 0.4, 0.4]]))
    assert mean[0] > mean[1]


def test_surrogate_keeps_one_shared_length_scale_while_results_are_few() -> None:
    points = np.random.default_rng(1).random((PER_DIMENSION_MIN_OBSERVATIONS - 1, 3))
    model = fit_surrogate(points, -((points[:, 0] - 0.4) ** 2))
    assert isinstance(model, SharedScaleSurrogate)
