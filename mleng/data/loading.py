"""Load a dataset as its card describes it and infer its feature columns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mleng.card import DatasetCard
from mleng.data.sources import (
    data_label,
    describe_source,
    read_source,
    read_table,  # noqa: F401 (imported from here by `card init`)
    source_kind,
)
from mleng.errors import DataError
from mleng.features.windowing import build_window_examples

# An undeclared string column is free text when its typical value has this many words and most
# values differ: categories repeat ("Private", "Self-emp"), sentences do not.
TEXT_MIN_MEDIAN_WORDS = 4
TEXT_MIN_DISTINCT_SHARE = 0.5
TEXT_SAMPLE_ROWS = 2000


@dataclass(frozen=True)
class FeatureColumns:
    """The raw input columns of the model, by kind; everything else in the frame is not an input.

    `text` columns are free text: vectorized inside the pipeline, never one-hot encoded.
    """

    numeric: list[str]
    categorical: list[str]
    text: list[str] = field(default_factory=list)

    @property
    def all(self) -> list[str]:
        return [*self.numeric, *self.categorical, *self.text]


def looks_like_text(series: pd.Series) -> bool:
    """True for a string column of mostly multi-word, mostly distinct values (free text).

    The median word count of the present values must reach `TEXT_MIN_MEDIAN_WORDS` and at least
    `TEXT_MIN_DISTINCT_SHARE` of them must be distinct; a seeded sample of `TEXT_SAMPLE_ROWS`
    values keeps this cheap on large tables.
    """
    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return False
    present = series.dropna()
    if len(present) > TEXT_SAMPLE_ROWS:
        present = present.sample(n=TEXT_SAMPLE_ROWS, random_state=0)
    if len(present) < 2:
        return False
    values = present.astype(str)
    words = values.str.split().str.len().to_numpy(dtype=float)
    distinct = values.nunique() / len(values)
    return bool(np.median(words) >= TEXT_MIN_MEDIAN_WORDS and distinct >= TEXT_MIN_DISTINCT_SHARE)


def normalize_target(target: pd.Series, card: DatasetCard) -> pd.Series:
    """Check the target fits the task; for classification, match `positive_label` to stored values.

    A CSV may store labels as integers while YAML gives the positive label as a string (or the
    reverse), so labels are compared by their text form.
    """
    present = target.dropna()
    if card.task == "regression":
        if not pd.api.types.is_numeric_dtype(present):
            raise DataError(
                f"Target column '{card.target}' must be numeric for task 'regression' "
                f"(dtype {present.dtype}); set task to binary or multiclass"
            )
        return target
    labels = pd.unique(present)
    if len(labels) < 2:
        raise DataError(
            f"Target column '{card.target}' has a single class ({list(labels)[:1]}) "
            f"in {len(present)} labelled rows; "
            "a classifier needs at least two classes: check the file or the target column"
        )
    if card.task == "binary" and len(labels) > 2:
        raise DataError(
            f"Target column '{card.target}' has {len(labels)} classes "
            "but the card says task 'binary'; set task: multiclass"
        )
    if (
        card.task == "binary"
        and card.positive_label is not None
        and card.positive_label not in set(labels)
    ):
        matches = [label for label in labels if str(label) == str(card.positive_label)]
        if not matches:
            raise DataError(
                f"positive_label {card.positive_label!r} is not a value of "
                f"target column '{card.target}' (values: {sorted(map(str, labels))}); "
                "fix positive_label in the card"
            )
        card.positive_label = matches[0].item() if hasattr(matches[0], "item") else matches[0]
    return target


def load_dataset(card: DatasetCard) -> pd.DataFrame:
    """Read the card's data and check what training needs: rows, target, declared columns."""
    frame = read_source(card)
    if frame.empty:
        empty = "returned 0 rows" if card.format == "sql" else "has a header but 0 rows"
        raise DataError(f"{data_label(card)} {empty}; supply data rows")
    declared = [
        card.target,
        *card.id_columns,
        *([card.timestamp_column] if card.timestamp_column else []),
    ]
    declared += [
        *(card.numeric_columns or []),
        *(card.categorical_columns or []),
        *(card.text_columns or []),
    ]
    missing = [column for column in dict.fromkeys(declared) if column not in frame.columns]
    if missing:
        fix = "file" if source_kind(card) == "file" else "data"
        raise DataError(
            f"{data_label(card)} ({len(frame)} rows) lacks columns {missing} named in the card; "
            f"its columns are {list(frame.columns)[:30]}. Fix the card or the {fix}"
        )
    normalize_target(frame[card.target], card)
    return frame


def infer_feature_columns(frame: pd.DataFrame, card: DatasetCard) -> FeatureColumns:
    """Feature columns by kind: the card's lists where given, the column dtypes otherwise.

    A declared text column is always text. Without `text_columns` in the card, an undeclared
    string column that `looks_like_text` is text rather than categorical; `text_columns: []`
    turns that recognition off. A card that lists both numeric and categorical columns names all
    its features, so nothing else is inferred.
    """
    excluded = {
        card.target,
        *card.id_columns,
        *([card.timestamp_column] if card.timestamp_column else []),
    }
    text = list(card.text_columns or [])
    if card.numeric_columns is not None and card.categorical_columns is not None:
        return FeatureColumns(list(card.numeric_columns), list(card.categorical_columns), text)
    declared = set(card.numeric_columns or []) | set(card.categorical_columns or []) | set(text)
    numeric = list(card.numeric_columns or [])
    categorical = list(card.categorical_columns or [])
    for column in frame.columns:
        if column in excluded or column in declared:
            continue
        series = frame[column]
        is_number = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
        if card.numeric_columns is None and is_number:
            numeric.append(column)
        elif is_number:
            continue
        elif card.text_columns is None and looks_like_text(series):
            text.append(column)
        elif card.categorical_columns is None:
            categorical.append(column)
    if not numeric and not categorical and not text:
        raise DataError(
            f"{data_label(card)} has no feature columns besides target/id/timestamp; "
            "add feature columns to the data"
        )
    return FeatureColumns(numeric, categorical, text)


def select_features(frame: pd.DataFrame, columns: FeatureColumns) -> pd.DataFrame:
    """The model's raw input columns, untouched: coercion happens inside the registered pipeline."""
    return frame[columns.all]


def build_examples(frame: pd.DataFrame, card: DatasetCard) -> pd.DataFrame:
    """The training examples: the rows themselves, or windows over a series when the card asks.

    A window's row carries statistics of the past `length` values and the target strictly after
    it, stamped with the target's time in the card's timestamp column, so the temporal split and
    every check downstream work on examples exactly as on ordinary rows.
    """
    settings = card.features.windows
    if settings is None:
        return frame
    if not card.timestamp_column:
        raise DataError(
            f"Card for {describe_source(card)} sets features.windows but no timestamp_column; "
            "name the column that orders the series"
        )
    examples = build_window_examples(
        frame, card.timestamp_column, [card.target], settings, target_column=card.target
    )
    if examples.empty:
        raise DataError(
            f"{data_label(card)} ({len(frame)} rows) gives no complete window of length "
            f"{settings.length}; lower features.windows.length or supply a longer series"
        )
    examples = examples.drop(columns=["window_start", "window_end"]).rename(
        columns={"target_time": card.timestamp_column}
    )
    return examples.reset_index(drop=True)
