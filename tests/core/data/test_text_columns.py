"""Text columns in the card and the data: recognised or declared, never taken for categories."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from mleng.assessment.shift import encode_shift_features
from mleng.card import DatasetCard
from mleng.data.loading import (
    FeatureColumns,
    infer_feature_columns,
    load_dataset,
    looks_like_text,
)
from mleng.errors import DataError
from mleng.quality.checks import drop_columns
from mleng.quality.leakage import detect_leakage


def frame(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    words = np.array(["fit", "model", "array", "signal", "sparse", "matrix", "tree", "kernel"])
    return pd.DataFrame(
        {
            "review": [" ".join(rng.choice(words, size=6)) + f" {i}" for i in range(n)],
            "colour": rng.choice(["red", "green", "blue"], size=n),
            "city": rng.choice(["New York", "San Jose", "Los Angeles"], size=n),
            "size": rng.normal(size=n),
            "y": rng.choice(["a", "b"], size=n),
        }
    )


def card(**changes) -> DatasetCard:
    values = {"name": "t", "path": "t.csv", "target": "y", "task": "binary", "model_name": "t"}
    return DatasetCard.model_validate(values | changes)


def test_multi_word_distinct_strings_are_text_and_short_repeated_ones_categories():
    data = frame()
    assert looks_like_text(data["review"])
    assert not looks_like_text(data["city"])  # two words, but three values repeated
    assert not looks_like_text(data["size"])
    columns = infer_feature_columns(data, card())
    assert columns == FeatureColumns(["size"], ["colour", "city"], ["review"])
    assert columns.all == ["size", "colour", "city", "review"]


def test_a_declared_text_column_is_text_and_an_empty_list_turns_recognition_off():
    data = frame()
    declared = infer_feature_columns(data, card(text_columns=["city"]))
    assert declared.text == ["city"] and "review" in declared.categorical
    assert infer_feature_columns(data, card(text_columns=[])).text == []
    full = card(numeric_columns=["size"], categorical_columns=["colour"], text_columns=["review"])
    assert infer_feature_columns(data, full) == FeatureColumns(["size"], ["colour"], ["review"])


def test_the_card_refuses_a_column_listed_as_text_and_as_another_kind():
    with pytest.raises(ValidationError, match="listed in text_columns and also"):
        card(text_columns=["review"], categorical_columns=["review"])
    with pytest.raises(ValidationError, match="target/id/timestamp"):
        card(text_columns=["y"])
    with pytest.raises(ValidationError, match="ngram_range"):
        card(features={"text": {"ngram_range": [2, 1]}})
    with pytest.raises(ValidationError, match="extra"):
        card(features={"text": {"max_feature": 10}})


def test_a_declared_text_column_missing_from_the_file_is_named(tmp_path):
    path = tmp_path / "t.csv"
    frame().drop(columns=["review"]).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"lacks columns \['review'\]"):
        load_dataset(card(path=str(path), text_columns=["review"]))


def test_dropping_columns_keeps_text_and_leakage_probes_leave_it_alone():
    data = frame(400)
    columns = FeatureColumns(["size"], ["colour"], ["review"])
    assert drop_columns(columns, ["colour"]) == FeatureColumns(["size"], [], ["review"])
    # every review is distinct and ends in its row number, which sorts like the label here:
    data["y"] = np.where(np.arange(len(data)) < 200, "a", "b")
    report = detect_leakage(data, card(), columns, card().data_checks)
    assert not [f for f in report.findings if "review" in f.columns]


def test_shift_features_read_text_as_its_word_count():
    data = frame(10)
    data.loc[0, "review"] = None
    matrix, mask = encode_shift_features(
        data.iloc[:5], data.iloc[5:], FeatureColumns(["size"], ["colour"], ["review"])
    )
    assert matrix.shape == (10, 3) and mask.tolist() == [False, True, False]
    assert np.isnan(matrix[0, 2]) and matrix[1, 2] == 7
