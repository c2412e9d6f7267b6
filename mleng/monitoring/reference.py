"""The reference a window is compared with: the rows the served version was trained on.

Every training run logs the keys of its training rows (`split/train_keys.txt`); the card's data
read again and keyed the same way gives those rows back, so drift is measured against exactly
what the model learnt from, not against whatever the data file holds today.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from mlflow import MlflowClient

from mleng.card import DatasetCard
from mleng.data.loading import build_examples, load_dataset
from mleng.data.split import compute_row_keys, format_row_keys
from mleng.tracking.datasets import load_row_keys
from mleng.tracking.versions import find_version_run


@dataclass(frozen=True)
class Reference:
    """The version's training rows (capped), the rows it never trained on, and how they were
    found. Inputs are compared with the training rows; the model's outputs with its outputs on
    unseen rows, since on its own training rows a model is more confident than anywhere else."""

    rows: pd.DataFrame
    version: str
    source: str  # "training rows of run <id>" or "all rows of <path> (no keys logged)"
    unseen: pd.DataFrame | None = None


def load_reference(
    client: MlflowClient, card: DatasetCard, version: str, max_rows: int = 20_000
) -> Reference:
    """The rows `version` trained on (a seeded sample of at most `max_rows`)."""
    frame = build_examples(load_dataset(card), card)
    run_id = find_version_run(client, card.model_name, version)
    keys = load_row_keys(client, run_id) if run_id else None
    unseen = None
    if keys:
        mask = np.isin(np.asarray(format_row_keys(compute_row_keys(frame, card))), list(keys))
        rows, source = frame[mask], f"training rows of run {run_id}"
        unseen = cap(frame[~mask], max_rows)
    else:
        rows, source = frame, f"all rows of {card.display_path} (the run logged no row keys)"
    return Reference(cap(rows, max_rows), str(version), source, unseen)


def cap(rows: pd.DataFrame, max_rows: int) -> pd.DataFrame:
    """At most `max_rows` rows, a seeded sample: the same reference on every window."""
    if len(rows) > max_rows:
        rows = rows.sample(n=max_rows, random_state=0)
    return rows.reset_index(drop=True)
