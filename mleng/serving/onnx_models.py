"""ONNX graph pieces for the final estimator: trees, linear models and MLPs.

Trees are written as ai.onnx.ml `TreeEnsemble` (opset 5), which keeps double thresholds and leaf
values; skl2onnx's tree converters compare in float32 (and fail on a double HGB), which flips rows
that lie between a float64 threshold and its float32 rounding. Linear models and MLPs go through
skl2onnx's own double-precision converters, which are exact, wired to our features tensor.
`convert_estimator` picks between them; anything else raises `UnsupportedStep`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from onnx import TensorProto, numpy_helper
from sklearn.base import BaseEstimator, is_classifier
from sklearn.ensemble import HistGradientBoostingRegressor

from mleng.serving.onnx_graph import ML_DOMAIN, ML_OPSET, OPSET, GraphBuilder, UnsupportedStep
from mleng.serving.onnx_support import (
    HIST_TREES,
    SKL2ONNX_ESTIMATORS,
    SKLEARN_TREES,
    describe_estimator_gap,
)


def convert_estimator(
    builder: GraphBuilder, estimator: BaseEstimator, features: str, width: int
) -> tuple[dict[str, tuple[str, int]], Any]:
    """Graph outputs (name -> (tensor, element type)) of the final estimator; trees are ours,
    linear models and MLPs skl2onnx's (their double-precision converters are exact)."""
    if isinstance(estimator, SKLEARN_TREES):
        named = convert_sklearn_trees(builder, estimator, features)
        return typed_outputs(named), None
    if isinstance(estimator, HIST_TREES):
        named = convert_hist_gradient_boosting(builder, estimator, features)
        return typed_outputs(named), None
    if isinstance(estimator, SKL2ONNX_ESTIMATORS):
        return convert_with_skl2onnx(estimator, features, width)
    raise UnsupportedStep(describe_estimator_gap(estimator))


def typed_outputs(named: dict[str, str]) -> dict[str, tuple[str, int]]:
    types = {"label_index": TensorProto.INT64}
    return {key: (name, types.get(key, TensorProto.DOUBLE)) for key, name in named.items()}


def convert_with_skl2onnx(
    estimator: BaseEstimator, features: str, width: int
) -> tuple[dict[str, tuple[str, int]], Any]:
    """skl2onnx's graph of the estimator on a double input, wired to our features tensor."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType

    options = {id(estimator): {"zipmap": False}} if is_classifier(estimator) else None
    converted = convert_sklearn(
        estimator,
        initial_types=[("estimator_input", DoubleTensorType([None, width]))],
        target_opset={"": OPSET, ML_DOMAIN: ML_OPSET},
        options=options,
    )
    graph = converted.graph
    for node in graph.node:
        node.input[:] = [features if name == "estimator_input" else name for name in node.input]
    outputs = {}
    for output, key in zip(graph.output, ("label", "probabilities"), strict=False):
        kind = key if is_classifier(estimator) else "value"
        outputs[kind] = (output.name, output.type.tensor_type.elem_type)
    return outputs, graph


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
