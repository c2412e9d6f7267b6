"""Neuron coverage of a scikit-learn multi-layer perceptron, as DeepXplore defines it.

A hidden unit is covered when at least one correctly predicted test row activates it above a
threshold; the coverage is the share of covered hidden units. Low coverage says the test set
leaves parts of the network's behaviour unexercised, much as untested branches do in code.

As in DeepXplore, a layer's activations are min-max scaled to [0, 1] for each input row before the
threshold is applied (the unit with the row's lowest activation in that layer gets 0, the highest
gets 1; a layer whose units all output the same value for a row activates none of them). The
`scaling="layer"` variant scales each layer by its minimum and maximum over all given rows instead.
Activations are computed here from `coefs_`, `intercepts_` and the activation function, so the
same code covers classifiers and regressors, alone or as the last step of a pipeline.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy.sparse import issparse
from scipy.special import expit, softmax
from sklearn.base import BaseEstimator
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline

from mleng.quality.plots import new_figure
from mleng.reports.formatting import format_number, render_table, to_jsonable

Scaling = Literal["input", "layer"]
Network = MLPClassifier | MLPRegressor
ACTIVATIONS = {
    "identity": lambda values: values,
    "relu": lambda values: np.maximum(values, 0.0),
    "tanh": np.tanh,
    "logistic": expit,
    "softmax": lambda values: softmax(values, axis=1),
}
CURVE_POINTS = 20  # points of the coverage curve, on a geometric grid of test rows


@dataclass(frozen=True)
class LayerCoverage:
    """How many units of one hidden layer (numbered from 1) the correct rows cover."""

    layer: int
    units: int
    covered: int

    @property
    def coverage(self) -> float:
        return self.covered / self.units if self.units else 0.0


@dataclass(frozen=True)
class CoverageReport:
    """Overall and per-layer neuron coverage, and coverage after the first k rows for k on a
    grid."""

    threshold: float
    scaling: str
    rows: int
    correct_rows: int
    units: int
    covered_units: int
    layers: list[LayerCoverage]
    curve_rows: list[int]
    curve_coverage: list[float]

    @property
    def coverage(self) -> float:
        return self.covered_units / self.units if self.units else 0.0

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict with the coverages spelled out."""
        layers = [asdict(layer) | {"coverage": layer.coverage} for layer in self.layers]
        return to_jsonable(asdict(self) | {"coverage": self.coverage, "layers": layers})


def split_network(model: BaseEstimator) -> tuple[Pipeline | None, Network]:
    """The steps before the perceptron (None when the model is the perceptron) and the
    perceptron."""
    network = model[-1] if isinstance(model, Pipeline) else model
    if not isinstance(network, (MLPClassifier, MLPRegressor)):
        raise TypeError(
            "neuron coverage needs an MLPClassifier or MLPRegressor (alone or last in a "
            f"Pipeline), got {type(network).__name__}"
        )
    if not hasattr(network, "coefs_"):
        raise ValueError("the perceptron is not fitted; fit the model before measuring coverage")
    preceding = model[:-1] if isinstance(model, Pipeline) and len(model) > 1 else None
    return preceding, network


def transform_network_inputs(model: BaseEstimator, X: pd.DataFrame | np.ndarray) -> np.ndarray:
    """The rows as the perceptron sees them: passed through every preceding pipeline step."""
    preceding, _ = split_network(model)
    inputs = X if preceding is None else preceding.transform(X)
    if issparse(inputs):
        inputs = inputs.toarray()
    return np.asarray(inputs, dtype=float)


def compute_layer_outputs(network: Network, inputs: np.ndarray) -> list[np.ndarray]:
    """Every layer's output, hidden layers first and the output layer last (after its
    activation)."""
    outputs = []
    values = inputs
    last = len(network.coefs_) - 1
    for index, (weights, bias) in enumerate(zip(network.coefs_, network.intercepts_, strict=True)):
        activation = network.out_activation_ if index == last else network.activation
        values = ACTIVATIONS[activation](values @ weights + bias)
        outputs.append(values)
    return outputs


def scale_activations(activations: np.ndarray, scaling: Scaling) -> np.ndarray:
    """Min-max scale one layer's activations (rows x units) to [0, 1], per row or over the layer.

    Where the minimum equals the maximum every scaled value is 0, so no unit counts as activated.
    """
    if scaling == "input":
        low = activations.min(axis=1, keepdims=True)
        high = activations.max(axis=1, keepdims=True)
    else:
        low, high = activations.min(keepdims=True), activations.max(keepdims=True)
    width = high - low
    return np.divide(activations - low, width, out=np.zeros_like(activations), where=width > 0)


def find_correct_rows(
    model: BaseEstimator, X: pd.DataFrame | np.ndarray, y: object, tolerance: float | None
) -> np.ndarray:
    """Which rows the model gets right: the exact label, or a prediction within `tolerance`."""
    _, network = split_network(model)
    predicted = np.asarray(model.predict(X))
    truth = np.asarray(y)
    if len(truth) != len(predicted):
        raise ValueError(f"X has {len(predicted)} rows but y has {len(truth)}")
    if isinstance(network, MLPClassifier):
        right = predicted == truth
    else:
        if tolerance is None or tolerance < 0:
            raise ValueError(
                "a regressor needs a tolerance >= 0 (rows predicted within it count as "
                f"correct), got {tolerance}"
            )
        right = np.abs(predicted.astype(float) - truth.astype(float)) <= tolerance
    return right.reshape(len(truth), -1).all(axis=1)


def find_first_activations(
    scaled_layers: list[np.ndarray], correct: np.ndarray, threshold: float
) -> list[np.ndarray]:
    """Per layer and unit, the position of the first correct row that activates it (rows if
    none)."""
    rows = len(correct)
    first = []
    for scaled in scaled_layers:
        hits = (scaled > threshold) & correct[:, None]
        first.append(np.where(hits.any(axis=0), hits.argmax(axis=0), rows))
    return first


def build_coverage_curve(
    first_hits: np.ndarray, rows: int, points: int
) -> tuple[list[int], list[float]]:
    """Coverage after the first k rows, for k on a geometric grid from 1 to all rows.

    Non-decreasing by construction: a unit covered by the first k rows stays covered for more.
    """
    if rows == 0 or first_hits.size == 0:
        return [], []
    grid = np.unique(np.round(np.geomspace(1, rows, num=max(points, 2))).astype(int))
    coverage = [float(np.mean(first_hits < k)) for k in grid]
    return grid.tolist(), coverage


def measure_neuron_coverage(
    model: BaseEstimator,
    X: pd.DataFrame | np.ndarray,
    y: object,
    threshold: float = 0.5,
    tolerance: float | None = None,
    scaling: Scaling = "input",
) -> CoverageReport:
    """Share of hidden units activated above `threshold` by at least one correctly predicted row.

    A unit counts as activated by a row when its scaled activation is strictly above the threshold
    (so a threshold of 1 or more covers nothing). Rows the model gets wrong never count: coverage
    is about the behaviour a test set exercises and confirms. For a regressor, `tolerance` says how
    far a prediction may be from the truth and still be right.
    """
    if threshold < 0:
        raise ValueError(
            f"threshold must be >= 0 (activations are scaled to [0, 1]), got {threshold}"
        )
    if scaling not in ("input", "layer"):
        raise ValueError(f"scaling must be 'input' (DeepXplore) or 'layer', got {scaling!r}")
    _, network = split_network(model)
    hidden = compute_layer_outputs(network, transform_network_inputs(model, X))[:-1]
    correct = find_correct_rows(model, X, y, tolerance)
    scaled = [scale_activations(layer, scaling) for layer in hidden]
    first = find_first_activations(scaled, correct, threshold)
    rows = len(correct)
    layers = [
        LayerCoverage(index + 1, len(hits), int(np.sum(hits < rows)))
        for index, hits in enumerate(first)
    ]
    all_first = np.concatenate(first) if first else np.empty(0, dtype=int)
    curve_rows, curve_coverage = build_coverage_curve(all_first, rows, CURVE_POINTS)
    return CoverageReport(
        threshold=threshold,
        scaling=scaling,
        rows=rows,
        correct_rows=int(correct.sum()),
        units=int(all_first.size),
        covered_units=int(np.sum(all_first < rows)),
        layers=layers,
        curve_rows=curve_rows,
        curve_coverage=curve_coverage,
    )


def render_coverage_markdown(report: CoverageReport) -> str:
    """Overall coverage, one row per hidden layer, and a few points of the coverage curve."""
    step = max(1, len(report.curve_rows) // 8)
    curve = list(zip(report.curve_rows, report.curve_coverage, strict=True))
    shown = curve[::step] + ([curve[-1]] if curve and (len(curve) - 1) % step else [])
    parts = [
        f"## Neuron coverage: {format_number(report.coverage)}",
        (
            f"{report.covered_units} of {report.units} hidden units activated above "
            f"{format_number(report.threshold)} (activations min-max scaled per "
            f"{'input row' if report.scaling == 'input' else 'layer'}) by at least one of the "
            f"{report.correct_rows:,} correctly predicted rows out of {report.rows:,}."
        ),
        render_table(
            ["hidden layer", "units", "covered", "coverage"],
            [(layer.layer, layer.units, layer.covered, layer.coverage) for layer in report.layers],
        ),
        "### Coverage as the test set grows",
        render_table(["first rows", "coverage"], shown),
    ]
    return "\n\n".join(parts) + "\n"


def plot_coverage_curve(report: CoverageReport) -> Figure:
    """Coverage after the first k test rows against k, on a log scale of rows."""
    figure = new_figure(6, 4)
    axes = figure.add_subplot()
    if report.curve_rows:
        axes.plot(report.curve_rows, report.curve_coverage, marker="o")
        axes.set_xscale("log")
    axes.set_ylim(0, 1.05)
    axes.set_xlabel("test rows (first k)")
    axes.set_ylabel("neuron coverage")
    axes.set_title(f"Neuron coverage, threshold {format_number(report.threshold)}")
    return figure
