"""Numeric columns: the three binning strategies, per-column choices, and missing values at predict
time."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from mleng.features.columns import NumericTransformer


@pytest.fixture(autouse=True, scope="module")
def single_thread() -> Iterator[None]:
    """k-means binning uses OpenMP, which crawls when its threads fight other processes for 2
    cores."""
    with threadpool_limits(limits=1):
        yield


def bin_edges(transformer: NumericTransformer, group: int = 0) -> np.ndarray:
    _, pipeline, _ = transformer.groups_[group]
    return pipeline.named_steps["bin"].bin_edges_[0]


def skewed_frame(rows: int = 1000) -> pd.DataFrame:
    return pd.DataFrame({"income": np.random.default_rng(0).exponential(10.0, rows)})


def test_uniform_binning_cuts_the_range_into_equal_widths() -> None:
    frame = skewed_frame()
    transformer = NumericTransformer(binning="uniform", n_bins=4, bin_encoding="ordinal").fit(frame)
    edges = bin_edges(transformer, group=0)
    assert np.diff(edges) == pytest.approx(
        np.full(4, (frame.income.max() - frame.income.min()) / 4)
    )


def test_quantile_binning_puts_equal_counts_in_each_bin() -> None:
    frame = skewed_frame()
    bins = NumericTransformer(
        binning="quantile", n_bins=4, bin_encoding="ordinal", add_indicator=False
    )
    counts = np.bincount(bins.fit_transform(frame).ravel().astype(int))
    assert counts.tolist() == [250, 250, 250, 250]


def test_kmeans_binning_puts_an_edge_between_two_clusters() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": np.r_[rng.normal(0, 1, 500), rng.normal(100, 1, 500)]})
    transformer = NumericTransformer(binning="kmeans", n_bins=2, bin_encoding="ordinal").fit(frame)
    inner_edge = bin_edges(transformer, group=0)[1]
    assert 10 < inner_edge < 90
    assert transformer.transform(pd.DataFrame({"x": [1.0, 99.0]})).ravel().tolist() == [0.0, 1.0]


def test_binning_is_chosen_per_column_and_none_exempts_a_column() -> None:
    frame = pd.DataFrame(
        {"a": np.arange(100.0), "b": np.arange(100.0) ** 2, "c": -np.arange(100.0)}
    )
    transformer = NumericTransformer(
        binning="quantile",
        n_bins=4,
        column_binning={"b": {"strategy": "uniform", "n_bins": 3}, "c": {"strategy": "none"}},
    ).fit(frame)
    assert transformer.binning_ == {"a": ("quantile", 4), "b": ("uniform", 3), "c": ("none", 4)}
    names = list(transformer.get_feature_names_out())
    assert names == ["c", "a_0.0", "a_1.0", "a_2.0", "a_3.0", "b_0.0", "b_1.0", "b_2.0"]


def test_values_outside_the_training_range_fall_in_the_end_bins() -> None:
    frame = pd.DataFrame({"x": np.arange(100.0)})
    transformer = NumericTransformer(binning="uniform", n_bins=5, bin_encoding="ordinal").fit(frame)
    assert transformer.transform(pd.DataFrame({"x": [-1e6, 1e6]})).ravel().tolist() == [0.0, 4.0]


@pytest.mark.parametrize("binning", ["none", "quantile"])
def test_missing_values_never_seen_in_training_are_imputed_not_an_error(binning: str) -> None:
    frame = pd.DataFrame({"x": np.arange(50.0), "y": np.arange(50.0) * 2})
    transformer = NumericTransformer(binning=binning, n_bins=3).fit(frame)
    encoded = transformer.transform(pd.DataFrame({"x": [np.nan], "y": [np.nan]}))
    assert np.isfinite(encoded).all()
    assert encoded.shape[1] == transformer.get_feature_names_out().shape[0]


def test_binned_columns_keep_their_missing_indicators() -> None:
    frame = pd.DataFrame({"x": [1.0, np.nan, 3.0, 4.0, 5.0, np.nan]})
    transformer = NumericTransformer(binning="uniform", n_bins=2, bin_encoding="ordinal").fit(frame)
    assert list(transformer.get_feature_names_out()) == ["x", "missingindicator_x"]
    encoded = transformer.transform(pd.DataFrame({"x": [np.nan, 5.0]}))
    assert encoded[:, 1].tolist() == [1.0, 0.0]


def test_scaling_none_leaves_imputed_values_as_they_were() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, np.nan, 4.0]})
    encoded = NumericTransformer(scaling="none", add_indicator=False).fit_transform(frame)
    assert encoded.ravel().tolist() == [1.0, 2.0, 2.0, 4.0]


def test_column_binning_naming_an_unknown_column_is_an_error() -> None:
    with pytest.raises(ValueError, match="column_binning names columns \\['typo'\\]"):
        NumericTransformer(column_binning={"typo": {"strategy": "uniform"}}).fit(
            pd.DataFrame({"x": [1.0, 2.0]})
        )
