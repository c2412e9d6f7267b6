"""Dataset inputs logged to a real MLflow sqlite store: the schema is read from bounded samples of
the columns, yet it is the schema MLflow infers over every row, and the profile counts every row."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.types import Schema
from mlflow.types.utils import _infer_schema

from mleng.tracking.datasets import SCHEMA_SAMPLE_ROWS, build_dataset_input
from tests.helpers import ADULT


@pytest.fixture(scope="module")
def wide_side() -> pd.DataFrame:
    """Every real Adult row (four times the sample), with columns of the other kinds a card can
    hold: a flag, a category, a date, a number missing in one row only, a mostly missing text."""
    rows = pd.read_csv(ADULT)
    assert len(rows) > 4 * SCHEMA_SAMPLE_ROWS
    rng = np.random.default_rng(3)
    rows["flag"] = rng.random(len(rows)) > 0.5
    rows["grade"] = pd.Categorical(rng.choice(["a", "b", "c"], len(rows)))
    rows["seen_on"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(
        rng.integers(0, 365, len(rows)), unit="D"
    )
    rows["score"] = rng.random(len(rows))
    rows.loc[len(rows) - 1, "score"] = np.nan
    rows["note"] = pd.Series([None] * len(rows), dtype=object)
    rows.loc[::500, "note"] = "checked"
    return rows


def log_side(folder: Path, rows: pd.DataFrame) -> tuple[MlflowClient, str]:
    """Log `rows` as a run's training input in a fresh sqlite store; the client and run id."""
    client = MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}")
    experiment = client.create_experiment("inputs", artifact_location=(folder / "art").as_uri())
    run_id = client.create_run(experiment).info.run_id
    source = str(ADULT.resolve())
    dataset = build_dataset_input(rows, "adult-training", source, "class", "training", "d1g3st")
    client.log_inputs(run_id, datasets=[dataset])
    return client, run_id


def read_logged_dataset(client: MlflowClient, run_id: str):
    """The one dataset input the run logged, as the store returns it."""
    (logged,) = client.get_run(run_id).inputs.dataset_inputs
    assert [(tag.key, tag.value) for tag in logged.tags] == [("mlflow.data.context", "training")]
    return logged.dataset


def test_the_logged_profile_counts_every_row_of_the_side(tmp_path, wide_side):
    client, run_id = log_side(tmp_path, wide_side)

    dataset = read_logged_dataset(client, run_id)
    profile = json.loads(dataset.profile)
    assert profile == {"num_rows": len(wide_side), "num_elements": int(wide_side.size)}
    assert dataset.digest == "d1g3st" and dataset.name == "adult-training"
    assert json.loads(dataset.source) == {"uri": str(ADULT.resolve())}


def test_the_logged_schema_is_the_one_mlflow_infers_over_every_row(tmp_path, wide_side):
    client, run_id = log_side(tmp_path, wide_side)

    logged = read_logged_dataset(client, run_id)
    schema = Schema.from_json(json.dumps(json.loads(logged.schema)["mlflow_colspec"]))
    with warnings.catch_warnings():  # MLflow's hint about integer columns
        warnings.simplefilter("ignore", UserWarning)
        assert schema == _infer_schema(wide_side)
    specs = {spec.name: spec for spec in schema.inputs}
    assert list(specs) == list(wide_side.columns)
    kinds = {name: (spec.type.name, spec.required) for name, spec in specs.items()}
    assert kinds["age"] == ("long", True)
    assert kinds["workclass"] == ("string", False)  # about 6% of Adult rows have none
    assert kinds["class"] == ("string", True)
    assert kinds["flag"] == ("boolean", True)
    assert kinds["grade"] == ("string", True)
    assert kinds["seen_on"] == ("datetime", True)
    assert kinds["score"] == ("double", False)  # one missing value in 48,842 rows
    assert kinds["note"] == ("string", False)  # 1 row in 500 has one
