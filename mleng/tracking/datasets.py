"""What each run saw: its training and test rows as MLflow dataset inputs, and the keys of its
training rows as an artifact, so a later run can compare models only on rows neither trained on.
"""

from __future__ import annotations

import hashlib
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.data.dataset_source_registry import resolve_dataset_source
from mlflow.data.pandas_dataset import PandasDataset
from mlflow.entities import DatasetInput, InputTag
from mlflow.types import ColSpec, DataType, Schema
from mlflow.types.utils import _infer_pandas_column
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from mleng.card import DatasetCard
from mleng.data.sources import describe_source
from mleng.data.split import SplitData, format_row_keys

TRAIN_KEYS_ARTIFACT = "split/train_keys.txt"
# MLflow infers a column's type, and whether it is required, by looking at each of its values in
# Python: 4 s for Adult's 15 columns at 293k rows on an idle core, 13-47 s in the 300k-row scale
# runs. Here a column's type is read from at most this many of its values.
SCHEMA_SAMPLE_ROWS = 10_000
SCHEMA_SAMPLE_SEED = 0


def digest_keys(keys: list[str]) -> str:
    """A digest of a set of row keys: the same rows give the same digest in any order."""
    return hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()[:16]


def infer_column_type(column: pd.Series) -> DataType:
    """MLflow's type of one column, read from a seeded sample of its non-missing values.

    Missing values carry no type (MLflow skips them too), so sampling only the present values
    keeps a column that is mostly missing from being typed by its gaps."""
    present = column.dropna()
    if present.empty:
        present = column  # nothing to sample: MLflow's own answer for an empty column
    if len(present) > SCHEMA_SAMPLE_ROWS:
        present = present.sample(n=SCHEMA_SAMPLE_ROWS, random_state=SCHEMA_SAMPLE_SEED)
    return _infer_pandas_column(present)


def infer_side_schema(rows: pd.DataFrame) -> Schema:
    """The schema MLflow would infer for `rows`, at a bounded cost.

    Types come from a sample of each column (`infer_column_type`); whether a column is required
    (has no missing value) is decided on every row, with one vectorised check, so a value missing
    in a single row still makes its column optional, as it does in MLflow's full inference."""
    missing = rows.isna().any()
    return Schema(
        [
            ColSpec(type=infer_column_type(rows[name]), name=name, required=not missing[name])
            for name in rows.columns
        ]
    )


class SampledSchemaDataset(PandasDataset):
    """A pandas dataset whose schema is given (from `infer_side_schema`), not inferred again.

    Everything else is MLflow's: the profile counts the rows and cells of the whole frame."""

    def __init__(self, rows: pd.DataFrame, schema: Schema, **fields: object) -> None:
        super().__init__(rows, **fields)
        self._given_schema = schema

    @property
    def schema(self) -> Schema:
        """The schema inferred from bounded samples of the whole frame's columns."""
        return self._given_schema


def build_dataset_input(
    rows: pd.DataFrame, name: str, source: str, target: str, context: str, digest: str
) -> DatasetInput:
    """One dataset input of a run, with its context (`training` or `test`) as MLflow's tag.

    The digest is the caller's (of the row keys), the profile's row count is of all `rows`, and
    the schema is read from bounded samples of the columns (`infer_side_schema`)."""
    # MLflow warns that a local path could be several kinds of source: that does not apply.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        resolved = resolve_dataset_source(source)
    dataset = SampledSchemaDataset(
        rows, infer_side_schema(rows), source=resolved, targets=target, name=name, digest=digest
    )
    entity = dataset._to_mlflow_entity()
    return DatasetInput(dataset=entity, tags=[InputTag(key=MLFLOW_DATASET_CONTEXT, value=context)])


def log_row_keys(client: MlflowClient, run_id: str, keys: list[str]) -> None:
    """The keys of the run's training rows, one per line."""
    client.log_text(run_id, "\n".join(keys) + "\n", TRAIN_KEYS_ARTIFACT)


def load_row_keys(client: MlflowClient, run_id: str) -> set[str] | None:
    """The training-row keys a run logged, or None when it logged none (an older run)."""
    names = {
        item.path for item in client.list_artifacts(run_id, str(Path(TRAIN_KEYS_ARTIFACT).parent))
    }
    if TRAIN_KEYS_ARTIFACT not in names:
        return None
    with tempfile.TemporaryDirectory() as folder:
        path = client.download_artifacts(run_id, TRAIN_KEYS_ARTIFACT, folder)
        return set(Path(path).read_text().split())


def select_unseen(test_keys: list[str], trained_on: set[str]) -> np.ndarray:
    """A mask over test rows: True where the row is not among `trained_on`."""
    return np.fromiter(
        (key not in trained_on for key in test_keys), dtype=bool, count=len(test_keys)
    )


def log_split(client: MlflowClient, run_id: str, split: SplitData, card: DatasetCard) -> None:
    """Both sides of the split as the run's dataset inputs (contexts `training` and `test`, each
    with the digest of its row keys), and the training rows' keys as an artifact."""
    train_keys, test_keys = format_row_keys(split.train_keys), format_row_keys(split.test_keys)
    inputs = [
        build_dataset_input(
            rows,
            f"{card.name}-{side}",
            describe_source(card),
            card.target,
            side,
            digest_keys(keys),
        )
        for rows, side, keys in [
            (split.train_rows, "training", train_keys),
            (split.test_rows, "test", test_keys),
        ]
    ]
    client.log_inputs(run_id, datasets=inputs)
    log_row_keys(client, run_id, train_keys)
