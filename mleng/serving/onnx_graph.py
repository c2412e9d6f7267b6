"""The graph-building core shared by the ONNX converters: opsets, `UnsupportedStep`, the
`GraphBuilder` that names nodes and initializers, and `FrameInputs`, the graph's two inputs.

Kept apart from the step converters (`onnx_features`, `onnx_categorical`, `onnx_models`) because
every one of them builds on these and none should have to import another to get them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from onnx import helper, numpy_helper

ML_DOMAIN = "ai.onnx.ml"
OPSET = 21
ML_OPSET = 5  # TreeEnsemble with double thresholds and leaf weights


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
