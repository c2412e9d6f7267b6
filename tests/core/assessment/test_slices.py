"""Slice metrics: per-group estimates with intervals that mean what they say."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mleng.assessment.slices import MISSING, OTHER, group_rows, measure_slices
from mleng.evaluation import Predictions, Resampling, Truth, compute_metrics


def make_binary_test_rows(seed: int = 0) -> tuple[np.ndarray, Predictions, pd.DataFrame]:
    """400 rows: perfect predictions for region "north", coin flips for "south", 12 rows "east"."""
    rng = np.random.default_rng(seed)
    region = np.array(["north"] * 200 + ["south"] * 188 + ["east"] * 12)
    y_true = rng.choice(np.array(["no", "yes"]), size=400)
    flipped = np.where(y_true == "yes", "no", "yes")
    y_pred = np.where((region == "north") | (rng.random(400) < 0.5), y_true, flipped)
    proba_yes = np.where(y_pred == "yes", 0.8, 0.2)
    predictions = Predictions(
        y_pred, np.column_stack([1 - proba_yes, proba_yes]), np.array(["no", "yes"])
    )
    groups = pd.DataFrame(
        {"region": region, "age": rng.normal(40, 10, 400)}, index=rng.permutation(400)
    )
    return y_true, predictions, groups


def test_a_group_predicted_perfectly_has_accuracy_one_with_interval_one_to_one() -> None:
    y_true, predictions, groups = make_binary_test_rows()

    slices = measure_slices(
        Truth("binary", y_true, "yes"), predictions, groups, ["region"], Resampling(200, seed=0)
    )

    north = next(s for s in slices if s.group == "north")
    accuracy = north.metrics["accuracy"]
    assert (accuracy.estimate, accuracy.low, accuracy.high) == (1.0, 1.0, 1.0)
    south = next(s for s in slices if s.group == "south")
    assert south.metrics["accuracy"].high < 0.7  # the gap is larger than the luck of the draw


def test_every_interval_contains_its_estimate() -> None:
    y_true, predictions, groups = make_binary_test_rows()

    slices = measure_slices(
        Truth("binary", y_true, "yes"), predictions, groups, ["region", "age"], Resampling(200)
    )

    for item in slices:
        for name, interval in item.metrics.items():
            if not np.isnan(interval.estimate):
                # Resampled sums and the direct estimate may differ in the last bit.
                low, high = interval.low - 1e-12, interval.high + 1e-12
                assert low <= interval.estimate <= high, (item.group, name)


def test_each_estimate_equals_the_metric_of_the_groups_rows() -> None:
    y_true, predictions, groups = make_binary_test_rows()

    slices = measure_slices(
        Truth("binary", y_true, "yes"), predictions, groups, ["region"], Resampling(50)
    )

    rows = np.flatnonzero(groups["region"].to_numpy() == "south")
    subset = Predictions(predictions.y_pred[rows], predictions.proba[rows], predictions.classes)
    expected = compute_metrics(Truth("binary", y_true[rows], "yes"), subset)
    south = next(s for s in slices if s.group == "south")
    assert {name: interval.estimate for name, interval in south.metrics.items()} == pytest.approx(
        expected
    )


def test_small_groups_are_reported_but_marked() -> None:
    y_true, predictions, groups = make_binary_test_rows()

    slices = measure_slices(
        Truth("binary", y_true, "yes"),
        predictions,
        groups,
        ["region"],
        Resampling(50),
        min_group_size=30,
    )

    assert [(s.group, s.rows, s.small) for s in slices] == [
        ("north", 200, False),
        ("south", 188, False),
        ("east", 12, True),
    ]


def test_a_continuous_column_is_sliced_into_ordered_quantile_bins() -> None:
    values = pd.Series(np.r_[np.arange(100.0), [np.nan] * 5])

    groups = group_rows(values, max_groups=20)

    labels = list(groups)
    assert len(labels) == 6 and labels[-1] == MISSING
    assert [len(rows) for rows in groups.values()] == [20, 20, 20, 20, 20, 5]
    assert labels[0].startswith("(-0.001")


def test_dates_are_binned_and_few_numbers_read_in_their_order() -> None:
    dates = pd.Series(pd.date_range("2024-01-01", periods=100, freq="D"))
    levels = pd.Series([3, 1, 1, 2, 2, 2, np.nan])

    assert len(group_rows(dates, max_groups=20)) == 5
    assert list(group_rows(levels, max_groups=20)) == ["1.0", "2.0", "3.0", MISSING]


def test_rare_levels_beyond_the_limit_are_pooled_as_other() -> None:
    values = pd.Series(["a"] * 50 + ["b"] * 30 + [f"rare{i}" for i in range(10)])

    groups = group_rows(values, max_groups=3)

    assert list(groups) == ["a", "b", OTHER]
    assert len(groups[OTHER]) == 10


def test_a_slice_holding_one_class_is_scored_without_named_classes() -> None:
    y_true = np.array([0, 0, 0, 1, 1, 1])
    predictions = Predictions(np.array([0, 0, 1, 1, 1, 0]))
    groups = pd.DataFrame({"site": ["a", "a", "a", "b", "b", "b"]})

    slices = measure_slices(
        Truth("binary", y_true, 1), predictions, groups, ["site"], Resampling(100)
    )

    assert slices[0].metrics["accuracy"].estimate == pytest.approx(2 / 3)
    assert slices[0].metrics["f1"].estimate == 0.0


def test_regression_slices_carry_errors_per_group() -> None:
    y_true = np.arange(60.0)
    predictions = Predictions(y_true + np.where(np.arange(60) < 30, 0.0, 2.0))
    groups = pd.DataFrame({"shift": ["day"] * 30 + ["night"] * 30})

    slices = measure_slices(
        Truth("regression", y_true), predictions, groups, ["shift"], Resampling(100)
    )

    assert [s.metrics["mae"].estimate for s in slices] == [0.0, 2.0]


def test_misaligned_or_unknown_columns_are_refused() -> None:
    y_true, predictions, groups = make_binary_test_rows()
    with pytest.raises(ValueError, match="groups has 10 rows for 400 test rows"):
        measure_slices(Truth("binary", y_true, "yes"), predictions, groups.head(10), ["region"])
    with pytest.raises(ValueError, match=r"\['regoin'\] are not in"):
        measure_slices(Truth("binary", y_true, "yes"), predictions, groups, ["regoin"])
