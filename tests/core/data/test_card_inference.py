"""`mleng card init` on small real data: task, column roles, REVIEW flags, a card that loads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from mleng.card import find_project_suite, load_card
from mleng.cli import app
from mleng.data import profile
from mleng.data.loading import infer_feature_columns, load_dataset
from mleng.errors import CardError, DataError
from tests.helpers import ADULT_CATEGORICAL, ADULT_NUMERIC, ROOT

CO2 = ROOT / "data" / "co2_weekly.csv"


@pytest.fixture
def project(tmp_path, monkeypatch):
    """An empty project folder as the working folder: cards go to configs/, suites expectations/."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def adult_sample(adult_frame):
    """2,000 rows of the real Adult sample (the conftest's seeded 3,000-row draw)."""
    return adult_frame.head(2000).copy()


def write(project, frame: pd.DataFrame, name: str = "sample.csv"):
    path = project / "data" / name
    path.parent.mkdir(exist_ok=True)
    if name.endswith(".parquet"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


def line_of(text: str, key: str) -> str:
    """The card line of a field (`key: ...`) or of a list item (`  - key  # ...`)."""
    for line in text.splitlines():
        item = line.removeprefix("  - ")
        if line.startswith(f"{key}:") or (item != line and item.split("  #")[0] == key):
            return line
    raise AssertionError(f"no line for {key} in:\n{text}")


def comments(text: str) -> str:
    """The card's comments as one line of words, however they wrap."""
    return " ".join(
        " ".join(line.split("#", 1)[1].split()) for line in text.splitlines() if "#" in line
    )


def drafted(project, frame, target, **options):
    """Draft a card for the frame, check it loads as `mleng train` loads it, return both."""
    draft = profile.draft_card(write(project, frame), target, **options)
    card, _, columns = profile.check_draft(draft)
    return draft, card, columns


# --- the task --------------------------------------------------------------------------------


def test_adult_is_binary_with_the_minority_class_as_positive_label(project, adult_sample):
    draft, card, columns = drafted(project, adult_sample, "class")
    minority = adult_sample["class"].value_counts().idxmin()
    assert card.task == "binary" and card.positive_label == minority == ">50K"
    assert card.metric == "roc_auc"  # left to the card default
    assert "the minority class" in line_of(draft.text, "positive_label")
    assert columns.numeric == ADULT_NUMERIC and columns.categorical == ADULT_CATEGORICAL
    assert card.id_columns == [] and card.timestamp_column is None
    assert card.name == "sample" and card.model_name == "sample"
    assert draft.card_path.as_posix() == "configs/sample.yaml"
    assert yaml.safe_load(draft.text)["path"] == "../data/sample.csv"  # relative to configs/


def test_text_target_with_many_labels_is_multiclass(project, adult_sample):
    draft, card, columns = drafted(project, adult_sample.drop(columns=["class"]), "relationship")
    assert card.task == "multiclass" and card.positive_label is None
    assert card.metric == "log_loss"
    assert "relationship" not in columns.categorical
    assert "6 classes" in draft.text and "Husband:" in draft.text


def test_integers_with_many_values_are_regression(project, adult_sample):
    _, card, columns = drafted(project, adult_sample, "hours-per-week")
    assert card.task == "regression" and card.metric == "rmse"
    assert "hours-per-week" not in columns.numeric
    assert set(card.search.families) == {"ridge", "random_forest", "lightgbm"}


def test_few_integer_values_are_class_labels(project, adult_sample):
    coded = adult_sample.assign(label=(adult_sample["class"] == ">50K").astype(int))
    _, card, _ = drafted(project, coded.drop(columns=["class"]), "label")
    assert card.task == "binary" and card.positive_label == 1  # the minority, as an integer
    # 16 distinct integers in 2,000 rows (<= 20 and < 5% of rows): labels, not a measurement
    _, card, _ = drafted(project, adult_sample, "education-num")
    assert card.task == "multiclass"


def test_task_override_is_checked_against_the_target(project, adult_sample):
    path = write(project, adult_sample)
    draft = profile.draft_card(path, "education-num", task="regression")
    assert draft.task.task == "regression" and "set by --task" in draft.text
    with pytest.raises(DataError, match="--task regression needs numbers"):
        profile.draft_card(path, "race", task="regression")
    with pytest.raises(DataError, match="5 classes; --task binary needs exactly 2"):
        profile.draft_card(path, "race", task="binary")
    with pytest.raises(CardError, match="Unknown --task 'ordinal'"):
        profile.draft_card(path, "race", task="ordinal")


# --- column roles ----------------------------------------------------------------------------


def test_codes_and_id_like_integers_are_flagged_for_review(project, adult_sample):
    draft, _, _ = drafted(project, adult_sample, "class")
    assert (
        "REVIEW: only 16 distinct integers: a numeric code taken for a measurement? move it "
        "to categorical_columns" in line_of(draft.text, "education-num")
    )
    assert "an identifier taken for a measurement?" in line_of(draft.text, "fnlwgt")
    assert "REVIEW" not in line_of(draft.text, "age")
    assert set(draft.roles.flags) == {"education-num", "fnlwgt"}


def test_identifiers_are_kept_out_of_the_model(project, adult_sample):
    rng = np.random.default_rng(0)
    rows = len(adult_sample)
    frame = adult_sample.assign(
        row=np.arange(rows),  # strictly increasing unique integers, whatever the name
        customerId=rng.permutation(rows) + 10_000,  # unique integers named like an id
        uuid=[f"u-{value:08x}" for value in rng.permutation(rows)],  # unique text named an id
        remark=[f"called on day {value}" for value in rng.permutation(rows)],  # free text
        store_id=rng.integers(1, 13, size=rows),  # an id that repeats: a key shared by rows
        branch_key=rng.choice(["north", "south", "east"], size=rows),
        zip=rng.choice([10001, 94105, 60601, 73301] * 10, size=rows) + np.arange(rows) % 40,
    )
    draft, card, columns = drafted(project, frame, "class")
    assert card.id_columns == ["row", "customerId", "uuid", "remark"]
    assert not set(card.id_columns) & set(columns.all)
    assert "strictly increasing unique integers" in line_of(draft.text, "row")
    assert "named like an identifier" in line_of(draft.text, "uuid")
    assert "an id or free text" in line_of(draft.text, "remark")
    assert "store_id" in columns.numeric
    assert "REVIEW: named like an identifier" in line_of(draft.text, "store_id")
    assert "REVIEW: named like an identifier" in line_of(draft.text, "branch_key")
    assert "REVIEW: named like a code" in line_of(draft.text, "zip")


def test_numbers_stored_as_text_and_empty_columns_are_flagged(project, adult_sample):
    bad = adult_sample.index % 50 == 0
    frame = adult_sample.assign(
        weight=adult_sample["fnlwgt"].astype(str).where(~bad, "?"),  # nearly unique
        years=adult_sample["education-num"].astype(str).where(~bad, "unknown"),  # 17 levels
        notes=np.nan,
    )
    draft, _, columns = drafted(project, frame, "class")
    assert "years" in columns.categorical
    assert "REVIEW: 98% of values are numbers stored as text (not numbers: 'unknown')" in line_of(
        draft.text, "years"
    )
    assert "weight" not in columns.all and "weight" not in draft.roles.id_columns
    assert "# REVIEW: not an input: weight: 98% of values are numbers stored as text" in draft.text
    assert "notes" not in columns.all
    assert "# not an input: notes: every value is missing" in draft.text


def test_one_date_column_becomes_the_timestamp_and_the_split_temporal(project, toy_csv):
    draft = profile.draft_card(toy_csv, "y")
    card, _, columns = profile.check_draft(draft)
    assert card.timestamp_column == "when" and "when" not in columns.all
    assert "so the split is temporal: the latest rows are the test set" in comments(draft.text)
    assert card.positive_label == "yes"  # 30% of rows
    assert "REVIEW: only 5 distinct integers" in line_of(draft.text, "n")


def test_several_date_columns_leave_the_choice_to_the_user(project, adult_sample):
    days = pd.date_range("2020-01-01", periods=len(adult_sample), freq="D")
    frame = adult_sample.assign(
        hired=days.strftime("%Y-%m-%d"), reviewed=(days + pd.Timedelta(days=30)).astype(str)
    )
    draft, card, columns = drafted(project, frame, "class")
    assert card.timestamp_column is None
    assert {"hired", "reviewed"}.isdisjoint(columns.all)
    assert "# not an input: hired: parses as dates, one of 2 date columns" in draft.text


def test_dates_the_split_cannot_order_are_flagged_not_used(project, adult_sample):
    offsets = np.where(adult_sample.index % 2 == 0, "+01:00", "+02:00")
    stamps = pd.date_range("2020-01-01", periods=len(adult_sample), freq="h").strftime(
        "%Y-%m-%dT%H:%M:%S"
    )
    draft, card, columns = drafted(project, adult_sample.assign(seen=stamps + offsets), "class")
    assert card.timestamp_column is None and "seen" not in columns.all
    assert "# REVIEW: not an input: seen: parses as dates, but the split cannot order it" in (
        draft.text
    )


def test_a_single_series_becomes_windows_over_its_past(project):
    draft = profile.draft_card(CO2, "co2")  # date + target only; 59 weeks without a value
    card, _, columns = profile.check_draft(draft)
    assert card.task == "regression" and card.timestamp_column == "date"
    assert card.features.windows.length == 52 and card.features.windows.frequency == "7D"
    assert "a year" in draft.text and card.numeric_columns is None
    assert columns.numeric and all(c.startswith("co2__") for c in columns.numeric)
    written = Path(yaml.safe_load(draft.text)["path"])  # relative, or absolute when far away
    assert (draft.card_path.parent / written).resolve() == CO2.resolve()


def test_parquet_is_read_by_extension(project, adult_sample):
    path = write(project, adult_sample, "income.parquet")
    draft = profile.draft_card(path, "class")
    card, _, _ = profile.check_draft(draft)
    assert card.format == "parquet" and card.name == "income"


# --- names, errors, the written files --------------------------------------------------------


def test_names_are_valid_card_and_model_names(tmp_path):
    assert profile.dataset_name(tmp_path / "My Data (2024).csv.gz") == "My_Data_2024"
    assert profile.dataset_name(tmp_path / "-weird.parquet") == "weird"
    assert profile.card_name(tmp_path / "configs" / "co2_weekly.yaml") == "co2_weekly"
    assert profile.model_name_for("co2_weekly") == "co2-weekly"
    with pytest.raises(CardError, match=r"data\.xlsx from its extension"):
        profile.file_format(tmp_path / "data.xlsx")


def test_missing_inputs_name_the_file_the_column_the_rows_and_the_fix(project, adult_sample):
    with pytest.raises(DataError, match=r"absent\.csv does not exist; pass the path"):
        profile.draft_card(project / "absent.csv", "class")
    path = write(project, adult_sample)
    with pytest.raises(
        DataError, match=r"sample\.csv \(2,000 rows\) has no column 'income'.*Pass one of them"
    ):
        profile.draft_card(path, "income")
    unlabelled = adult_sample.assign(**{"class": adult_sample["class"].mask(adult_sample.age > 80)})
    with pytest.raises(DataError, match=r"empty in \d+ of 2,000 rows.*drop those rows"):
        profile.draft_card(write(project, unlabelled), "class")
    with pytest.raises(DataError, match="has a single value"):
        profile.draft_card(write(project, adult_sample.assign(k=1)), "k")
    only_ids = pd.DataFrame({"id": range(100), "y": ["a", "b"] * 50})
    with pytest.raises(DataError, match="no feature columns besides the target 'y'"):
        profile.draft_card(write(project, only_ids), "y")


def test_a_draft_that_does_not_load_is_never_written(project, adult_sample):
    draft = profile.draft_card(write(project, adult_sample), "class")
    broken = profile.CardDraft(
        draft.name,
        draft.card_path,
        draft.suite_path,
        draft.text + "targett: x\n",
        draft.roles,
        draft.task,
    )
    with pytest.raises(CardError, match=r"(?s)does not load.*targett.*nothing was written"):
        profile.check_draft(broken)
    assert list((project / "configs").iterdir()) == []


def test_the_search_defaults_read_back_as_numbers(project, adult_sample):
    draft, card, _ = drafted(project, adult_sample, "class")
    space = yaml.safe_load(draft.text)["search"]["families"]["lightgbm"]
    assert space["reg_lambda"]["low"] == pytest.approx(1e-6)
    assert isinstance(space["reg_lambda"]["low"], float)
    assert card.search.budget == 40 and card.search.max_rows == 10_000


def test_cli_writes_card_and_suite_where_train_finds_them_and_refuses_to_overwrite(
    project, adult_sample
):
    write(project, adult_sample, "income.csv")
    runner = CliRunner()
    result = runner.invoke(app, ["card", "init", "data/income.csv", "--target", "class"])
    assert result.exit_code == 0, result.output
    card_path, suite_path = project / "configs" / "income.yaml", project / "expectations"
    suite_path = suite_path / "income.json"
    assert card_path.is_file() and suite_path.is_file()
    assert str(suite_path) in result.output and "configs/income.yaml" in result.output
    card = load_card(card_path)
    assert card.expectations == suite_path.resolve()
    assert find_project_suite(card_path.parent.resolve(), "income") == suite_path.resolve()
    assert infer_feature_columns(load_dataset(card), card).all  # the card trains as written

    before = card_path.read_text()
    again = runner.invoke(app, ["card", "init", "data/income.csv", "--target", "race"])
    assert again.exit_code == 2 and "already exist" in again.output
    assert "--force" in again.output and card_path.read_text() == before
    forced = runner.invoke(app, ["card", "init", "data/income.csv", "--target", "race", "--force"])
    assert forced.exit_code == 0, forced.output
    assert load_card(card_path).task == "multiclass"

    other = runner.invoke(
        app, ["card", "init", "data/income.csv", "--target", "race", "--out", "cards/race.yaml"]
    )
    assert other.exit_code == 0, other.output
    assert load_card(project / "cards" / "race.yaml").name == "race"
    assert (project / "expectations" / "race.json").is_file()
