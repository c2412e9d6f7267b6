"""The chunked reader and the streamed sample against the in-memory path on small real files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mleng.card import load_card
from mleng.card.sampling import DEFAULT_STREAM_SAMPLE_ROWS
from mleng.data.chunks import (
    SAMPLE_ATTR,
    iterate_chunks,
    iterate_side,
    list_blocks,
    sample_cap,
    sample_stream,
    shuffle_blocks,
)
from mleng.data.loading import infer_feature_columns, load_dataset
from mleng.data.split import assign_test_side, compute_row_keys, split_dataset
from mleng.errors import DataError
from tests.helpers import write_card

LARGE = {"larger_than_memory": True}


@pytest.fixture(scope="module")
def adult_rows(adult_frame: pd.DataFrame) -> pd.DataFrame:
    return adult_frame.head(2400).reset_index(drop=True)


def streamed_card(folder: Path, data: Path, file_format: str, **overrides):
    overrides.setdefault("data_checks", {"sampling": {"max_rows": 800}})
    return load_card(write_card(folder, data, format=file_format, requirements=LARGE, **overrides))


@pytest.fixture(params=["csv", "parquet"])
def card(request, tmp_path: Path, adult_rows: pd.DataFrame):
    """The same Adult rows as one CSV, or as a Parquet file of several row groups."""
    path = tmp_path / f"adult.{request.param}"
    if request.param == "csv":
        adult_rows.to_csv(path, index=False)
    else:
        adult_rows.to_parquet(path, row_group_size=500)
    return streamed_card(tmp_path, path, request.param)


def test_chunks_concatenate_to_the_frame_read_whole(card):
    whole = load_dataset(card)
    chunks = list(iterate_chunks(card, chunk_rows=333))
    assert len(chunks) > 4 and max(len(c) for c in chunks) <= 333
    streamed = pd.concat(chunks, ignore_index=True)
    pd.testing.assert_frame_equal(streamed, whole)


def test_streamed_split_equals_the_in_memory_split(card):
    whole = load_dataset(card)
    split = split_dataset(whole, card, infer_feature_columns(whole, card))
    columns = list(whole.columns)
    for side, rows, keys in (
        ("train", split.train_rows, split.train_keys),
        ("test", split.test_rows, split.test_keys),
    ):
        parts = list(iterate_side(card, side, columns))
        streamed = pd.concat([part.rows for part in parts], ignore_index=True)
        pd.testing.assert_frame_equal(streamed, rows.reset_index(drop=True))
        assert np.array_equal(np.concatenate([part.keys for part in parts]), keys)


def test_sample_is_reproducible_and_independent_of_the_chunk_size(card):
    first = sample_stream(card, seed=5, chunk_rows=250)
    again = sample_stream(card, seed=5, chunk_rows=1100)
    other_seed = sample_stream(card, seed=6, chunk_rows=250)
    pd.testing.assert_frame_equal(first.frame, again.frame)
    assert not first.frame.equals(other_seed.frame)
    assert len(first.frame) == 800


def test_sample_states_its_size_and_keeps_class_shares(card, adult_rows):
    sample = sample_stream(card, seed=1, chunk_rows=400)
    assert sample.statement == "on a sample of 800 of 2,400 rows"
    assert sample.frame.attrs[SAMPLE_ATTR] == sample.statement
    assert "stratified by class" in sample.describe()
    shares = sample.frame["class"].value_counts(normalize=True)
    truth = adult_rows["class"].value_counts(normalize=True)
    # largest-remainder allocation: each class within one row of its exact share
    assert (abs(shares * 800 - truth * 800) <= 1).all()


def test_counts_cover_every_row_and_match_the_in_memory_sides(card, adult_rows):
    sample = sample_stream(card, seed=1, chunk_rows=700)
    keys = compute_row_keys(adult_rows, card)
    is_test = assign_test_side(keys, card.test_size)
    counts = sample.counts
    assert counts.total_rows == counts.labelled_rows == len(adult_rows)
    assert (counts.train_rows, counts.test_rows) == (int((~is_test).sum()), int(is_test.sum()))
    assert counts.class_counts == adult_rows["class"].value_counts().to_dict()


def test_sample_rows_keep_their_side_of_the_split(card):
    sample = sample_stream(card, seed=2, chunk_rows=600)
    whole = load_dataset(card)
    full_split = split_dataset(whole, card, infer_feature_columns(whole, card))
    sample_split = split_dataset(sample.frame, card, infer_feature_columns(sample.frame, card))
    assert set(sample_split.train_keys) <= set(full_split.train_keys)
    assert set(sample_split.test_keys) <= set(full_split.test_keys)


def test_digest_depends_on_the_rows_not_their_order(tmp_path, adult_rows):
    path = tmp_path / "a.csv"
    adult_rows.to_csv(path, index=False)
    card = streamed_card(tmp_path, path, "csv")
    digest = sample_stream(card, 0, 500).counts.digest
    adult_rows.iloc[::-1].to_csv(path, index=False)
    assert sample_stream(card, 0, 300).counts.digest == digest
    adult_rows.iloc[1:].to_csv(path, index=False)
    assert sample_stream(card, 0, 500).counts.digest != digest


def test_default_cap_applies_without_a_sampling_limit(tmp_path, adult_rows):
    path = tmp_path / "a.csv"
    adult_rows.to_csv(path, index=False)
    card = streamed_card(tmp_path, path, "csv", data_checks={})
    assert sample_cap(card) == DEFAULT_STREAM_SAMPLE_ROWS
    assert len(sample_stream(card, 0, 500).frame) == len(adult_rows)


def test_partitions_stream_in_name_order_and_blocks_shuffle_by_seed(tmp_path, adult_rows):
    folder = tmp_path / "parts"
    folder.mkdir()
    for number in range(3):  # the middle part keeps its index labels (stored as a column)
        part = adult_rows.iloc[number * 800 : (number + 1) * 800]
        part.to_parquet(folder / f"part-{number}.parquet", row_group_size=300)
    card = streamed_card(tmp_path, folder, "parquet")
    blocks = list_blocks(card)
    assert len(blocks) == 9 and [b.path.name for b in blocks[:3]] == ["part-0.parquet"] * 3
    streamed = pd.concat(iterate_chunks(card, 1000), ignore_index=True)
    pd.testing.assert_frame_equal(streamed, load_dataset(card))
    first, second = shuffle_blocks(blocks, 3, 0), shuffle_blocks(blocks, 3, 1)
    assert first == shuffle_blocks(blocks, 3, 0) and first != second
    assert sorted(first, key=blocks.index) == blocks


def test_an_empty_csv_chunk_column_keeps_the_text_type(tmp_path):
    frame = pd.DataFrame(
        {"x": np.arange(400.0), "c": ["a", "b"] * 100 + [None] * 200, "y": ["p", "q"] * 200}
    )
    path = tmp_path / "gaps.csv"
    frame.to_csv(path, index=False)
    card = load_card(
        write_card(
            tmp_path, path, target="y", positive_label="q", numeric_columns=["x"],
            categorical_columns=["c"], requirements=LARGE,
        )
    )  # fmt: skip
    chunks = list(iterate_chunks(card, 100))
    assert {str(chunk["c"].dtype) for chunk in chunks} == {str(chunks[0]["c"].dtype)}
    keys = np.concatenate([compute_row_keys(chunk, card) for chunk in chunks])
    assert np.array_equal(keys, compute_row_keys(load_dataset(card), card))


def test_cards_a_chunked_read_cannot_honour_are_refused(tmp_path, adult_rows):
    path = tmp_path / "a.csv"
    adult_rows.assign(when="2020-01-01").to_csv(path, index=False)
    card = streamed_card(tmp_path, path, "csv", timestamp_column="when")
    with pytest.raises(DataError, match="timestamp_column.*larger_than_memory: false"):
        sample_stream(card, 0)


def test_a_missing_declared_column_names_the_file(tmp_path, adult_rows):
    path = tmp_path / "a.csv"
    adult_rows.drop(columns="age").to_csv(path, index=False)
    card = streamed_card(tmp_path, path, "csv")
    with pytest.raises(DataError, match=r"a\.csv lacks columns \['age'\]"):
        sample_stream(card, 0)
