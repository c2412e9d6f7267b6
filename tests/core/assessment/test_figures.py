"""Evaluation figures draw what they claim, for any labels, task and search outcome."""

from __future__ import annotations

from io import BytesIO
from typing import Any

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from sklearn.metrics import confusion_matrix

from mleng.assessment.figures import (
    bootstrap_distribution,
    plot_bootstrap_distributions,
    plot_calibration_curve,
    plot_confusion_matrix,
    plot_precision_recall_curve,
    plot_residuals,
    plot_roc_curve,
    plot_search_landscape,
    render_figures,
)
from mleng.evaluation import Predictions, Resampling, Truth, bootstrap_metrics
from mleng.search.engine import Trial, TrialResult


def make_classification_rows(
    n_classes: int, n: int = 300, seed: int = 0
) -> tuple[np.ndarray, Predictions]:
    """String-labelled rows and a model that is right about two thirds of the time."""
    rng = np.random.default_rng(seed)
    classes = np.array([f"class {chr(97 + k)}" for k in range(n_classes)])
    truth = rng.integers(0, n_classes, n)
    logits = rng.normal(size=(n, n_classes))
    logits[np.arange(n), truth] += 1.5
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return classes[truth], Predictions(classes[proba.argmax(axis=1)], proba, classes)


def make_results() -> list[TrialResult]:
    """Coarse and fine trials of two families, one failed, one categorical parameter."""
    rows: list[tuple[str, dict[str, Any], str, float]] = [
        ("forest", {"depth": 3, "criterion": "gini"}, "coarse", 0.70),
        ("forest", {"depth": 12, "criterion": "entropy"}, "coarse", 0.78),
        ("forest", {"depth": 10, "criterion": "entropy"}, "fine", 0.80),
        ("forest", {"depth": 11, "criterion": "gini"}, "fine", float("nan")),
        ("logistic", {"C": 0.001}, "coarse", 0.60),
        ("logistic", {"C": 10.0}, "coarse", 0.75),
        ("logistic", {"C": 3.0}, "fine", 0.76),
    ]
    return [
        TrialResult(Trial(family, params, stage, int(stage == "fine"), i), score, 0.01, 0.1)  # type: ignore[arg-type]
        for i, (family, params, stage, score) in enumerate(rows)
    ]


def scatter_by_label(figure: Figure) -> dict[str, list[PathCollection]]:
    found: dict[str, list[PathCollection]] = {}
    for axes in figure.axes:
        for collection in axes.collections:
            found.setdefault(str(collection.get_label()), []).append(collection)
    return found


def test_binary_roc_curve_draws_the_positive_class_and_the_diagonal() -> None:
    y_true, predictions = make_classification_rows(2)

    figure = plot_roc_curve(y_true, predictions, positive_label="class a")

    axes = figure.axes[0]
    assert isinstance(figure.canvas, FigureCanvasAgg)
    assert (axes.get_xlabel(), axes.get_ylabel()) == ("false positive rate", "true positive rate")
    labels = [line.get_label() for line in axes.get_lines()]
    assert (
        len(labels) == 2 and labels[0].startswith("class a (AUC") and labels[1] == "random ranking"
    )


def test_multiclass_curves_are_one_vs_rest_per_class() -> None:
    y_true, predictions = make_classification_rows(4)

    roc = plot_roc_curve(y_true, predictions)
    precision_recall = plot_precision_recall_curve(y_true, predictions)
    calibration = plot_calibration_curve(y_true, predictions)

    assert len(roc.axes[0].get_lines()) == 4 + 1
    assert (
        len(precision_recall.axes[0].get_lines()) == 4 * 2
    )  # a curve and its random baseline each
    assert len(calibration.axes) == 2
    assert len(calibration.axes[0].get_lines()) == 4 + 1


def test_precision_recall_baseline_sits_at_the_positive_share() -> None:
    y_true, predictions = make_classification_rows(2)

    figure = plot_precision_recall_curve(y_true, predictions, positive_label="class b")

    axes = figure.axes[0]
    _, baseline = axes.get_lines()
    assert (axes.get_xlabel(), axes.get_ylabel()) == ("recall", "precision")
    assert baseline.get_ydata()[0] == pytest.approx(np.mean(y_true == "class b"))


def test_curves_refuse_predictions_without_probabilities() -> None:
    y_true, predictions = make_classification_rows(2)
    with pytest.raises(ValueError, match="need predicted probabilities"):
        plot_roc_curve(y_true, Predictions(predictions.y_pred))


def test_confusion_matrix_writes_the_counts_under_class_names() -> None:
    y_true, predictions = make_classification_rows(3)
    labels = ["class a", "class b", "class c"]

    figure = plot_confusion_matrix(y_true, predictions.y_pred, labels)

    axes = figure.axes[0]
    expected = confusion_matrix(y_true, predictions.y_pred, labels=labels)
    assert [int(text.get_text()) for text in axes.texts] == expected.ravel().tolist()
    assert [tick.get_text() for tick in axes.get_xticklabels()] == labels
    assert (axes.get_xlabel(), axes.get_ylabel()) == ("predicted label", "true label")


def test_bootstrap_distribution_is_the_one_behind_the_intervals() -> None:
    y_true, predictions = make_classification_rows(2)

    values = bootstrap_distribution(
        Truth("binary", y_true, "class b"), predictions, Resampling(300, seed=4)
    )

    intervals = bootstrap_metrics(
        Truth("binary", y_true, "class b"), predictions, Resampling(300, seed=4)
    )
    accuracy = values["accuracy"]
    assert accuracy.shape == (300,)
    assert np.percentile(accuracy, [2.5, 97.5]) == pytest.approx(
        [intervals["accuracy"].low, intervals["accuracy"].high]
    )
    figure = plot_bootstrap_distributions(values, intervals)
    visible = [axes for axes in figure.axes if axes.get_visible()]
    assert [axes.get_title() for axes in visible] == list(values)
    assert len(visible[0].get_lines()) == 3  # estimate and both bounds


def test_residual_figure_plots_every_row_and_its_histogram() -> None:
    rng = np.random.default_rng(0)
    y_true = rng.normal(size=400)
    y_pred = y_true + rng.normal(scale=0.3, size=400)

    figure = plot_residuals(y_true, y_pred)

    scatter_axes, histogram_axes = figure.axes
    assert len(scatter_axes.collections[0].get_offsets()) == 400
    assert sum(patch.get_height() for patch in histogram_axes.patches) == 400
    assert scatter_axes.get_ylabel() == "residual (true - predicted)"


def test_landscape_marks_coarse_and_fine_trials_apart() -> None:
    figure = plot_search_landscape(make_results(), metric="accuracy")

    found = scatter_by_label(figure)
    coarse, fine = found["coarse"][0], found["fine"][0]
    assert not np.array_equal(coarse.get_paths()[0].vertices, fine.get_paths()[0].vertices)
    assert not np.array_equal(coarse.get_facecolor(), fine.get_facecolor())
    visible = [axes for axes in figure.axes if axes.get_visible()]
    assert [axes.get_xlabel() for axes in visible] == ["depth", "criterion", "C"]
    assert visible[2].get_xscale() == "log"
    assert [tick.get_text() for tick in visible[1].get_xticklabels()] == ["entropy", "gini"]


def test_landscape_shows_failed_trials_at_the_lowest_score() -> None:
    figure = plot_search_landscape(make_results())

    failed = scatter_by_label(figure)["failed"]
    assert len(failed) == 2  # the failed forest trial, in both of its parameter panels
    assert failed[0].get_offsets()[0].tolist() == [11.0, 0.60]


def test_landscape_handles_a_family_without_parameters_and_only_failures() -> None:
    results = [
        TrialResult(Trial("dummy", {}, "random", 0, i), float("nan"), float("nan"), 0.0)
        for i in range(3)
    ]

    figure = plot_search_landscape(results)

    assert figure.axes[0].get_xlabel() == "trial"
    assert len(scatter_by_label(figure)["failed"][0].get_offsets()) == 3


@pytest.mark.parametrize(
    ("task", "n_classes", "expected"),
    [
        (
            "binary",
            2,
            {"roc_curve", "precision_recall_curve", "calibration_curve", "confusion_matrix"},
        ),
        (
            "multiclass",
            3,
            {"roc_curve", "precision_recall_curve", "calibration_curve", "confusion_matrix"},
        ),
    ],
)
def test_render_figures_picks_classification_figures(
    task: str, n_classes: int, expected: set[str]
) -> None:
    y_true, predictions = make_classification_rows(n_classes)

    figures = render_figures(Truth(task, y_true), predictions, make_results(), Resampling(100))

    assert set(figures) == expected | {"bootstrap_distributions", "search_landscape"}
    for figure in figures.values():
        figure.savefig(BytesIO(), format="png")  # layout and drawing succeed, not just setup


def test_render_figures_picks_regression_figures_and_skips_missing_inputs() -> None:
    y_true = np.linspace(0, 10, 200)

    figures = render_figures(
        Truth("regression", y_true), Predictions(y_true + 0.5), None, Resampling(100)
    )

    assert set(figures) == {"residuals", "bootstrap_distributions"}
    labels, predictions = make_classification_rows(2)
    without_proba = render_figures(
        Truth("binary", labels), Predictions(predictions.y_pred), [], Resampling(50)
    )
    assert set(without_proba) == {"confusion_matrix", "bootstrap_distributions"}
