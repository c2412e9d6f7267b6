"""Data sources on real files and a real SQLite database: a folder or glob of partitions reads as
the single file would, a new partition changes the data digest, and SQL tables and queries load
through SQLAlchemy with the URL from the environment."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from mleng.card import load_card
from mleng.data.loading import build_examples, infer_feature_columns, load_dataset
from mleng.data.sources import describe_source, list_partitions, read_source, source_kind
from mleng.data.split import compute_row_keys, format_row_keys
from mleng.errors import CardError, DataError
from mleng.tracking.datasets import build_dataset_input, digest_keys
from tests.helpers import ADULT_CATEGORICAL, ADULT_NUMERIC, write_card
from tests.helpers import toy_card as card_for

PASSWORD = "s3cr3t-pw"


@pytest.fixture
def adult(adult_frame) -> pd.DataFrame:
    """1,200 real Adult rows, those with a missing workclass last (so the last partition has a
    text column that is entirely missing, as a small fresh batch can)."""
    frame = adult_frame.head(1200)
    missing = frame["workclass"].isna()
    assert 0 < missing.sum() < 200
    return pd.concat([frame[~missing], frame[missing]], ignore_index=True)


def segments(frame: pd.DataFrame) -> list[pd.DataFrame]:
    """Three unequal consecutive parts, the last one the rows with no workclass."""
    cut = int(frame["workclass"].notna().sum())
    return [frame.iloc[:500], frame.iloc[500:cut], frame.iloc[cut:]]


@pytest.fixture
def csv_folder(tmp_path, adult) -> Path:
    """Adult in three CSV partitions (one gzipped), written out of name order, beside files
    that are not partitions: a hidden half-written file, notes, a Parquet file."""
    folder = tmp_path / "sales"
    folder.mkdir()
    names = ["2024-01-01.csv", "2024-01-02.csv.gz", "2024-01-03.csv"]
    for name, part in reversed(list(zip(names, segments(adult), strict=True))):
        part.to_csv(folder / name, index=False)
    (folder / ".2024-01-04.csv").write_text("half,written\n1\n")
    (folder / "notes.txt").write_text("batches land here daily\n")
    adult.head(5).to_parquet(folder / "stray.parquet", index=False)
    return folder


@pytest.fixture
def single_csv(tmp_path, adult) -> Path:
    path = tmp_path / "adult.csv"
    adult.to_csv(path, index=False)
    return path


def adult_card(path, **overrides):
    return card_for(path, target="class", **overrides)


def data_digest(frame: pd.DataFrame, card) -> str:
    """The data digest a `train` run records and compares for 'unchanged since version N'."""
    return digest_keys(format_row_keys(compute_row_keys(frame, card)))


# ---------------------------------------------------------------------------------------------
# Partitions


def test_folder_reads_as_the_single_file_in_partition_name_order(csv_folder, single_csv):
    card = adult_card(csv_folder)
    assert source_kind(card) == "folder"
    assert [p.name for p in list_partitions(card)] == [
        "2024-01-01.csv",
        "2024-01-02.csv.gz",
        "2024-01-03.csv",
    ]
    pd.testing.assert_frame_equal(load_dataset(card), load_dataset(adult_card(single_csv)))


def test_glob_reads_as_the_single_file(csv_folder, single_csv):
    card = adult_card(csv_folder / "2024-*.csv*")
    assert source_kind(card) == "glob"
    assert len(list_partitions(card)) == 3
    pd.testing.assert_frame_equal(read_source(card), read_source(adult_card(single_csv)))


def test_partitions_add_no_column_and_keep_text_columns_typed(csv_folder, single_csv):
    frame = read_source(adult_card(csv_folder))
    assert list(frame.columns) == list(pd.read_csv(single_csv).columns)
    assert frame["workclass"].dtype == pd.read_csv(single_csv)["workclass"].dtype
    assert isinstance(frame.index, pd.RangeIndex)


def test_parquet_folder_and_glob_read_as_the_single_file(tmp_path, adult):
    folder = tmp_path / "parquet"
    folder.mkdir()
    for number, part in enumerate(segments(adult)):
        part.to_parquet(folder / f"part-{number:03d}.parquet", index=False)
    adult.head(3).to_csv(folder / "stray.csv", index=False)
    single = tmp_path / "adult.parquet"
    adult.to_parquet(single, index=False)
    expected = read_source(adult_card(single, format="parquet"))
    pd.testing.assert_frame_equal(read_source(adult_card(folder, format="parquet")), expected)
    glob_card = adult_card(folder / "part-*.parquet", format="parquet")
    pd.testing.assert_frame_equal(read_source(glob_card), expected)


def test_a_new_partition_changes_the_data_digest(csv_folder, adult_frame):
    card = adult_card(csv_folder)
    before = data_digest(load_dataset(card), card)
    assert data_digest(load_dataset(card), card) == before
    adult_frame.iloc[2000:2100].to_csv(csv_folder / "2024-01-04.csv", index=False)
    after = load_dataset(card)
    assert len(after) == 1300
    assert data_digest(after, card) != before


def test_an_empty_new_partition_is_a_batch_of_no_rows(csv_folder):
    card = adult_card(csv_folder)
    before = load_dataset(card)
    (csv_folder / "2024-01-04.csv").write_text(",".join(before.columns) + "\n")
    pd.testing.assert_frame_equal(load_dataset(card), before)


def test_partition_with_other_columns_is_named_with_the_columns_and_the_fix(csv_folder, adult):
    adult.drop(columns=["race"]).assign(region="north").head(10).to_csv(
        csv_folder / "2024-01-04.csv", index=False
    )
    with pytest.raises(DataError) as caught:
        read_source(adult_card(csv_folder))
    message = str(caught.value)
    assert "2024-01-04.csv has columns ['region'] that 2024-01-01.csv lacks" in message
    assert "lacks columns ['race']" in message
    assert "needs the same columns: fix or move that file" in message


def test_partition_columns_in_another_order_are_aligned(csv_folder, adult):
    reordered = adult.head(10)[list(reversed(adult.columns))]
    reordered.to_csv(csv_folder / "2024-01-04.csv", index=False)
    frame = read_source(adult_card(csv_folder))
    assert list(frame.columns) == list(adult.columns) and len(frame) == 1210


def test_unreadable_partition_names_the_file(csv_folder):
    (csv_folder / "2024-01-04.csv").write_bytes(gzip.compress(b"x\n1\n") + b"\xff\xfe")
    with pytest.raises(DataError, match=r"2024-01-04\.csv cannot be read as csv"):
        read_source(adult_card(csv_folder))


def test_glob_matching_nothing_names_the_pattern_and_the_folder(tmp_path):
    (tmp_path / "sales").mkdir()
    with pytest.raises(DataError) as caught:
        read_source(adult_card(tmp_path / "sales" / "*.parquet", format="parquet"))
    message = str(caught.value)
    assert f"pattern '*.parquet' in folder {tmp_path / 'sales'}" in message
    assert "fix 'path' in the dataset card" in message


def test_glob_under_a_missing_folder_names_the_deepest_existing_one(tmp_path):
    with pytest.raises(DataError, match=rf"pattern 'sales/\*\.csv' in folder {tmp_path}"):
        read_source(adult_card(tmp_path / "sales" / "*.csv"))


def test_folder_without_partitions_of_the_format_says_which_format_it_holds(tmp_path, adult):
    folder = tmp_path / "batches"
    folder.mkdir()
    adult.head(5).to_parquet(folder / "a.parquet", index=False)
    with pytest.raises(DataError) as caught:
        read_source(adult_card(folder))
    message = str(caught.value)
    assert f"Data folder {folder} holds no csv partition" in message
    assert "set format: parquet" in message


def test_brackets_in_an_existing_folder_name_are_literal(tmp_path, adult):
    folder = tmp_path / "run[1]"
    folder.mkdir()
    for number, part in enumerate(segments(adult)):
        part.to_csv(folder / f"part-{number}.csv", index=False)
    assert len(read_source(adult_card(folder / "part-*.csv"))) == len(adult)
    with pytest.raises(DataError, match=r"absent\.csv does not exist; fix 'path'"):
        read_source(adult_card(folder / "absent.csv"))


def test_single_file_messages_are_unchanged(tmp_path):
    header = tmp_path / "header.csv"
    header.write_text("x,y\n")
    with pytest.raises(DataError, match=rf"^Data file {header} has a header but 0 rows"):
        load_dataset(card_for(header))
    small = tmp_path / "small.csv"
    small.write_text("x,y\n1,a\n2,b\n")
    with pytest.raises(DataError, match=rf"^Data file {small} \(2 rows\) lacks .*or the file$"):
        load_dataset(card_for(small, target="label"))


def test_partitioned_card_loads_end_to_end_as_train_reads_it(tmp_path, csv_folder, single_csv):
    for path in ["sales", "sales/2024-*.csv*"]:
        card = load_card(write_card(tmp_path, Path(path)))
        assert card.path == (tmp_path / path).resolve()
        frame = load_dataset(card)
        pd.testing.assert_frame_equal(frame, pd.read_csv(single_csv))
        examples = build_examples(frame, card)
        columns = infer_feature_columns(examples, card)
        assert columns.numeric == ADULT_NUMERIC and columns.categorical == ADULT_CATEGORICAL


# ---------------------------------------------------------------------------------------------
# SQL


@pytest.fixture
def database(tmp_path, adult) -> Path:
    """A real SQLite database file holding the Adult rows as table `adult`."""
    path = tmp_path / "warehouse.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    adult.to_sql("adult", engine, index=False)
    engine.dispose()
    return path


def write_sql_card(tmp_path, sql: dict) -> Path:
    """The Adult test card reading `sql` instead of a file: no `path`."""
    card = write_card(tmp_path, Path("unused"), format="sql", sql=sql)
    data = yaml.safe_load(card.read_text())
    del data["path"]
    card.write_text(yaml.safe_dump(data, sort_keys=False))
    return card


def test_sql_table_reads_the_rows_with_the_url_from_the_default_variable(
    tmp_path, database, adult, monkeypatch
):
    monkeypatch.setenv("MLENG_DATA_URL", f"sqlite:///{database}")
    card = load_card(write_sql_card(tmp_path, {"table": "adult"}))
    assert card.path is None and card.sql.url_env == "MLENG_DATA_URL"
    frame = load_dataset(card)
    pd.testing.assert_frame_equal(frame, adult, check_dtype=False)
    assert list_partitions(card) == []
    assert card.display_path == "sql:adult"


def test_sql_query_reads_its_result_and_its_digest_follows_the_rows(
    tmp_path, database, adult, monkeypatch
):
    monkeypatch.setenv("WAREHOUSE_URL", f"sqlite:///{database}")
    query = 'SELECT * FROM adult WHERE age >= 40 AND "hours-per-week" > 0'
    card = load_card(write_sql_card(tmp_path, {"url_env": "WAREHOUSE_URL", "query": query}))
    frame = load_dataset(card)
    expected = adult[adult["age"] >= 40].reset_index(drop=True)
    pd.testing.assert_frame_equal(frame, expected, check_dtype=False)
    before = data_digest(frame, card)
    engine = sa.create_engine(f"sqlite:///{database}")
    adult.head(1).assign(age=77).to_sql("adult", engine, index=False, if_exists="append")
    engine.dispose()
    assert data_digest(load_dataset(card), card) != before


def test_unset_url_variable_is_named(tmp_path, monkeypatch):
    monkeypatch.delenv("WAREHOUSE_URL", raising=False)
    card = load_card(write_sql_card(tmp_path, {"url_env": "WAREHOUSE_URL", "table": "adult"}))
    with pytest.raises(DataError, match=r"Environment variable WAREHOUSE_URL is not set"):
        load_dataset(card)


def test_missing_table_lists_the_tables_present(tmp_path, database, monkeypatch):
    monkeypatch.setenv("MLENG_DATA_URL", f"sqlite:///{database}")
    card = load_card(write_sql_card(tmp_path, {"table": "sales"}))
    with pytest.raises(DataError, match=r"No table sales in sqlite:///.*tables are \['adult'\]"):
        load_dataset(card)


def test_missing_sqlite_file_is_an_error_and_is_not_created(tmp_path, monkeypatch):
    absent = tmp_path / "absent.db"
    monkeypatch.setenv("MLENG_DATA_URL", f"sqlite:///{absent}")
    card = load_card(write_sql_card(tmp_path, {"table": "adult"}))
    with pytest.raises(DataError, match=r"absent\.db \(from MLENG_DATA_URL\) does not exist"):
        load_dataset(card)
    assert not absent.exists()


def test_bad_query_names_the_query_and_the_masked_url(tmp_path, database, monkeypatch):
    monkeypatch.setenv("MLENG_DATA_URL", f"sqlite:///{database}")
    card = load_card(write_sql_card(tmp_path, {"query": "SELECT nope FROM adult"}))
    with pytest.raises(DataError, match=r"query 'SELECT nope FROM adult' .* failed: .*nope"):
        load_dataset(card)


def test_the_password_is_never_shown(tmp_path, monkeypatch):
    url = f"postgresql://reader:{PASSWORD}@127.0.0.1:1/sales"
    monkeypatch.setenv("MLENG_DATA_URL", url)
    card = load_card(write_sql_card(tmp_path, {"table": "sales"}))
    assert describe_source(card) == "sql table sales at postgresql://reader:***@127.0.0.1:1/sales"
    with pytest.raises(DataError) as caught:  # no driver here, or no server on port 1
        load_dataset(card)
    assert PASSWORD not in str(caught.value) and "reader:***@" in str(caught.value)
    monkeypatch.setenv("MLENG_DATA_URL", f"not a url {PASSWORD}")
    with pytest.raises(DataError, match="does not hold a SQLAlchemy URL") as caught:
        load_dataset(card)
    assert PASSWORD not in str(caught.value)


def test_sql_source_is_a_valid_mlflow_dataset_source(tmp_path, database, adult, monkeypatch):
    monkeypatch.setenv("MLENG_DATA_URL", f"sqlite:///{database}")
    card = load_card(write_sql_card(tmp_path, {"table": "adult"}))
    source = describe_source(card)
    assert source == f"sql table adult at sqlite:///{database}"
    dataset = build_dataset_input(
        adult.head(20), "adult-training", source, "class", "training", "d"
    )
    assert source in dataset.dataset.source


# ---------------------------------------------------------------------------------------------
# Card validation


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"format": "sql", "sql": {"table": "t", "query": "SELECT 1"}}, "both table and query"),
        ({"format": "sql", "sql": {}}, "sql needs a table"),
        ({"format": "sql", "sql": {"table": "t", "urlenv": "X"}}, r"sql\.urlenv: unknown field"),
        ({"format": "sql", "sql": {"table": "t", "url_env": "MY-URL"}}, r"sql\.url_env"),
        ({"format": "sql"}, "format 'sql' reads a table or a query: add an sql section"),
        ({"format": "sql", "sql": {"table": "t"}, "path": "x.csv"}, "path is not read with"),
        ({"sql": {"table": "t"}}, "sql is set but format is 'csv'"),
        ({"path": None}, "path: required field is missing for format 'csv'"),
        ({"format": "json"}, r"format: Input should be 'csv', 'parquet' or 'sql'"),
    ],
)
def test_card_refuses_inconsistent_sources(tmp_path, fields, message):
    with pytest.raises(CardError, match=message):
        load_card(write_card(tmp_path, Path("data.csv"), **fields))
