"""Fixtures of the task tests: a seeded Adult sample with its card and suite, its split, a fitted
model, and a RunContext (`tasks.context.open_run`) over each test's own MLflow sqlite store.

Test modules here are named `test_task_<module>.py`, not `test_<module>.py`: `tests/` has no
`__init__.py`, so pytest imports test files by basename, and `test_data.py`, `test_training.py`
and `test_evaluation.py` already exist under `tests/core/`.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient
from sklearn.pipeline import Pipeline

from mleng.card import DatasetCard, load_card
from mleng.data.split import SplitData, split_dataset
from mleng.search.engine import Trial, TrialResult
from tasks.context import RunContext, open_run
from tests.helpers import ADULT, write_card, write_card_with_suite
from tests.tasks.task_helpers import (
    BOOTSTRAP_RESAMPLES,
    COLUMNS,
    RUN_TAGS,
    SAMPLE_ROWS,
    SEED,
    fit_logistic,
)


@pytest.fixture(scope="session")
def adult_sample() -> pd.DataFrame:
    """A seeded 1,200-row sample of the real Adult data (about 980 train / 220 test rows)."""
    return pd.read_csv(ADULT).sample(n=SAMPLE_ROWS, random_state=11).reset_index(drop=True)


@pytest.fixture(scope="session")
def adult_files(tmp_path_factory: pytest.TempPathFactory, adult_sample: pd.DataFrame) -> Path:
    """The sample as a CSV beside its card and the suite `mleng expectations init` profiled."""
    folder = tmp_path_factory.mktemp("adult_files")
    adult_sample.to_csv(folder / "adult_sample.csv", index=False)
    write_card_with_suite(folder, folder / "adult_sample.csv")
    return folder


@pytest.fixture(scope="session")
def store_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty MLflow sqlite store with its tables created (1.5 s per store otherwise)."""
    database = tmp_path_factory.mktemp("store_template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{database}").search_experiments()
    return database


@pytest.fixture
def isolated_store(isolated_store: Path, store_template: Path) -> Path:
    """tests/conftest.py's fresh store and working folder, started from the empty template."""
    shutil.copyfile(store_template, isolated_store / "mlflow.db")
    return isolated_store


@pytest.fixture
def make_card(isolated_store: Path, adult_files: Path) -> Callable[..., DatasetCard]:
    """`make_card(**overrides)`: the sample's card, with its suite, loaded as `read_card` loads
    it; overrides replace top-level card keys."""

    def make(**overrides) -> DatasetCard:
        overrides.setdefault("expectations", str(adult_files / "expectations" / "adult_test.json"))
        path = write_card(isolated_store, adult_files / "adult_sample.csv", **overrides)
        return load_card(path)

    return make


@pytest.fixture
def card(make_card: Callable[..., DatasetCard]) -> DatasetCard:
    return make_card()


@pytest.fixture
def open_context(isolated_store: Path) -> Iterator[Callable[..., RunContext]]:
    """`open_context(card)`: a parent run's RunContext; every run opened ends with the test."""
    with ExitStack() as stack:

        def open_(
            card: DatasetCard, run_name: str = "task-test", resamples: int = BOOTSTRAP_RESAMPLES
        ) -> RunContext:
            return stack.enter_context(open_run(card, SEED, run_name, RUN_TAGS, resamples))

        yield open_


@pytest.fixture
def context(open_context: Callable[..., RunContext], card: DatasetCard) -> RunContext:
    return open_context(card)


@pytest.fixture
def client(isolated_store: Path) -> MlflowClient:
    """A client of the test's store, apart from the one the context logs with."""
    uri = f"sqlite:///{isolated_store / 'mlflow.db'}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


@pytest.fixture
def split(adult_sample: pd.DataFrame, card: DatasetCard) -> SplitData:
    return split_dataset(adult_sample, card, COLUMNS)


@pytest.fixture
def fitted_model(card: DatasetCard, split: SplitData) -> Pipeline:
    """A logistic regression pipeline fitted on the split's training rows."""
    return fit_logistic(card, split)


@pytest.fixture
def trial_results() -> list[TrialResult]:
    """Two scored trials of a search, as the search engine returns them."""
    return [
        TrialResult(Trial("logistic_regression", {"C": 1.0}, "coarse", 0, 0), 0.88, 0.01, 0.2),
        TrialResult(Trial("logistic_regression", {"C": 0.1}, "fine", 1, 1), 0.87, 0.02, 0.2),
    ]
