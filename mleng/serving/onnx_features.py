"""ONNX graph pieces for an mleng pipeline's feature steps, each exact in double precision.

Holds the walk over the feature steps (the ColumnTransformer, then column selections such as
SelectKBest) and the numeric steps. Numeric steps are written from their fitted attributes with
the same float64 operations scikit-learn runs (`X -= mean_; X /= scale_` becomes Sub then Div), so
the values are equal bit for bit. Categorical columns are handed to `onnx_categorical`, which
builds lookup tables instead. Anything not covered raises `UnsupportedStep` naming the step, so
the caller can fall back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from onnx import TensorProto
from sklearn.compose import ColumnTransformer
from sklearn.feature_selection import SelectorMixin
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    KBinsDiscretizer,
    MaxAbsScaler,
    MinMaxScaler,
    RobustScaler,
    StandardScaler,
)

from mleng.features.columns import NumericTransformer
from mleng.serving.onnx_categorical import convert_categorical
from mleng.serving.onnx_graph import FrameInputs, GraphBuilder, UnsupportedStep

# --- feature steps: raw frame -> matrix ---------------------------------------------------------


def convert_feature_steps(steps: list[Any], frame: FrameInputs) -> tuple[str, int]:
    """The feature steps of a model pipeline (between the input coercer and the estimator)."""
    state: tuple[str, int] | None = None
    for step in flatten_steps(steps):
        if state is None:
            if not isinstance(step, ColumnTransformer):
                raise UnsupportedStep(
                    f"the first feature step is {type(step).__name__}, not a ColumnTransformer"
                )
            state = convert_column_transformer(step, frame)
        else:
            state = convert_matrix_step(frame.builder, step, state)
    if state is None:
        raise UnsupportedStep("the pipeline has no feature steps")
    return state


def flatten_steps(steps: list[Any]) -> list[Any]:
    """Nested pipelines as one list of fitted steps; passthroughs and samplers dropped (a sampler
    acts in `fit` only)."""
    flat: list[Any] = []
    for step in steps:
        if step is None or (isinstance(step, str) and step == "passthrough"):
            continue
        if isinstance(step, Pipeline):
            flat.extend(flatten_steps([s for _, s in step.steps]))
        elif hasattr(step, "fit_resample") and not hasattr(step, "transform"):
            continue
        else:
            flat.append(step)
    return flat


def convert_column_transformer(ct: ColumnTransformer, frame: FrameInputs) -> tuple[str, int]:
    parts = []
    for name, transformer, columns in ct.transformers_:
        if isinstance(transformer, str) and transformer == "drop":
            continue
        names = resolve_column_names(ct, columns)
        if not names:
            continue
        if frame.kind_of(names) == "numeric":
            block = frame.numeric_block(names)
            parts.append(convert_numeric(frame.builder, transformer, block))
        else:
            if isinstance(transformer, str):
                raise UnsupportedStep(f"categorical columns {names} pass through as strings")
            inputs = [frame.categorical_column(column) for column in names]
            parts.append(convert_categorical(frame.builder, transformer, names, inputs))
    return frame.builder.concat_columns(parts)


def resolve_column_names(ct: ColumnTransformer, columns: Any) -> list[str]:
    """A ColumnTransformer's column selection as input column names."""
    names = np.asarray(getattr(ct, "feature_names_in_", []), dtype=object)
    if isinstance(columns, str):
        raise UnsupportedStep(f"a transformer takes one column as a 1D vector ({columns!r})")
    selected = np.asarray(columns)
    if selected.size == 0:
        return []
    if selected.dtype == bool:
        return [str(n) for n in names[selected]]
    if np.issubdtype(selected.dtype, np.integer):
        return [str(n) for n in names[selected]]
    if all(isinstance(c, str) for c in selected.tolist()):
        return [str(c) for c in selected.tolist()]
    raise UnsupportedStep(f"column selection {columns!r} of the ColumnTransformer")


def convert_matrix_step(builder: GraphBuilder, step: Any, x: tuple[str, int]) -> tuple[str, int]:
    """A step after the ColumnTransformer: only column selections are exact and cheap."""
    if isinstance(step, SelectorMixin):  # CorrelationFilter, SelectKBest, SelectFromModel, ...
        kept = np.flatnonzero(step.get_support())
        return builder.select_columns(x[0], kept.tolist(), x[1]), len(kept)
    raise UnsupportedStep(f"feature step {type(step).__name__} after the column transformer")


# --- numeric steps -------------------------------------------------------------------------------


def convert_numeric(builder: GraphBuilder, step: Any, x: tuple[str, int]) -> tuple[str, int]:
    """One fitted numeric step on a double (n, width) tensor, by its class."""
    if step is None or (isinstance(step, str) and step == "passthrough"):
        return x
    if isinstance(step, Pipeline):
        for _, inner in step.steps:
            x = convert_numeric(builder, inner, x)
        return x
    converter = NUMERIC_CONVERTERS.get(type(step))
    if converter is None:
        raise UnsupportedStep(f"numeric step {type(step).__name__}")
    return converter(builder, step, x)


def convert_numeric_transformer(
    builder: GraphBuilder, step: NumericTransformer, x: tuple[str, int]
) -> tuple[str, int]:
    parts = []
    for _, group, positions in step.groups_:
        block = builder.select_columns(x[0], positions, x[1]), len(positions)
        parts.append(convert_numeric(builder, group, block))
    return builder.concat_columns(parts)


def convert_simple_imputer(
    builder: GraphBuilder, step: SimpleImputer, x: tuple[str, int]
) -> tuple[str, int]:
    """Where(IsNaN(x), statistic, x), dropping empty columns unless kept, then the indicator."""
    require_nan_marker(step)
    statistics = np.asarray(step.statistics_, dtype=np.float64)
    kept = np.arange(x[1])
    if not step.keep_empty_features:
        kept = np.flatnonzero(~np.isnan(statistics))
    values = builder.select_columns(x[0], kept.tolist(), x[1])
    missing = builder.add_node("IsNaN", [values])
    fill = builder.add_constant(statistics[kept].reshape(1, -1), "fill")
    imputed = builder.add_node("Where", [missing, fill, values]), len(kept)
    if not step.add_indicator:
        return imputed
    return builder.concat_columns([imputed, convert_missing_indicator(builder, step.indicator_, x)])


def convert_missing_indicator(
    builder: GraphBuilder, step: MissingIndicator, x: tuple[str, int]
) -> tuple[str, int]:
    require_nan_marker(step)
    if step.error_on_new and step.features == "missing-only":
        raise UnsupportedStep("MissingIndicator(error_on_new=True) raises on new missing columns")
    features = np.asarray(step.features_, dtype=np.int64)
    if features.size == 0:
        return x[0], 0
    missing = builder.add_node("IsNaN", [builder.select_columns(x[0], features.tolist(), x[1])])
    return builder.cast(missing, TensorProto.DOUBLE), len(features)


def require_nan_marker(step: Any) -> None:
    marker = step.missing_values
    if not (isinstance(marker, float) and np.isnan(marker)):
        raise UnsupportedStep(f"{type(step).__name__} with missing_values={marker!r} (not NaN)")


def apply_elementwise(
    builder: GraphBuilder, x: str, ops: list[tuple[str, np.ndarray | None]]
) -> str:
    """Sub/Div/Mul/Add with per-column constants, in order, skipping absent ones."""
    for op, values in ops:
        if values is not None:
            constant = builder.add_constant(np.asarray(values, dtype=np.float64).reshape(1, -1))
            x = builder.add_node(op, [x, constant])
    return x


def convert_standard_scaler(
    builder: GraphBuilder, step: StandardScaler, x: tuple[str, int]
) -> tuple[str, int]:
    mean = step.mean_ if step.with_mean else None
    scale = step.scale_ if step.with_std else None
    return apply_elementwise(builder, x[0], [("Sub", mean), ("Div", scale)]), x[1]


def convert_robust_scaler(
    builder: GraphBuilder, step: RobustScaler, x: tuple[str, int]
) -> tuple[str, int]:
    center = step.center_ if step.with_centering else None
    scale = step.scale_ if step.with_scaling else None
    return apply_elementwise(builder, x[0], [("Sub", center), ("Div", scale)]), x[1]


def convert_minmax_scaler(
    builder: GraphBuilder, step: MinMaxScaler, x: tuple[str, int]
) -> tuple[str, int]:
    scaled = apply_elementwise(builder, x[0], [("Mul", step.scale_), ("Add", step.min_)])
    if step.clip:
        low, high = (builder.add_constant(np.float64(v)) for v in step.feature_range)
        scaled = builder.add_node("Clip", [scaled, low, high])
    return scaled, x[1]


def convert_maxabs_scaler(
    builder: GraphBuilder, step: MaxAbsScaler, x: tuple[str, int]
) -> tuple[str, int]:
    return apply_elementwise(builder, x[0], [("Div", step.scale_)]), x[1]


def convert_kbins(
    builder: GraphBuilder, step: KBinsDiscretizer, x: tuple[str, int]
) -> tuple[str, int]:
    """searchsorted(edges[1:-1], x, side="right") is the count of inner edges <= x; edges are
    padded with +inf (never <= a value, as inf never arrives) so all columns bin in one op."""
    if step.dtype not in (None, np.float64):
        raise UnsupportedStep(f"KBinsDiscretizer(dtype={step.dtype})")
    inner = [np.asarray(edges, dtype=np.float64)[1:-1] for edges in step.bin_edges_]
    width = max((len(e) for e in inner), default=0)
    if width == 0:
        bins = builder.add_node("Mul", [x[0], builder.add_constant(np.zeros((1, x[1])))])
        bins = builder.cast(bins, TensorProto.INT64)
    else:
        padded = np.full((x[1], width), np.inf)
        for column, edges in enumerate(inner):
            padded[column, : len(edges)] = edges
        column_axis = builder.add_constant(np.asarray([2], dtype=np.int64))
        expanded = builder.add_node("Unsqueeze", [x[0], column_axis])
        above = builder.add_node("GreaterOrEqual", [expanded, builder.add_constant(padded)])
        counts = builder.cast(above, TensorProto.INT64)
        bins = builder.add_node("ReduceSum", [counts, column_axis], keepdims=0)
    if step.encode == "ordinal":
        return builder.cast(bins, TensorProto.DOUBLE), x[1]
    n_bins = np.asarray(step.n_bins_, dtype=np.int64)
    most = int(n_bins.max())
    expanded = builder.add_node("Unsqueeze", [bins, builder.add_constant(np.asarray([2]))])
    levels = builder.add_constant(np.arange(most, dtype=np.int64).reshape(1, 1, most))
    one_hot = builder.add_node("Equal", [expanded, levels])
    flat_shape = builder.add_constant(np.asarray([-1, x[1] * most], dtype=np.int64))
    flat = builder.add_node("Reshape", [one_hot, flat_shape])
    kept = [column * most + level for column in range(x[1]) for level in range(n_bins[column])]
    selected = builder.select_columns(flat, kept, x[1] * most)
    return builder.cast(selected, TensorProto.DOUBLE), len(kept)


NUMERIC_CONVERTERS: dict[type, Callable[..., tuple[str, int]]] = {
    NumericTransformer: convert_numeric_transformer,
    SimpleImputer: convert_simple_imputer,
    MissingIndicator: convert_missing_indicator,
    StandardScaler: convert_standard_scaler,
    RobustScaler: convert_robust_scaler,
    MinMaxScaler: convert_minmax_scaler,
    MaxAbsScaler: convert_maxabs_scaler,
    KBinsDiscretizer: convert_kbins,
}
