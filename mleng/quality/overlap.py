"""Split leakage: the same rows in train and test, or a temporal split whose periods overlap.

These compare two frames after the split, where the detectors of `mleng.quality.leakage` look
at the columns of one frame; either way the test score would measure rows or times the model
has already seen.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mleng.card.data_checks import DataChecksSettings
from mleng.quality.columns import parse_times
from mleng.quality.findings import Finding
from mleng.reports.formatting import to_jsonable


def hash_rows(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """One 64-bit hash per row of the given columns, equal for equal rows."""
    return pd.util.hash_pandas_object(frame[columns], index=False).to_numpy()


def detect_split_overlap(
    train: pd.DataFrame,
    test: pd.DataFrame,
    columns: list[str],
    settings: DataChecksSettings | None = None,
) -> list[Finding]:
    """Test rows whose `columns` also appear in a training row: the test score would be inflated."""
    settings = settings or DataChecksSettings()
    missing = [c for c in columns if c not in train.columns or c not in test.columns]
    if missing:
        raise ValueError(
            f"columns {missing} are not in both train and test; pass columns present in both"
        )
    if len(test) == 0 or len(train) == 0:
        return []
    shared = np.isin(hash_rows(test, columns), hash_rows(train, columns))
    count, share = int(shared.sum()), float(shared.mean())
    if count == 0:
        return []
    over = share > settings.leakage.max_split_overlap
    policy = settings.policy_for("split_overlap") if over else "warn"
    return [
        Finding(
            "split_overlap",
            (),
            {
                "shared_test_rows": count,
                "share_of_test": round(share, 5),
                "threshold": settings.leakage.max_split_overlap,
            },
            policy,
            f"{count:,} test rows ({100 * share:.2f}%) also appear in the training data on columns "
            f"{columns[:5]}{'...' if len(columns) > 5 else ''}; deduplicate before splitting "
            "(or split by an entity id) so the test score measures unseen rows.",
        )
    ]


def detect_temporal_overlap(
    train: pd.DataFrame,
    test: pd.DataFrame,
    timestamp_column: str,
    settings: DataChecksSettings | None = None,
) -> list[Finding]:
    """For a temporal split: training rows dated after the first test row saw the future."""
    settings = settings or DataChecksSettings()
    train_times, test_times = (
        parse_times(train[timestamp_column]),
        parse_times(test[timestamp_column]),
    )
    if train_times.notna().sum() == 0 or test_times.notna().sum() == 0:
        return []
    first_test = test_times.min()
    later = int((train_times > first_test).sum())
    if later == 0:
        return []
    return [
        Finding(
            "temporal_overlap",
            (timestamp_column,),
            {
                "train_rows_after_test_start": later,
                "test_start": to_jsonable(first_test),
                "train_end": to_jsonable(train_times.max()),
            },
            settings.policy_for("temporal_overlap"),
            f"{later:,} training rows are dated after the first test row ({first_test}) in "
            f"'{timestamp_column}'; split by time so every training row precedes every test row.",
        )
    ]
