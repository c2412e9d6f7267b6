"""Loading: bad files fail with messages that name the file and the fix."""

import gzip

import pandas as pd
import pytest

from mleng.data.loading import infer_feature_columns, load_dataset
from mleng.errors import DataError
from tests.helpers import toy_card as card_for


def test_missing_file_names_the_path_and_the_card_field(tmp_path):
    with pytest.raises(DataError, match=r"absent\.csv does not exist; fix 'path'"):
        load_dataset(card_for(tmp_path / "absent.csv"))


def test_empty_file_is_a_clear_error(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(DataError, match=r"empty\.csv is empty"):
        load_dataset(card_for(path))


def test_header_only_file_reports_zero_rows(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("x,y\n")
    with pytest.raises(DataError, match="0 rows"):
        load_dataset(card_for(path))


def test_unreadable_csv_names_the_file(tmp_path):
    path = tmp_path / "binary.csv"
    path.write_bytes(gzip.compress(b"x,y\n1,2\n") + b"\xff\xfe garbage")
    with pytest.raises(DataError, match=r"binary\.csv cannot be read as csv"):
        load_dataset(card_for(path))


def test_missing_target_lists_the_columns_present(toy_csv):
    with pytest.raises(DataError, match=r"lacks columns \['label'\].*'x'"):
        load_dataset(card_for(toy_csv, target="label"))


def test_single_class_target_is_rejected(tmp_path):
    path = tmp_path / "one.csv"
    pd.DataFrame({"x": range(10), "y": ["a"] * 10}).to_csv(path, index=False)
    with pytest.raises(DataError, match="single class"):
        load_dataset(card_for(path))


def test_binary_card_with_three_classes_says_to_use_multiclass(tmp_path):
    path = tmp_path / "three.csv"
    pd.DataFrame({"x": range(9), "y": ["a", "b", "c"] * 3}).to_csv(path, index=False)
    with pytest.raises(DataError, match="task: multiclass"):
        load_dataset(card_for(path))


def test_positive_label_matches_integer_labels_given_as_text(tmp_path):
    path = tmp_path / "ints.csv"
    pd.DataFrame({"x": range(10), "y": [0, 1] * 5}).to_csv(path, index=False)
    card = card_for(path, positive_label="1")
    load_dataset(card)
    assert card.positive_label == 1


def test_unknown_positive_label_is_rejected(toy_csv):
    with pytest.raises(DataError, match="positive_label 'maybe'"):
        load_dataset(card_for(toy_csv, positive_label="maybe"))


def test_columns_are_inferred_by_dtype_excluding_target_and_timestamp(toy_csv):
    card = card_for(toy_csv, timestamp_column="when")
    columns = infer_feature_columns(load_dataset(card), card)
    assert columns.numeric == ["x", "n"] and columns.categorical == ["c"]
