"""The split: a row's side depends only on its key, so data versions and seeds never move it."""

import numpy as np
import pandas as pd
import pytest

from mleng.card import DatasetCard
from mleng.data.loading import FeatureColumns, infer_feature_columns, load_dataset
from mleng.data.split import (
    cap_rows,
    compute_row_keys,
    format_row_keys,
    split_dataset,
)
from mleng.errors import DataError
from tests.helpers import ADULT
from tests.helpers import toy_card as card_for


def split_keys(frame, card):
    split = split_dataset(frame, card, infer_feature_columns(frame, card))
    return set(format_row_keys(split.train_keys)), set(format_row_keys(split.test_keys)), split


def test_split_keeps_the_test_share_and_class_shares(toy_csv):
    card = card_for(toy_csv)
    _, _, split = split_keys(load_dataset(card), card)
    assert abs(len(split.test_rows) / 2000 - 0.2) < 0.03
    shares = [(side.y == "yes").mean() for side in (split.train_rows, split.test_rows)]
    assert abs(shares[0] - shares[1]) < 0.05
    assert split.train_x.columns.tolist() == split.columns.all and split.test_y.name == "y"


def test_adding_and_removing_rows_never_moves_an_old_row_across():
    adult = pd.read_csv(ADULT).drop_duplicates()
    card = DatasetCard.model_validate(
        {"name": "adult", "path": str(ADULT), "target": "class", "task": "binary",
         "model_name": "a", "positive_label": ">50K"}
    )  # fmt: skip
    old = adult.iloc[:30000]
    old_train, old_test, _ = split_keys(old, card)
    new_train, new_test, _ = split_keys(adult, card)
    assert old_train <= new_train and old_test <= new_test
    assert not old_train & new_test  # no new test row was a training row of the old version
    fewer_train, fewer_test, _ = split_keys(old.drop(old.index[5]), card)
    assert fewer_train <= old_train and fewer_test <= old_test


def test_row_keys_ignore_dtype_drift_and_declared_ids_decide_alone():
    frame = pd.DataFrame({"id": [1, 2, 3], "x": [5, 6, 7], "y": ["a", "b", "a"]})
    drifted = frame.assign(x=frame.x.astype(float))
    card = DatasetCard.model_validate(
        {"name": "t", "path": "t.csv", "target": "y", "task": "binary", "model_name": "t"}
    )
    np.testing.assert_array_equal(compute_row_keys(frame, card), compute_row_keys(drifted, card))
    by_id = card.model_copy(update={"id_columns": ["id"]})
    changed = frame.assign(x=[50, 60, 70])
    np.testing.assert_array_equal(compute_row_keys(frame, by_id), compute_row_keys(changed, by_id))
    assert len(set(compute_row_keys(frame, card))) == 3


def test_identical_rows_always_land_on_the_same_side(toy_csv):
    card = card_for(toy_csv)
    frame = load_dataset(card)
    doubled = pd.concat([frame, frame.iloc[:300]], ignore_index=True)
    split = split_dataset(doubled, card, FeatureColumns(["x", "n"], ["c"]))
    shared = set(format_row_keys(split.train_keys)) & set(format_row_keys(split.test_keys))
    assert not shared


def test_tiny_data_still_gets_every_class_on_both_sides(tmp_path):
    frame = pd.DataFrame({"x": range(12), "y": ["a"] * 9 + ["b"] * 3})
    card = card_for(tmp_path / "t.csv")
    split = split_dataset(frame, card, FeatureColumns(["x"], []))
    assert set(split.train_y) == {"a", "b"} and set(split.test_y) == {"a", "b"}


def test_a_class_of_one_row_is_a_clear_error(tmp_path):
    frame = pd.DataFrame({"x": range(10), "y": ["a"] * 9 + ["b"]})
    with pytest.raises(DataError, match="Class 'b' of target 'y' has 1 row"):
        split_dataset(frame, card_for(tmp_path / "t.csv"), FeatureColumns(["x"], []))


def test_temporal_split_puts_the_latest_rows_in_test(toy_csv):
    card = card_for(toy_csv, timestamp_column="when")
    frame = load_dataset(card)
    split = split_dataset(frame, card, infer_feature_columns(frame, card))
    assert pd.to_datetime(split.train_rows.when).max() < pd.to_datetime(split.test_rows.when).min()


def test_cap_rows_samples_stratified_down_to_the_limit(toy_csv):
    card = card_for(toy_csv, search={"budget": 10, "max_rows": 100})
    frame = load_dataset(card)
    sample_x, sample_y = cap_rows(frame[["x"]], frame["y"], card, seed=0)
    assert (
        len(sample_x) == 100 and abs((sample_y == "yes").mean() - (frame.y == "yes").mean()) < 0.02
    )
