"""Bad input: `mleng train` exits non-zero with a message naming the problem and the fix, and the
registry keeps exactly the versions and aliases it had."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient
from sklearn.dummy import DummyClassifier

from tests.helpers import write_card, write_card_with_suite

pytestmark = pytest.mark.slow
MODEL = "adult-test"


@pytest.fixture
def store_with_champion(isolated_store: Path, adult_frame: pd.DataFrame) -> Path:
    """A store whose registry already has a champion, plus a valid card, data and suite."""
    data_path = isolated_store / "adult_sample.csv"
    adult_frame.to_csv(data_path, index=False)
    write_card_with_suite(isolated_store, data_path)
    features = adult_frame.drop(columns=["class"]).head(20)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            DummyClassifier().fit(features, adult_frame["class"].head(20)),
            name="model",
            serialization_format="cloudpickle",
        )
    version = mlflow.register_model(info.model_uri, MODEL).version
    MlflowClient().set_registered_model_alias(MODEL, "champion", version)
    return isolated_store


def registry_snapshot() -> tuple[list[str], dict[str, str]]:
    client = MlflowClient()
    versions = sorted(str(v.version) for v in client.search_model_versions(f"name='{MODEL}'"))
    return versions, {k: str(v) for k, v in client.get_registered_model(MODEL).aliases.items()}


def rewrite_data(folder: Path, frame: pd.DataFrame) -> None:
    frame.to_csv(folder / "adult_sample.csv", index=False)


def break_missing_file(folder: Path, frame: pd.DataFrame) -> list[str]:
    write_card(folder, folder / "absent.csv")
    return []


def break_unreadable_csv(folder: Path, frame: pd.DataFrame) -> list[str]:
    (folder / "adult_sample.csv").write_bytes(
        gzip.compress(b"a,b\n1,2\n") + b"\x00\xff trailing garbage"
    )
    return []


def break_missing_target(folder: Path, frame: pd.DataFrame) -> list[str]:
    rewrite_data(folder, frame.drop(columns=["class"]))
    return []


def break_single_class(folder: Path, frame: pd.DataFrame) -> list[str]:
    rewrite_data(folder, frame.assign(**{"class": "<=50K"}))
    return []


def break_empty_file(folder: Path, frame: pd.DataFrame) -> list[str]:
    (folder / "adult_sample.csv").write_text("")
    return []


def break_unknown_card_field(folder: Path, frame: pd.DataFrame) -> list[str]:
    card = yaml.safe_load((folder / "card.yaml").read_text())
    card["targett"] = "class"
    (folder / "card.yaml").write_text(yaml.safe_dump(card))
    return []


def break_card_type(folder: Path, frame: pd.DataFrame) -> list[str]:
    card = yaml.safe_load((folder / "card.yaml").read_text())
    card["search"]["cv_folds"] = "three"
    (folder / "card.yaml").write_text(yaml.safe_dump(card))
    return []


def break_budget(folder: Path, frame: pd.DataFrame) -> list[str]:
    return ["--budget", "2"]


def break_expectations(folder: Path, frame: pd.DataFrame) -> list[str]:
    broken = frame.copy()
    broken.loc[: len(broken) // 4, "education"] = "Unheard-of-degree"
    broken.loc[:100, "age"] = 400
    rewrite_data(folder, broken)
    return []


def break_missing_suite(folder: Path, frame: pd.DataFrame) -> list[str]:
    (folder / "expectations" / "adult_test.json").unlink()
    return []


CASES = {
    "missing data file": (break_missing_file, r"absent\.csv does not exist; fix 'path'"),
    "unreadable csv": (break_unreadable_csv, r"adult_sample\.csv cannot be read as csv"),
    "missing target column": (break_missing_target, r"lacks columns \['class'\]"),
    "single class target": (break_single_class, r"single class"),
    "empty file": (break_empty_file, r"adult_sample\.csv is empty"),
    "unknown card field": (break_unknown_card_field, r"targett: unknown field"),
    "wrong type in card": (break_card_type, r"search\.cv_folds"),
    "budget below families": (break_budget, r"budget 2 is below the number of model families"),
    "data breaks its suite": (
        break_expectations,
        (
            r"failed \d+ of \d+ expectations.*column 'age': 101 bad rows"
            r".*column 'education': \d+ bad rows"
        ),
    ),
    "missing suite": (break_missing_suite, r"mleng expectations init"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_exits_with_a_clear_message_and_leaves_the_registry_unchanged(
    run_cli, store_with_champion, adult_frame, case
):
    breaker, message = CASES[case]
    before = registry_snapshot()
    extra = breaker(store_with_champion, adult_frame)
    result = run_cli("train", str(store_with_champion / "card.yaml"), "--budget", "3", *extra)
    assert result.returncode == 2, result.stderr[-3000:]
    assert re.search(message, result.stderr, flags=re.DOTALL), result.stderr[-3000:]
    assert registry_snapshot() == before
