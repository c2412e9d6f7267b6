"""What each run saw: its training and test rows as MLflow dataset inputs, and the keys of its
training rows as an artifact, so a later run can compare models only on rows neither trained on.
"""

from __future__ import annotations

import hashlib
import tempfile
import warnings
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import DatasetInput, InputTag
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from mleng.card import DatasetCard
from mleng.data.sources import describe_source
from mleng.data.split import SplitData, format_row_keys

TRAIN_KEYS_ARTIFACT = "split/train_keys.txt"


def digest_keys(keys: list[str]) -> str:
    """A digest of a set of row keys: the same rows give the same digest in any order."""
    return hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()[:16]


def build_dataset_input(
    rows: pd.DataFrame, name: str, source: str, target: str, context: str, digest: str
) -> DatasetInput:
    """One dataset input of a run, with its context (`training` or `test`) as MLflow's tag."""
    # MLflow warns that integer columns cannot hold missing values (this schema only describes
    # the logged rows) and that a local path could be several kinds of source: neither applies.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        dataset = mlflow.data.from_pandas(
            rows, source=source, targets=target, name=name, digest=digest
        )
        entity = dataset._to_mlflow_entity()  # the schema is inferred here, lazily
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
