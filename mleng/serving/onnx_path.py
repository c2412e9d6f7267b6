"""The fast path of the prediction service: a fitted mleng model as one ONNX graph.

A 1-row request through the scikit-learn pipeline pays pandas and the ColumnTransformer (~20 ms);
the same row through onnxruntime takes a fraction of a millisecond. The graph is served only when
it decides exactly as the pipeline: `convert_to_onnx` checks it on real rows (plus made-up rows
with missing and unseen values) and returns no graph, with the reason, when any label differs or
a probability moves by more than the tolerance, or when a step has no exact conversion. The
service then keeps the scikit-learn pipeline.

The graph takes the service's typed input as two tensors, `numeric` (double, NaN = missing) and
`categorical` (string; `OnnxScorer` writes missing values as the "__missing__" level, which is
what both the imputer and `CategoricalEncoder` turn them into). The input coercer is skipped: the
service has already typed the values as it would. Features are computed in double precision (see
`onnx_features` and `onnx_categorical`); linear models and MLPs go through skl2onnx's own
converters, trees through ours (`onnx_models`). A tuned threshold (`FixedThresholdClassifier`)
is applied in Python to the exported probabilities, with scikit-learn's rule: the positive
class when its probability is >= threshold.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnxruntime as ort
import pandas as pd
from onnx import TensorProto, checker, helper
from sklearn.base import BaseEstimator, is_classifier
from sklearn.model_selection import FixedThresholdClassifier
from sklearn.pipeline import Pipeline

from mleng.features.columns import MISSING_LEVEL
from mleng.features.raw import RawInputCoercer
from mleng.serving.onnx_features import convert_feature_steps
from mleng.serving.onnx_graph import (
    ML_DOMAIN,
    ML_OPSET,
    OPSET,
    FrameInputs,
    GraphBuilder,
    UnsupportedStep,
)
from mleng.serving.onnx_models import convert_estimator
from mleng.training.threshold import unwrap_pipeline

NUMERIC_INPUT = "numeric"
CATEGORICAL_INPUT = "categorical"
UNSEEN_CHECK_LEVEL = "__mleng_unseen_check__"


@dataclass(frozen=True)
class OnnxConversion:
    """An exact ONNX graph of a model, or None and why not."""

    onnx_bytes: bytes | None  # None when the pipeline cannot be served by ONNX exactly
    reason: str  # one line: "exact on 2004 rows (...)" or why not, naming the step or class
    max_abs_difference: float | None


def convert_to_onnx(
    model: BaseEstimator,
    numeric_columns: list[str],
    categorical_columns: list[str],
    check_rows: pd.DataFrame,
    tolerance: float = 1e-6,
) -> OnnxConversion:
    """Convert the registered model (a Pipeline, or a FixedThresholdClassifier around one) and
    check it against scikit-learn on `check_rows` (raw rows with the contract's columns).

    Never raises for an unsupported or inexact model: the service needs a reason to log and the
    pipeline to fall back to, not an exception at startup.
    """
    numeric_columns, categorical_columns = list(numeric_columns), list(categorical_columns)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            onnx_bytes = build_onnx_bytes(model, numeric_columns, categorical_columns)
    except UnsupportedStep as error:
        return OnnxConversion(None, f"not convertible: {error}", None)
    except Exception as error:  # noqa: BLE001 - a failing converter means fall back
        return OnnxConversion(None, f"conversion failed: {type(error).__name__}: {error}", None)
    return check_parity(
        onnx_bytes, model, numeric_columns, categorical_columns, check_rows, tolerance
    )


class OnnxScorer:
    """Scores typed rows with the ONNX graph and decides labels as the scikit-learn model."""

    def __init__(self, onnx_bytes: bytes, model: BaseEstimator) -> None:
        self._session = ort.InferenceSession(
            onnx_bytes, build_session_options(), providers=["CPUExecutionProvider"]
        )
        self._inputs = {node.name for node in self._session.get_inputs()}
        self._outputs = [node.name for node in self._session.get_outputs()]
        self._rule = read_decision_rule(model)

    def predict(
        self, numeric: np.ndarray, categorical: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """(predictions, probabilities or None) for typed rows: `numeric` float64 with NaN for
        missing, `categorical` str with NaN for missing, columns in the contract's order.

        Predictions have the values and dtype of `model.predict`; probabilities are
        (n_rows, n_classes) float64 in `classes_` order.
        """
        feeds = {}
        if NUMERIC_INPUT in self._inputs:
            feeds[NUMERIC_INPUT] = np.ascontiguousarray(numeric, dtype=np.float64)
        if CATEGORICAL_INPUT in self._inputs:
            feeds[CATEGORICAL_INPUT] = fill_missing_levels(categorical)
        results = dict(zip(self._outputs, self._session.run(self._outputs, feeds), strict=True))
        return self._rule.decide(results)


@dataclass(frozen=True)
class DecisionRule:
    """How graph outputs become the model's predictions: regression values, the most probable
    class, or a tuned threshold on the positive class's probability."""

    classes: np.ndarray | None  # None for regression
    has_probabilities: bool
    threshold: float | None = None
    positive_index: int = 1
    negative_index: int = 0

    def decide(self, results: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        if self.classes is None:
            return results["value"].ravel(), None
        probabilities = results["probabilities"] if self.has_probabilities else None
        if self.threshold is not None and probabilities is not None:
            positive = probabilities[:, self.positive_index] >= self.threshold
            chosen = np.where(positive, self.positive_index, self.negative_index)
            return self.classes.take(chosen), probabilities
        if "label_index" in results:
            return self.classes.take(results["label_index"]), probabilities
        lookup = {value: index for index, value in enumerate(self.classes.tolist())}
        indices = [lookup[value] for value in results["label"].tolist()]
        return self.classes.take(indices), probabilities


def read_decision_rule(model: BaseEstimator) -> DecisionRule:
    """The decision rule of the registered model, read once when the scorer starts."""
    if not is_classifier(model):
        return DecisionRule(classes=None, has_probabilities=False)
    classes = np.asarray(model.classes_)
    has_probabilities = hasattr(model, "predict_proba")
    if not isinstance(model, FixedThresholdClassifier):
        return DecisionRule(classes, has_probabilities)
    require_probability_threshold(model)
    threshold = 0.5 if model.threshold == "auto" else float(model.threshold)
    if model.pos_label is None:  # scikit-learn: the last class is positive, labels in order
        return DecisionRule(classes, True, threshold, positive_index=1, negative_index=0)
    positive = int(np.flatnonzero(classes == model.pos_label)[0])
    negative = int(np.flatnonzero(classes != model.pos_label)[0])
    return DecisionRule(classes, True, threshold, positive, negative)


def require_probability_threshold(model: FixedThresholdClassifier) -> None:
    """Only thresholds on predict_proba are served; one on decision_function is not exported."""
    methods = model._get_response_method()
    methods = [methods] if isinstance(methods, str) else list(methods)
    inner = unwrap_pipeline(model)
    used = next((m for m in methods if hasattr(inner, m)), None)
    if used != "predict_proba" or len(model.classes_) != 2:
        raise UnsupportedStep(
            f"FixedThresholdClassifier on {used} with {len(model.classes_)} classes "
            "(only a binary predict_proba threshold is served)"
        )


def build_session_options() -> ort.SessionOptions:
    """One thread, sequential: a request of a few rows should not pay thread wake-ups."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return options


def fill_missing_levels(categorical: np.ndarray) -> np.ndarray:
    """Categorical values with NaN written as the level training used for missing values."""
    values = np.asarray(categorical, dtype=object)
    # NaN is the only value unequal to itself; faster than pd.isna on a request's few values
    missing = values != values  # noqa: PLR0124
    if missing.any():
        values = values.copy()
        values[missing] = MISSING_LEVEL
    return values


def coerce_rows(
    rows: pd.DataFrame, numeric_columns: list[str], categorical_columns: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Raw rows as the service types them: float64 numerics, str-or-NaN categoricals."""
    coerced = RawInputCoercer(numeric_columns, categorical_columns).fit(rows).transform(rows)
    numeric = coerced[numeric_columns].to_numpy(dtype=np.float64)
    categorical = coerced[categorical_columns].to_numpy(dtype=object)
    return numeric, categorical


# --- building the graph --------------------------------------------------------------------------


def build_onnx_bytes(
    model: BaseEstimator, numeric_columns: list[str], categorical_columns: list[str]
) -> bytes:
    """The serialized graph of the model's pipeline; raises UnsupportedStep naming what is not."""
    if isinstance(model, FixedThresholdClassifier):
        require_probability_threshold(model)
    pipeline = unwrap_pipeline(model)
    if not isinstance(pipeline, Pipeline):
        raise UnsupportedStep(f"the model is a {type(pipeline).__name__}, not a Pipeline")
    steps = [step for _, step in pipeline.steps]
    require_input_coercer(steps[0], numeric_columns, categorical_columns)
    builder = GraphBuilder()
    frame = FrameInputs(
        NUMERIC_INPUT, CATEGORICAL_INPUT, numeric_columns, categorical_columns, builder
    )
    features, width = convert_feature_steps(steps[1:-1], frame)
    outputs, extra = convert_estimator(builder, steps[-1], features, width)
    graph = assemble_graph(builder, frame, outputs, extra)
    onnx_model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid(ML_DOMAIN, ML_OPSET)],
        producer_name="mleng",
    )
    onnx_model.ir_version = 10
    checker.check_model(onnx_model)
    return onnx_model.SerializeToString()


def require_input_coercer(step: Any, numeric_columns: list[str], categorical_columns: list[str]):
    """The graph replaces the coercer, so it must coerce exactly the contract's columns."""
    if not isinstance(step, RawInputCoercer):
        raise UnsupportedStep(
            f"the pipeline starts with {type(step).__name__}, not RawInputCoercer"
        )
    if list(step.numeric_columns) != numeric_columns or list(step.categorical_columns) != (
        categorical_columns
    ):
        raise UnsupportedStep(
            "the RawInputCoercer's columns differ from the contract's numeric and categorical "
            "columns"
        )


def assemble_graph(
    builder: GraphBuilder, frame: FrameInputs, outputs: dict[str, tuple[str, int]], extra: Any
) -> Any:
    """One graph: our feature nodes, then the estimator's (ours or skl2onnx's), outputs renamed to
    the names `OnnxScorer` reads."""
    nodes, initializers = list(builder.nodes), list(builder.initializers)
    if extra is not None:
        nodes.extend(extra.node)
        initializers.extend(extra.initializer)
    graph_outputs = []
    for key, (name, elem_type) in outputs.items():
        if name != key:
            nodes.append(helper.make_node("Identity", [name], [key], name=f"mleng_output_{key}"))
        shape = [None] if key in ("label", "label_index") else [None, None]
        graph_outputs.append(helper.make_tensor_value_info(key, elem_type, shape))
    inputs = []
    if frame.numeric_columns:
        inputs.append(
            helper.make_tensor_value_info(
                NUMERIC_INPUT, TensorProto.DOUBLE, [None, len(frame.numeric_columns)]
            )
        )
    if frame.categorical_columns:
        inputs.append(
            helper.make_tensor_value_info(
                CATEGORICAL_INPUT, TensorProto.STRING, [None, len(frame.categorical_columns)]
            )
        )
    return helper.make_graph(nodes, "mleng_model", inputs, graph_outputs, initializers)


# --- parity ------------------------------------------------------------------------------------


def check_parity(
    onnx_bytes: bytes,
    model: BaseEstimator,
    numeric_columns: list[str],
    categorical_columns: list[str],
    check_rows: pd.DataFrame,
    tolerance: float,
) -> OnnxConversion:
    """Serve the graph only if it agrees with the model on every check row."""
    if len(check_rows) == 0:
        return OnnxConversion(None, "no check rows to verify the graph on", None)
    rows = add_edge_rows(check_rows, numeric_columns, categorical_columns)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = model.predict(rows)
            expected_values = model.predict_proba(rows) if has_probabilities(model) else None
        numeric, categorical = coerce_rows(rows, numeric_columns, categorical_columns)
        labels, values = OnnxScorer(onnx_bytes, model).predict(numeric, categorical)
    except Exception as error:  # noqa: BLE001 - the graph must not break startup
        return OnnxConversion(None, f"parity check failed: {type(error).__name__}: {error}", None)
    sides = ((expected, expected_values), (labels, values))
    return judge_parity(onnx_bytes, sides, tolerance, len(check_rows), is_classifier(model))


def judge_parity(
    onnx_bytes: bytes,
    sides: tuple[tuple[np.ndarray, np.ndarray | None], tuple[np.ndarray, np.ndarray | None]],
    tolerance: float,
    n_given: int,
    classifier: bool,
) -> OnnxConversion:
    """The graph if labels are identical (same dtype too) and probabilities, or regression
    values, within `tolerance`; else None with how many rows disagree and by how much."""
    (expected, expected_values), (labels, values) = sides
    n_rows = len(expected)
    if classifier:
        wrong_labels, symbol = int(np.sum(labels != expected)), "dp"
        wrong_labels += int(labels.dtype != np.asarray(expected).dtype) * n_rows
        difference = np.zeros(n_rows) if values is None else np.abs(values - expected_values)
    else:
        difference = np.abs(labels.astype(float) - np.asarray(expected, dtype=float))
        wrong_labels, symbol = 0, "dy"
    off_rows = int(np.sum(np.max(difference.reshape(n_rows, -1), axis=1) > tolerance))
    largest = float(np.max(difference)) if difference.size else 0.0
    where = f"{n_rows} rows ({n_given} given + {n_rows - n_given} with missing and unseen values)"
    if wrong_labels or off_rows:
        return OnnxConversion(
            None,
            f"not exact on {where}: {wrong_labels} labels differ, {off_rows} rows off by more "
            f"than {tolerance:g} (max |{symbol}| {largest:.1e})",
            largest,
        )
    agreement = "labels equal, " if classifier else ""
    return OnnxConversion(
        onnx_bytes, f"exact on {where}: {agreement}max |{symbol}| {largest:.1e}", largest
    )


def has_probabilities(model: BaseEstimator) -> bool:
    return is_classifier(model) and hasattr(model, "predict_proba")


def add_edge_rows(
    rows: pd.DataFrame, numeric_columns: list[str], categorical_columns: list[str]
) -> pd.DataFrame:
    """The check rows plus three made from the first: all missing, all categories unseen, both,
    so the imputation and unseen-level paths are checked even if the sample lacks them."""
    base = rows.iloc[[0] * 3].copy()
    base.iloc[[0, 2], [base.columns.get_loc(c) for c in numeric_columns]] = np.nan
    for column in categorical_columns:
        base[column] = base[column].astype(object)
        base.iloc[0, base.columns.get_loc(column)] = np.nan
        base.iloc[[1, 2], base.columns.get_loc(column)] = UNSEEN_CHECK_LEVEL
    return pd.concat([rows, base], ignore_index=True)
