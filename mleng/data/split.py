"""The train/test split, stable across data versions, and the split data the flow passes on.

A row's side depends only on its key: the card's `id_columns`, or the row's content when there
are none. Appending rows never moves an old row across, and a new seed does not reshuffle the
test set, so a champion trained on an earlier version of the file is never scored on its own
training rows. Time-ordered cards keep a time cutoff (the newest rows are the test rows), which
has the same property: later versions only move the cutoff forward.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from mleng.card import DatasetCard
from mleng.data.loading import FeatureColumns
from mleng.errors import DataError
from mleng.features.windowing import split_temporal

# 2**53: the hash's top bits as an exactly representable fraction in [0, 1).
_UNIT = float(2**53)


@dataclass(frozen=True)
class SplitData:
    """The two sides of the split with their row keys, and the model's input columns."""

    columns: FeatureColumns
    target: str
    train_rows: pd.DataFrame
    test_rows: pd.DataFrame
    train_keys: np.ndarray
    test_keys: np.ndarray

    @property
    def train_x(self) -> pd.DataFrame:
        return self.train_rows[self.columns.all]

    @property
    def test_x(self) -> pd.DataFrame:
        return self.test_rows[self.columns.all]

    @property
    def train_y(self) -> pd.Series:
        return self.train_rows[self.target]

    @property
    def test_y(self) -> pd.Series:
        return self.test_rows[self.target]


def normalize_for_hashing(frame: pd.DataFrame) -> pd.DataFrame:
    """Numbers as float64 and everything else as text, so 5 and 5.0 (an int column that gained a
    missing value in a later file) hash alike and a row keeps its key across file versions."""
    normalized = {}
    for name, column in frame.items():
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            normalized[name] = column.astype("float64")
        else:
            normalized[name] = column.astype("string").fillna("\x00<missing>")
    return pd.DataFrame(normalized, index=frame.index)


def compute_row_keys(frame: pd.DataFrame, card: DatasetCard) -> np.ndarray:
    """A stable 64-bit key per row: of the card's id columns, or of the whole row without them."""
    key_columns = list(card.id_columns) or sorted(frame.columns)
    hashed = pd.util.hash_pandas_object(
        normalize_for_hashing(frame[key_columns]), index=False, categorize=False
    )
    return hashed.to_numpy(dtype=np.uint64)


def format_row_keys(keys: np.ndarray) -> list[str]:
    """Keys as fixed-width hex text, the form they are logged and compared in."""
    return [f"{int(key):016x}" for key in keys]


def assign_test_side(keys: np.ndarray, test_size: float) -> np.ndarray:
    """True for rows whose key falls in the test share: a pure function of the key."""
    return (keys >> np.uint64(11)).astype(np.float64) / _UNIT < test_size


def keep_classes_on_both_sides(
    target: pd.Series, keys: np.ndarray, is_test: np.ndarray
) -> np.ndarray:
    """Give a class with no test row (or no training row) its extreme-key row, so tiny data
    still has every class on both sides; the choice depends on keys only, so it stays stable."""
    is_test = is_test.copy()
    position = (keys >> np.uint64(11)).astype(np.float64)
    for label in pd.unique(target):
        members = np.flatnonzero(target.to_numpy() == label)
        if len(members) < 2:
            continue
        if not is_test[members].any():
            is_test[members[np.argmin(position[members])]] = True
        if is_test[members].all():
            is_test[members[np.argmax(position[members])]] = False
    return is_test


def check_class_counts(frame: pd.DataFrame, card: DatasetCard) -> None:
    """A class of one row cannot be on both sides of a split."""
    counts = frame[card.target].value_counts()
    if counts.min() < 2:
        raise DataError(
            f"Class {counts.idxmin()!r} of target '{card.target}' has {counts.min()} row in "
            f"{card.path} ({len(frame)} labelled rows); a split needs at least 2 rows per class: "
            "add rows or merge the rare class"
        )


def split_in_time(frame: pd.DataFrame, card: DatasetCard) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train on the past, test on the newest `test_size` share, with the window gap between."""
    assert card.timestamp_column is not None
    ordered = frame.assign(_order=pd.to_datetime(frame[card.timestamp_column], errors="coerce"))
    try:
        train, test = split_temporal(ordered, "_order", card.test_size, gap=window_gap(card))
    except ValueError as error:
        raise DataError(
            f"Data file {card.path} ({len(frame)} rows) cannot be split in time: {error}"
        ) from None
    return train.drop(columns="_order"), test.drop(columns="_order")


def split_dataset(frame: pd.DataFrame, card: DatasetCard, columns: FeatureColumns) -> SplitData:
    """Train/test split: by time when the card has a timestamp, else by each row's stable key.

    Rows without a label are left out: they can be neither trained on nor scored.
    """
    frame = frame[frame[card.target].notna()]
    keys = pd.Series(compute_row_keys(frame, card), index=frame.index)
    if card.timestamp_column:
        train, test = split_in_time(frame, card)
    else:
        if card.task != "regression":
            check_class_counts(frame, card)
        is_test = assign_test_side(keys.to_numpy(), card.test_size)
        if card.task != "regression":
            is_test = keep_classes_on_both_sides(frame[card.target], keys.to_numpy(), is_test)
        train, test = frame[~is_test], frame[is_test]
    check_sides(train, test, len(frame), card)
    return SplitData(
        columns, card.target, train, test, keys[train.index].to_numpy(), keys[test.index].to_numpy()
    )


def check_sides(train: pd.DataFrame, test: pd.DataFrame, n_rows: int, card: DatasetCard) -> None:
    """Both sides need rows, and a classifier's training side needs two classes."""
    if len(train) == 0 or len(test) == 0:
        raise DataError(
            f"Data file {card.path} has {n_rows} labelled rows, too few to split with test_size "
            f"{card.test_size}; add rows"
        )
    if card.task != "regression" and train[card.target].nunique() < 2:
        raise DataError(
            f"The training part of {card.path} has a single class of '{card.target}' after the "
            "split; add rows of the other classes"
        )


def window_gap(card: DatasetCard) -> int:
    """Rows to leave out between past and future so no window overlaps another's target."""
    windows = card.features.windows
    return 0 if windows is None else windows.length + windows.horizon - 1


def cap_rows(
    features: pd.DataFrame, target: pd.Series, card: DatasetCard, seed: int
) -> tuple[pd.DataFrame, pd.Series]:
    """A seeded (stratified for classification) sample of at most `search.max_rows` rows for
    scoring trials.

    Trials rank configurations; a sample ranks them nearly as well at a fraction of the cost, and
    the winner is refit on every training row.
    """
    return cap_rows_at(features, target, card, seed, card.search.max_rows)


def cap_rows_at(
    features: pd.DataFrame, target: pd.Series, card: DatasetCard, seed: int, limit: int | None
) -> tuple[pd.DataFrame, pd.Series]:
    """At most `limit` rows: the latest, in order, for time-ordered data, else a seeded sample
    (stratified for classification); all of them when `limit` is None or not reached."""
    if limit is None or len(features) <= limit:
        return features, target
    if card.timestamp_column:  # keep the most recent rows, in order, for time-ordered folds
        return features.iloc[-limit:], target.iloc[-limit:]
    stratify = target if card.task != "regression" and target.value_counts().min() >= 2 else None
    sample_x, _, sample_y, _ = train_test_split(
        features, target, train_size=limit, random_state=seed, stratify=stratify
    )
    return sample_x, sample_y
