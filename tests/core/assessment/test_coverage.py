"""Neuron coverage: a forward pass that reproduces the network, DeepXplore scaling, and only correct
rows counting."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mleng.assessment.coverage import (
    compute_layer_outputs,
    measure_neuron_coverage,
    plot_coverage_curve,
    render_coverage_markdown,
    scale_activations,
    transform_network_inputs,
)
from mleng.features.pipeline import build_feature_pipeline, build_model_pipeline
from tests.helpers import ADULT_CATEGORICAL, ADULT_NUMERIC


def make_data(rows: int = 300, classes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 4))
    score = X[:, 0] + X[:, 1] * X[:, 2]
    y = np.digitize(score, np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1]))
    return X, y


def fit_quietly(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


def fit_network(activation: str = "relu", classes: int = 3, hidden=(8, 6), seed: int = 0) -> tuple:
    X, y = make_data(classes=classes, seed=seed)
    network = MLPClassifier(
        hidden_layer_sizes=hidden, activation=activation, max_iter=300, random_state=seed
    )
    return fit_quietly(network, X, y), X, y


def test_a_manual_forward_pass_through_the_activations_reproduces_predict_proba() -> None:
    network, X, _ = fit_network("relu")
    first, second, output = compute_layer_outputs(network, X)
    expected_first = np.maximum(X @ network.coefs_[0] + network.intercepts_[0], 0)
    np.testing.assert_allclose(first, expected_first)
    np.testing.assert_allclose(
        second, np.maximum(first @ network.coefs_[1] + network.intercepts_[1], 0)
    )
    logits = second @ network.coefs_[2] + network.intercepts_[2]
    manual = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(manual, network.predict_proba(X), atol=1e-12)
    np.testing.assert_allclose(output, network.predict_proba(X), atol=1e-12)


@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
def test_every_activation_reproduces_the_binary_probability_and_regression(activation: str) -> None:
    network, X, _ = fit_network(activation, classes=2, hidden=(5,))
    np.testing.assert_allclose(
        compute_layer_outputs(network, X)[-1][:, 0], network.predict_proba(X)[:, 1]
    )
    regressor = fit_quietly(
        MLPRegressor(hidden_layer_sizes=(5,), activation=activation, max_iter=200, random_state=0),
        X,
        X[:, 0],
    )
    np.testing.assert_allclose(compute_layer_outputs(regressor, X)[-1][:, 0], regressor.predict(X))


def test_inputs_pass_through_the_preceding_pipeline_steps() -> None:
    X, y = make_data()
    model = fit_quietly(
        make_pipeline(
            StandardScaler(), MLPClassifier(hidden_layer_sizes=(6,), max_iter=200, random_state=0)
        ),
        X * 100,
        y,
    )
    inputs = transform_network_inputs(model, X * 100)
    np.testing.assert_allclose(inputs, model[0].transform(X * 100))
    np.testing.assert_allclose(
        compute_layer_outputs(model[-1], inputs)[-1], model.predict_proba(X * 100)
    )


def test_scaling_is_min_max_per_input_row_as_deepxplore_does_or_per_layer() -> None:
    activations = np.array([[0.0, 5.0, 10.0], [2.0, 2.0, 2.0], [1.0, 3.0, 2.0]])
    np.testing.assert_allclose(
        scale_activations(activations, "input"), [[0, 0.5, 1], [0, 0, 0], [0, 1, 0.5]]
    )
    np.testing.assert_allclose(scale_activations(activations, "layer"), activations / 10)


def test_coverage_never_decreases_as_the_test_set_grows() -> None:
    network, X, y = fit_network("relu", hidden=(16, 16))
    report = measure_neuron_coverage(network, X, y, threshold=0.6)
    assert report.curve_rows[0] == 1 and report.curve_rows[-1] == len(X)
    assert np.all(np.diff(report.curve_coverage) >= 0)
    assert report.curve_coverage[-1] == pytest.approx(report.coverage)
    assert report.curve_coverage[0] < report.coverage
    assert [layer.units for layer in report.layers] == [16, 16]
    assert report.covered_units == sum(layer.covered for layer in report.layers)


def test_threshold_zero_covers_every_live_unit_and_a_threshold_of_one_covers_none() -> None:
    network, X, y = fit_network("tanh")
    assert measure_neuron_coverage(network, X, y, threshold=0.0).coverage == 1.0
    assert measure_neuron_coverage(network, X, y, threshold=1.0).coverage == 0.0
    assert measure_neuron_coverage(network, X, y, threshold=5.0, scaling="layer").coverage == 0.0
    coverages = [
        measure_neuron_coverage(network, X, y, threshold=t).coverage for t in (0.0, 0.3, 0.6, 0.9)
    ]
    assert coverages == sorted(coverages, reverse=True)


def test_only_correctly_predicted_rows_count() -> None:
    network, X, y = fit_network("relu", hidden=(16, 16))
    predicted = network.predict(X)
    y_wrong_half = np.where(np.arange(len(y)) % 2 == 0, (predicted + 1) % 3, predicted)
    mixed = measure_neuron_coverage(network, X, y_wrong_half, threshold=0.75)
    right_only = measure_neuron_coverage(network, X[1::2], predicted[1::2], threshold=0.75)
    assert mixed.correct_rows == right_only.correct_rows == len(X) // 2
    assert mixed.covered_units == right_only.covered_units
    everything = measure_neuron_coverage(network, X, predicted, threshold=0.75)
    assert everything.covered_units >= mixed.covered_units
    none_right = measure_neuron_coverage(network, X, (predicted + 1) % 3, threshold=0.0)
    assert none_right.correct_rows == 0 and none_right.coverage == 0.0


def test_a_regressor_counts_rows_within_the_tolerance() -> None:
    X, _ = make_data()
    target = X[:, 0] + X[:, 1]
    regressor = fit_quietly(
        MLPRegressor(hidden_layer_sizes=(8,), max_iter=300, random_state=0), X, target
    )
    with pytest.raises(ValueError, match="tolerance"):
        measure_neuron_coverage(regressor, X, target)
    errors = np.abs(regressor.predict(X) - target)
    tolerance = float(np.median(errors))
    report = measure_neuron_coverage(regressor, X, target, threshold=0.2, tolerance=tolerance)
    assert report.correct_rows == int(np.sum(errors <= tolerance))
    assert measure_neuron_coverage(regressor, X, target, tolerance=0.0).correct_rows == 0
    with pytest.raises(ValueError, match="tolerance"):
        measure_neuron_coverage(regressor, X, target, tolerance=-1.0)


def test_models_other_than_perceptrons_and_bad_arguments_are_refused() -> None:
    X, y = make_data()
    with pytest.raises(TypeError, match="MLPClassifier"):
        measure_neuron_coverage(LogisticRegression().fit(X, y), X, y)
    with pytest.raises(ValueError, match="not fitted"):
        measure_neuron_coverage(MLPClassifier(), X, y)
    network, X, y = fit_network()
    with pytest.raises(ValueError, match="threshold"):
        measure_neuron_coverage(network, X, y, threshold=-0.1)
    with pytest.raises(ValueError, match="rows"):
        measure_neuron_coverage(network, X, y[:-1])


def test_adult_pipeline_report_serialises_renders_and_plots(
    adult_frame: pd.DataFrame, tmp_path
) -> None:
    rows = adult_frame.iloc[:1500]
    features = build_feature_pipeline(ADULT_NUMERIC, ADULT_CATEGORICAL)
    network = MLPClassifier(hidden_layer_sizes=(12, 8), max_iter=60, random_state=0)
    model = build_model_pipeline(features, network, ADULT_NUMERIC, ADULT_CATEGORICAL)
    model = fit_quietly(model, rows.iloc[:1000], rows["class"].iloc[:1000])
    test = rows.iloc[1000:]
    report = measure_neuron_coverage(model, test, test["class"], threshold=0.5)
    assert report.rows == 500 and 0.7 * 500 < report.correct_rows < 500
    assert 0 < report.coverage <= 1 and len(report.layers) == 2
    payload = json.loads(json.dumps(report.to_dict()))
    assert payload["coverage"] == pytest.approx(report.coverage) and len(payload["layers"]) == 2
    text = render_coverage_markdown(report)
    assert "Neuron coverage" in text and "| 1 | 12 |" in text and "| 500 |" in text
    figure = plot_coverage_curve(report)
    figure.savefig(tmp_path / "coverage.png")
    assert (tmp_path / "coverage.png").stat().st_size > 1000
