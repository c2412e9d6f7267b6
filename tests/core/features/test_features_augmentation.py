"""Augmentation: noise on each numeric feature's own scale, training rows only, reproducible."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

from mleng.features.augmentation import augment_training_rows
from mleng.features.pipeline import build_feature_pipeline, build_model_pipeline
from tests.helpers import ADULT_CATEGORICAL, ADULT_NUMERIC


@pytest.fixture(autouse=True, scope="module")
def single_thread() -> Iterator[None]:
    """OpenMP models crawl when their threads fight other test processes for the two shared
    cores."""
    with threadpool_limits(limits=1):
        yield


def two_scales(rows: int = 4000) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {
            "large": rng.normal(0, 10.0, rows),
            "small": rng.normal(0, 0.1, rows),
            "count": rng.integers(0, 5, rows),
            "colour": rng.choice(["red", "blue"], rows),
        }
    )
    return X, pd.Series(rng.integers(0, 2, rows), name="label")


def test_noise_is_a_fraction_of_each_columns_spread() -> None:
    X, y = two_scales()
    augmented, _ = augment_training_rows(
        X, y, copies=1, noise_fraction=0.1, numeric_columns=["large", "small"], seed=0
    )
    noise = (
        augmented.iloc[len(X) :][["large", "small"]].to_numpy() - X[["large", "small"]].to_numpy()
    )
    expected = 0.1 * X[["large", "small"]].std().to_numpy()
    np.testing.assert_allclose(noise.std(axis=0), expected, rtol=0.05)
    assert (np.abs(noise.mean(axis=0)) < 0.05 * expected).all()


def test_originals_come_first_unchanged_and_other_columns_and_targets_are_copied() -> None:
    X, y = two_scales(100)
    augmented, targets = augment_training_rows(
        X, y, copies=2, noise_fraction=0.2, numeric_columns=["large"], seed=0
    )
    assert len(augmented) == len(targets) == 300
    pd.testing.assert_frame_equal(
        augmented.head(100), X.astype({"large": float}), check_dtype=False
    )
    for block in (1, 2):
        part = augmented.iloc[block * 100 : (block + 1) * 100].reset_index(drop=True)
        pd.testing.assert_series_equal(part["colour"], X["colour"])
        pd.testing.assert_series_equal(part["small"], X["small"])
        assert (part["count"] == X["count"]).all()
        assert not np.allclose(part["large"], X["large"])
    assert targets.tolist() == y.tolist() * 3


def test_missing_values_stay_missing_and_zero_copies_change_nothing() -> None:
    X, y = two_scales(50)
    X.loc[3, "large"] = np.nan
    augmented, _ = augment_training_rows(
        X, y, copies=1, noise_fraction=0.1, numeric_columns=["large"], seed=0
    )
    assert np.isnan(augmented.loc[3, "large"]) and np.isnan(augmented.loc[53, "large"])
    unchanged, targets = augment_training_rows(
        X, y, copies=0, noise_fraction=0.1, numeric_columns=["large"], seed=0
    )
    pd.testing.assert_frame_equal(unchanged, X, check_dtype=False)
    assert targets.tolist() == y.tolist()


def test_the_same_seed_gives_the_same_rows() -> None:
    X, y = two_scales(50)
    first, _ = augment_training_rows(
        X, y, copies=2, noise_fraction=0.1, numeric_columns=["large", "small"], seed=3
    )
    again, _ = augment_training_rows(
        X, y, copies=2, noise_fraction=0.1, numeric_columns=["large", "small"], seed=3
    )
    other, _ = augment_training_rows(
        X, y, copies=2, noise_fraction=0.1, numeric_columns=["large", "small"], seed=4
    )
    pd.testing.assert_frame_equal(first, again)
    assert not first.equals(other)


def test_a_non_numeric_column_cannot_be_perturbed() -> None:
    X, y = two_scales(10)
    with pytest.raises(ValueError, match="\\['colour'\\] are not numeric"):
        augment_training_rows(
            X, y, copies=1, noise_fraction=0.1, numeric_columns=["colour"], seed=0
        )


def test_test_rows_are_never_augmented_in_the_training_order(adult_frame: pd.DataFrame) -> None:
    X, y = adult_frame.drop(columns="class"), adult_frame["class"]
    X_train, X_test, y_train, _ = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    test_before = X_test.copy()
    augmented, targets = augment_training_rows(
        X_train, y_train, copies=2, noise_fraction=0.05, numeric_columns=ADULT_NUMERIC, seed=0
    )
    # Every augmented row is a copy of a training row: same categorical values, same target.
    source = pd.concat([X_train] * 3, ignore_index=True)
    pd.testing.assert_frame_equal(augmented[ADULT_CATEGORICAL], source[ADULT_CATEGORICAL])
    assert targets.tolist() == y_train.tolist() * 3
    model = build_model_pipeline(
        build_feature_pipeline(ADULT_NUMERIC, ADULT_CATEGORICAL),
        HistGradientBoostingClassifier(max_iter=30, random_state=0),
    ).fit(augmented, targets)
    first, second = model.predict_proba(X_test), model.predict_proba(X_test)
    pd.testing.assert_frame_equal(X_test, test_before)  # the test rows themselves are untouched
    assert first.shape[0] == len(X_test)  # one prediction per real test row, no copies
    np.testing.assert_array_equal(first, second)  # and no noise is drawn at prediction time
