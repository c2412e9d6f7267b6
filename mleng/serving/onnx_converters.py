"""ONNX graph pieces for the steps of an mleng pipeline, each exact in double precision.

Numeric steps are written from their fitted attributes with the same float64 operations
scikit-learn runs (`X -= mean_; X /= scale_` becomes Sub then Div), so the values are equal
bit for bit. Categorical encoders are not re-implemented at all: every encoder we ship is
column-wise (a column's output depends on that column's value only) and maps a level unseen in
training to one fixed value, so the encoder's own `transform` of each training level, plus one
unseen level, gives a lookup table; the graph only looks levels up (LabelEncoder, Gather). Trees
are written as ai.onnx.ml `TreeEnsemble` (opset 5), which keeps double thresholds and leaf
values; skl2onnx's tree converters compare in float32 (and fail on a double HGB), which flips
rows that lie between a float64 threshold and its float32 rounding.

Anything not covered raises `UnsupportedStep` naming the step, so the caller can fall back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from onnx import TensorProto, helper, numpy_helper
from scipy import sparse
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.feature_selection import SelectorMixin
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    KBinsDiscretizer,
    MaxAbsScaler,
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    RobustScaler,
    StandardScaler,
    TargetEncoder,
)
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from mleng.features.columns import MISSING_LEVEL, CategoricalEncoder, NumericTransformer
from mleng.features.encoders import CountEncoder, OddsRatioEncoder

ML_DOMAIN = "ai.onnx.ml"
OPSET = 21
ML_OPSET = 5  # TreeEnsemble with double thresholds and leaf weights
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
SKLEARN_TREES = (
    RandomForestClassifier,
    RandomForestRegressor,
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    DecisionTreeClassifier,
    DecisionTreeRegressor,
)
HIST_TREES = (HistGradientBoostingClassifier, HistGradientBoostingRegressor)


class UnsupportedStep(Exception):
    """A step (or a setting of it) without an exact ONNX form; the message names it."""


class GraphBuilder:
    """Nodes and initializers of one graph, with unique names (prefixed, so a merged skl2onnx
    graph cannot clash)."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0
        self._cache: dict[str, Any] = {}

    def fresh_name(self, hint: str) -> str:
        self._count += 1
        return f"mleng_{hint}_{self._count}"

    def add_constant(self, array: Any, hint: str = "const") -> str:
        name = self.fresh_name(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def add_node(
        self, op: str, inputs: Sequence[str], domain: str = "", n_outputs: int = 1, **attrs: Any
    ) -> Any:
        """Append one node; returns its output name (or names when `n_outputs` > 1)."""
        outputs = [self.fresh_name(op.lower()) for _ in range(n_outputs)]
        self.nodes.append(
            helper.make_node(
                op, list(inputs), outputs, name=self.fresh_name(op), domain=domain, **attrs
            )
        )
        return outputs[0] if n_outputs == 1 else outputs

    def select_columns(self, x: str, positions: Sequence[int], width: int) -> str:
        """Columns `positions` of a 2D tensor; no node when they are all columns in order."""
        if list(positions) == list(range(width)):
            return x
        indices = self.add_constant(np.asarray(positions, dtype=np.int64), "columns")
        return self.add_node("Gather", [x, indices], axis=1)

    def concat_columns(self, parts: list[tuple[str, int]]) -> tuple[str, int]:
        """Stack 2D parts side by side, skipping empty ones, as numpy.hstack does."""
        kept = [(name, width) for name, width in parts if width > 0]
        if not kept:
            raise UnsupportedStep("a step produces no columns")
        if len(kept) == 1:
            return kept[0]
        total = sum(width for _, width in kept)
        return self.add_node("Concat", [name for name, _ in kept], axis=1), total

    def cast(self, x: str, to: int) -> str:
        return self.add_node("Cast", [x], to=to)


@dataclass
class FrameInputs:
    """The graph's two inputs and where each raw column sits in them."""

    numeric: str
    categorical: str
    numeric_columns: list[str]
    categorical_columns: list[str]
    builder: GraphBuilder
    _split: list[str] | None = None

    def kind_of(self, names: list[str]) -> str:
        kinds = set()
        for name in names:
            if name in self.numeric_columns:
                kinds.add("numeric")
            elif name in self.categorical_columns:
                kinds.add("categorical")
            else:
                raise UnsupportedStep(
                    f"column {name!r} is neither a numeric nor a categorical input"
                )
        if len(kinds) != 1:
            raise UnsupportedStep(f"a transformer mixes numeric and categorical columns {names}")
        return kinds.pop()

    def numeric_block(self, names: list[str]) -> tuple[str, int]:
        positions = [self.numeric_columns.index(name) for name in names]
        width = len(self.numeric_columns)
        return self.builder.select_columns(self.numeric, positions, width), len(names)

    def categorical_column(self, name: str) -> str:
        """One categorical column as an (n, 1) string tensor; the input is split once."""
        if self._split is None:
            count = len(self.categorical_columns)
            if count == 1:
                self._split = [self.categorical]
            else:
                self._split = self.builder.add_node(
                    "Split", [self.categorical], n_outputs=count, axis=1, num_outputs=count
                )
        return self._split[self.categorical_columns.index(name)]


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


# --- categorical steps ---------------------------------------------------------------------------


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


# --- trees -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TreeArrays:
    """One tree as node arrays (children index nodes; -1 at leaves) and its leaf outputs."""

    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    missing_left: np.ndarray
    is_leaf: np.ndarray
    value: np.ndarray  # per node; used at leaves
    target: int


def single_leaf_tree(value: float, target: int) -> TreeArrays:
    """A constant as a tree: TreeEnsemble needs a split at the root, so both sides lead to it."""
    return TreeArrays(
        left=np.array([1, -1]),
        right=np.array([1, -1]),
        feature=np.array([0, 0]),
        threshold=np.array([0.0, 0.0]),
        missing_left=np.array([True, False]),
        is_leaf=np.array([False, True]),
        value=np.array([0.0, value]),
        target=target,
    )


def add_tree_ensemble(
    builder: GraphBuilder, x: str, trees: list[TreeArrays], n_targets: int
) -> str:
    """Sum of the trees' leaf values per target (ai.onnx.ml TreeEnsemble, double, x <= t)."""
    keys = ["featureids", "splits", "missing", "truenodeids", "trueleafs", "falsenodeids"]
    keys += ["falseleafs", "roots", "leaf_targetids", "leaf_weights"]
    columns: dict[str, list[np.ndarray]] = {key: [] for key in keys}
    node_base = leaf_base = 0
    for tree in trees:
        tree = tree if not tree.is_leaf[0] else single_leaf_tree(float(tree.value[0]), tree.target)
        internal, leaves = np.flatnonzero(~tree.is_leaf), np.flatnonzero(tree.is_leaf)
        position = np.full(len(tree.is_leaf), -1, dtype=np.int64)
        position[internal] = node_base + np.arange(len(internal))
        position[leaves] = leaf_base + np.arange(len(leaves))
        for side, child in (("true", tree.left[internal]), ("false", tree.right[internal])):
            columns[f"{side}nodeids"].append(position[child])
            columns[f"{side}leafs"].append(tree.is_leaf[child].astype(np.int64))
        columns["featureids"].append(tree.feature[internal].astype(np.int64))
        columns["splits"].append(tree.threshold[internal].astype(np.float64))
        columns["missing"].append(tree.missing_left[internal].astype(np.int64))
        columns["roots"].append(np.array([node_base], dtype=np.int64))
        columns["leaf_targetids"].append(np.full(len(leaves), tree.target, dtype=np.int64))
        columns["leaf_weights"].append(tree.value[leaves].astype(np.float64))
        node_base, leaf_base = node_base + len(internal), leaf_base + len(leaves)
    joined = {k: np.concatenate(v) for k, v in columns.items()}
    return builder.add_node(
        "TreeEnsemble",
        [x],
        domain=ML_DOMAIN,
        n_targets=n_targets,
        aggregate_function=1,  # SUM
        post_transform=0,  # NONE
        tree_roots=joined["roots"].tolist(),
        nodes_featureids=joined["featureids"].tolist(),
        nodes_modes=numpy_helper.from_array(np.zeros(node_base, dtype=np.uint8)),  # BRANCH_LEQ
        nodes_splits=numpy_helper.from_array(joined["splits"]),
        nodes_missing_value_tracks_true=joined["missing"].tolist(),
        nodes_truenodeids=joined["truenodeids"].tolist(),
        nodes_trueleafs=joined["trueleafs"].tolist(),
        nodes_falsenodeids=joined["falsenodeids"].tolist(),
        nodes_falseleafs=joined["falseleafs"].tolist(),
        leaf_targetids=joined["leaf_targetids"].tolist(),
        leaf_weights=numpy_helper.from_array(joined["leaf_weights"]),
    )


def sklearn_tree_arrays(tree: Any, output: int, target: int) -> TreeArrays:
    """A fitted `tree_` with the leaf values of one output column (a class or the target)."""
    left = tree.children_left
    missing_left = getattr(tree, "missing_go_to_left", np.zeros(len(left), dtype=bool))
    return TreeArrays(
        left=left,
        right=tree.children_right,
        feature=tree.feature,
        threshold=tree.threshold,
        missing_left=np.asarray(missing_left, dtype=bool),
        is_leaf=left == -1,
        value=tree.value[:, 0, output],
        target=target,
    )


def convert_sklearn_trees(builder: GraphBuilder, model: BaseEstimator, x: str) -> dict[str, str]:
    """Forests and single trees: they predict on float32 inputs against float64 thresholds, so
    the input is rounded to float32 first; probabilities are the sum over trees then / n_trees,
    as in scikit-learn (up to the order of the sum)."""
    estimators = getattr(model, "estimators_", [model])
    if getattr(model, "n_outputs_", 1) != 1:
        raise UnsupportedStep(f"multi-output {type(model).__name__}")
    rounded = builder.cast(builder.cast(x, TensorProto.FLOAT), TensorProto.DOUBLE)
    classifier = hasattr(model, "classes_")
    n_targets = len(model.classes_) if classifier else 1
    trees = [
        sklearn_tree_arrays(estimator.tree_, target, target)
        for target in range(n_targets)
        for estimator in estimators
    ]
    summed = add_tree_ensemble(builder, rounded, trees, n_targets)
    if hasattr(model, "estimators_"):
        count = builder.add_constant(np.float64(len(estimators)))
        summed = builder.add_node("Div", [summed, count])
    if not classifier:
        return {"value": summed}
    label = builder.add_node("ArgMax", [summed], axis=1, keepdims=0)
    return {"label_index": label, "probabilities": summed}


def hist_tree_arrays(nodes: np.ndarray, target: int) -> TreeArrays:
    return TreeArrays(
        left=np.where(nodes["is_leaf"], -1, nodes["left"]).astype(np.int64),
        right=np.where(nodes["is_leaf"], -1, nodes["right"]).astype(np.int64),
        feature=nodes["feature_idx"],
        threshold=nodes["num_threshold"],
        missing_left=nodes["missing_go_to_left"].astype(bool),
        is_leaf=nodes["is_leaf"].astype(bool),
        value=nodes["value"],
        target=target,
    )


def convert_hist_gradient_boosting(
    builder: GraphBuilder, model: BaseEstimator, x: str
) -> dict[str, str]:
    """HGB predicts on float64 raw values: raw = baseline + sum of trees (the baseline is the
    first "tree", so the sum runs in scikit-learn's order), then the loss's inverse link."""
    categorical = getattr(model, "is_categorical_", None)
    if categorical is not None and np.any(categorical):
        raise UnsupportedStep(f"{type(model).__name__} with native categorical features")
    n_targets = model.n_trees_per_iteration_
    baseline = np.asarray(model._baseline_prediction, dtype=np.float64).ravel()
    trees = [single_leaf_tree(float(baseline[k]), k) for k in range(n_targets)]
    for iteration in model._predictors:
        trees.extend(hist_tree_arrays(p.nodes, k) for k, p in enumerate(iteration))
    raw = add_tree_ensemble(builder, x, trees, n_targets)
    if isinstance(model, HistGradientBoostingRegressor):
        return {"value": apply_inverse_link(builder, model, raw)}
    if n_targets == 1:
        positive = builder.add_node("Sigmoid", [raw])
        one = builder.add_constant(np.ones((1, 1)))
        negative = builder.add_node("Sub", [one, positive])
        probabilities = builder.add_node("Concat", [negative, positive], axis=1)
        zero = builder.add_constant(np.zeros((1, 1)))
        above = builder.add_node("Greater", [raw, zero])  # "> 0": a tie is the first class
        flat = builder.add_node("Squeeze", [above, builder.add_constant(np.asarray([1]))])
        return {
            "label_index": builder.cast(flat, TensorProto.INT64),
            "probabilities": probabilities,
        }
    probabilities = builder.add_node("Softmax", [raw], axis=1)
    return {
        "label_index": builder.add_node("ArgMax", [raw], axis=1, keepdims=0),
        "probabilities": probabilities,
    }


def apply_inverse_link(builder: GraphBuilder, model: BaseEstimator, raw: str) -> str:
    link = type(model._loss.link).__name__
    if link == "IdentityLink":
        return raw
    if link == "LogLink":
        return builder.add_node("Exp", [raw])
    raise UnsupportedStep(f"{type(model).__name__} with loss link {link}")
