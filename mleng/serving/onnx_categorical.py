"""ONNX graph pieces for categorical encoders: each encoder as one exact lookup table.

Categorical encoders are not re-implemented at all: every encoder we ship is column-wise (a
column's output depends on that column's value only) and maps a level unseen in training to one
fixed value, so the encoder's own `transform` of each training level, plus one unseen level,
gives a lookup table; the graph only looks levels up (LabelEncoder, Gather). Kept apart from the
numeric steps in `onnx_features` because the approach (probing the fitted encoder) differs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    MaxAbsScaler,
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    RobustScaler,
    StandardScaler,
    TargetEncoder,
)

from mleng.features.columns import MISSING_LEVEL, CategoricalEncoder
from mleng.features.encoders import CountEncoder, OddsRatioEncoder
from mleng.serving.onnx_graph import ML_DOMAIN, GraphBuilder, UnsupportedStep

UNSEEN_LEVEL = "\x00mleng-unseen-level\x00"
MAX_TABLE_CELLS = 20_000_000  # a categorical lookup table beyond this (160 MB) is refused
COLUMNWISE_CATEGORICAL_STEPS = (
    CategoricalEncoder,
    Pipeline,
    OneHotEncoder,
    OrdinalEncoder,
    TargetEncoder,
    CountEncoder,
    OddsRatioEncoder,
    SimpleImputer,
    StandardScaler,
    RobustScaler,
    MinMaxScaler,
    MaxAbsScaler,
)


def convert_categorical(
    builder: GraphBuilder, transformer: Any, names: list[str], inputs: list[str]
) -> tuple[str, int]:
    """A column-wise categorical encoder as one lookup table.

    Each column's levels map to rows of the table (LabelEncoder; any other string to the
    column's "unseen" row); a row holds the encoder's output for that level in the columns that
    level owns and zeros elsewhere, so the sum of the gathered rows is the encoder's output
    exactly (x + 0 == x). Missing values arrive as MISSING_LEVEL, checked here to encode as a
    missing value does.
    """
    require_columnwise(transformer)
    levels = read_levels(transformer, len(names))
    table, offsets = build_lookup_table(transformer, names, levels)
    indices = []
    for column, (source, column_levels) in enumerate(zip(inputs, levels, strict=True)):
        keys = [*column_levels, UNSEEN_LEVEL]
        start = offsets[column]
        indices.append(
            builder.add_node(
                "LabelEncoder",
                [source],
                domain=ML_DOMAIN,
                keys_strings=keys,
                values_int64s=list(range(start, start + len(keys))),
                default_int64=start + len(column_levels),
            )
        )
    stacked = indices[0] if len(indices) == 1 else builder.add_node("Concat", indices, axis=1)
    rows = builder.add_node("Gather", [builder.add_constant(table, "lookup"), stacked], axis=0)
    summed = builder.add_node(
        "ReduceSum", [rows, builder.add_constant(np.asarray([1], dtype=np.int64))], keepdims=0
    )
    return summed, table.shape[1]


def require_columnwise(step: Any) -> None:
    """Only encoders known to be column-wise with one value for every unseen level."""
    if not isinstance(step, COLUMNWISE_CATEGORICAL_STEPS):
        raise UnsupportedStep(f"categorical step {type(step).__name__}")
    if isinstance(step, Pipeline):
        for _, inner in step.steps:
            if not (isinstance(inner, str) and inner == "passthrough"):
                require_columnwise(inner)
    if isinstance(step, CategoricalEncoder):
        for _, encoder, _ in step.groups_:
            require_columnwise(encoder)
    if isinstance(step, SimpleImputer) and step.add_indicator:
        raise UnsupportedStep("categorical SimpleImputer(add_indicator=True)")


def read_levels(step: Any, n_columns: int) -> list[list[str]]:
    """The training levels of each input column, from the first encoder that knows them."""
    if isinstance(step, CategoricalEncoder):
        levels: list[list[str]] = [[] for _ in range(n_columns)]
        for _, encoder, positions in step.groups_:
            for position, found in zip(
                positions, read_levels(encoder, len(positions)), strict=True
            ):
                levels[position] = found
        return levels
    if isinstance(step, Pipeline):
        for _, inner in step.steps:
            if hasattr(inner, "categories_"):
                return read_levels(inner, n_columns)
        raise UnsupportedStep(f"no categorical encoder in {step!r}")
    if not hasattr(step, "categories_"):
        raise UnsupportedStep(f"categorical step {type(step).__name__} has no categories_")
    levels = []
    for categories in step.categories_:
        values = [v for v in list(categories) if not (isinstance(v, float) and np.isnan(v))]
        if not all(isinstance(v, str) for v in values):
            raise UnsupportedStep(f"{type(step).__name__} was fitted on non-text levels")
        levels.append(values)
    return levels


def build_lookup_table(
    transformer: Any, names: list[str], levels: list[list[str]]
) -> tuple[np.ndarray, list[int]]:
    """Rows: each column's levels then its unseen level; a row keeps only its column's outputs."""
    rows_per_column = [len(column_levels) + 1 for column_levels in levels]
    offsets = np.concatenate([[0], np.cumsum(rows_per_column)]).astype(int).tolist()
    probe_values: list[list[Any]] = [[UNSEEN_LEVEL] * len(names)]  # the all-unseen base row
    for column, column_levels in enumerate(levels):
        for value in [*column_levels, UNSEEN_LEVEL, MISSING_LEVEL, np.nan]:
            row = [UNSEEN_LEVEL] * len(names)
            row[column] = value
            probe_values.append(row)
    out = transform_probe(transformer, pd.DataFrame(probe_values, columns=names, dtype=object))
    base, blocks = out[0], out[1:]
    owner = assign_output_columns(blocks, base, rows_per_column, names)
    if offsets[-1] * out.shape[1] > MAX_TABLE_CELLS:
        raise UnsupportedStep(f"categorical lookup table of {offsets[-1]} x {out.shape[1]}")
    table = np.zeros((offsets[-1], out.shape[1]))
    start = 0
    for column, count in enumerate(rows_per_column):
        block = blocks[start : start + count + 2]  # levels, unseen, MISSING_LEVEL, NaN
        if not np.array_equal(block[-2], block[-1], equal_nan=True):
            raise UnsupportedStep(
                f"column {names[column]!r}: a missing value is not encoded as {MISSING_LEVEL!r}"
            )
        owned = owner == column
        table[offsets[column] : offsets[column + 1], owned] = block[:count][:, owned]
        start += count + 2
    return table, offsets[:-1]


def transform_probe(transformer: Any, probe: pd.DataFrame) -> np.ndarray:
    try:
        out = transformer.transform(probe)
    except Exception as error:  # e.g. handle_unknown="error": unseen levels cannot be served
        raise UnsupportedStep(
            f"{type(transformer).__name__} fails on an unseen level ({error})"
        ) from error
    out = out.toarray() if sparse.issparse(out) else np.asarray(out)
    return out.astype(np.float64)


def assign_output_columns(
    blocks: np.ndarray, base: np.ndarray, rows_per_column: list[int], names: list[str]
) -> np.ndarray:
    """Which input column each output column belongs to: the one whose levels move it.

    Output columns no level moves are constants; column 0 carries them. An output column moved
    by two input columns means the encoder is not column-wise: refused.
    """
    owner = np.zeros(blocks.shape[1], dtype=int)
    claimed = np.zeros(blocks.shape[1], dtype=bool)
    start = 0
    for column, count in enumerate(rows_per_column):
        block = blocks[start : start + count + 2]
        moved = ~np.all(np.isclose(block, base, rtol=0, atol=0, equal_nan=True), axis=0)
        if np.any(moved & claimed):
            raise UnsupportedStep(f"an output depends on column {names[column]!r} and another")
        owner[moved], claimed = column, claimed | moved
        start += count + 2
    return owner
