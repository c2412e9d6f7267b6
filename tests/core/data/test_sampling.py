"""Each sampling strategy keeps its promise: exact size, constant gaps, kept proportions, same seed
same rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mleng.card import SamplingSettings
from mleng.data.sampling import allocate_largest_remainder, limit_rows, sample_rows


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    labels = np.array(["a"] * 700 + ["b"] * 250 + ["c"] * 47 + [None] * 3, dtype=object)
    return pd.DataFrame(
        {
            "x": np.arange(1000),
            "label": rng.permutation(labels),
            "region": rng.choice(["n", "s"], 1000),
        }
    )


@pytest.mark.parametrize("strategy", ["random", "systematic", "stratified"])
@pytest.mark.parametrize("n", [0, 1, 37, 333, 999])
def test_every_strategy_returns_exactly_n_distinct_rows(
    frame: pd.DataFrame, strategy: str, n: int
) -> None:
    sample = sample_rows(frame, n, strategy, seed=1, stratify_columns=["label"])
    assert len(sample) == n
    assert sample.index.is_unique


@pytest.mark.parametrize("strategy", ["random", "systematic", "stratified"])
def test_same_seed_gives_same_rows_and_other_seed_other_rows(
    frame: pd.DataFrame, strategy: str
) -> None:
    first = sample_rows(frame, 100, strategy, seed=5, stratify_columns=["label"])
    again = sample_rows(frame, 100, strategy, seed=5, stratify_columns=["label"])
    other = sample_rows(frame, 100, strategy, seed=6, stratify_columns=["label"])
    assert first.index.equals(again.index)
    assert not first.index.equals(other.index)


@pytest.mark.parametrize("n", [10, 100, 333])
def test_systematic_sample_has_constant_gaps_covering_the_whole_frame(
    frame: pd.DataFrame, n: int
) -> None:
    positions = sample_rows(frame, n, "systematic", seed=3)["x"].to_numpy()
    gaps = np.diff(positions)
    assert set(gaps) == {len(frame) // n}
    assert positions[0] < len(frame) // n


@pytest.mark.parametrize("n", [10, 101, 500])
def test_stratified_sample_keeps_each_class_within_one_row_of_its_share(
    frame: pd.DataFrame, n: int
) -> None:
    sample = sample_rows(frame, n, "stratified", seed=2, stratify_columns=["label"])
    expected = frame["label"].value_counts(dropna=False) * n / len(frame)
    counts = sample["label"].value_counts(dropna=False).reindex(expected.index, fill_value=0)
    assert (abs(counts - expected) < 1).all()


def test_stratified_sample_keeps_joint_proportions_of_several_columns(frame: pd.DataFrame) -> None:
    sample = sample_rows(frame, 200, "stratified", seed=2, stratify_columns=["label", "region"])
    expected = frame.groupby(["label", "region"], dropna=False).size() * 200 / len(frame)
    counts = (
        sample.groupby(["label", "region"], dropna=False)
        .size()
        .reindex(expected.index, fill_value=0)
    )
    assert (abs(counts - expected) < 1).all()


def test_rows_keep_their_original_order(frame: pd.DataFrame) -> None:
    for strategy in ("random", "systematic", "stratified"):
        assert sample_rows(frame, 50, strategy, seed=4, stratify_columns=["label"])[
            "x"
        ].is_monotonic_increasing


def test_largest_remainder_sums_to_n_and_rounds_the_largest_remainders_up() -> None:
    counts = allocate_largest_remainder(np.array([5, 3, 2]), 5)
    assert counts.tolist() == [
        3,
        1,
        1,
    ]  # quotas 2.5, 1.5, 1.0: a tie on .5 goes to the larger group
    assert allocate_largest_remainder(np.array([1, 1, 1]), 2).sum() == 2


def test_asking_for_more_rows_than_exist_returns_every_row(frame: pd.DataFrame) -> None:
    assert len(sample_rows(frame, 5000, "systematic")) == len(frame)


def test_bad_requests_raise_errors_that_say_what_to_pass(frame: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="stratify_columns"):
        sample_rows(frame, 10, "stratified")
    with pytest.raises(ValueError, match="not in the data"):
        sample_rows(frame, 10, "stratified", stratify_columns=["nope"])
    with pytest.raises(ValueError, match="negative"):
        sample_rows(frame, -1)
    with pytest.raises(ValueError, match="unknown sampling strategy"):
        sample_rows(frame, 10, "clustered")  # type: ignore[arg-type]


def test_limit_rows_keeps_small_frames_whole_and_stratifies_large_ones_by_target(
    frame: pd.DataFrame,
) -> None:
    assert limit_rows(frame, SamplingSettings(max_rows=None), "label") is frame
    capped = limit_rows(frame, SamplingSettings(max_rows=100), "label", seed=1)
    assert len(capped) == 100
    assert capped["label"].value_counts()["c"] in (4, 5)


def test_limit_rows_stratifies_a_regression_target_by_its_deciles() -> None:
    target = pd.DataFrame({"y": np.r_[np.zeros(900), np.full(100, 50.0)] + np.linspace(0, 1, 1000)})
    capped = limit_rows(target, SamplingSettings(max_rows=100), "y", seed=0, regression=True)
    assert len(capped) == 100
    assert (capped["y"] > 40).sum() == 10
