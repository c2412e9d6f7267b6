"""Evaluation figures: ROC, precision-recall, calibration, confusion, bootstrap spread, residuals
and the search landscape. Each function returns a Figure bound to the Agg canvas and shows
nothing, so flows can log them as artifacts on a server without a display.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from sklearn.calibration import calibration_curve
from sklearn.metrics import auc, confusion_matrix, precision_recall_curve, roc_curve

from mleng.evaluation import (
    MetricInterval,
    Predictions,
    Resampling,
    Truth,
    bootstrap_distribution,
    compute_metrics,
)
from mleng.evaluation.intervals import percentile_interval
from mleng.quality.plots import new_figure
from mleng.search.engine import TrialResult

MAX_CURVES = 10  # one-vs-rest curves beyond this many classes hide each other
MAX_ANNOTATED_CLASSES = 30
MAX_SCATTER_POINTS = 5000
STAGE_STYLES = {  # marker, colour: coarse and fine trials must read apart at a glance
    "coarse": ("o", "tab:blue"),
    "fine": ("^", "tab:orange"),
    "random": ("s", "tab:green"),
    "grid": ("D", "tab:purple"),
}


def resolve_classes(y_true: Any, predictions: Predictions) -> np.ndarray:
    """The class labels in the probability columns' order (sorted labels seen, if not given)."""
    if predictions.classes is not None:
        return np.asarray(predictions.classes)
    seen = np.concatenate([np.asarray(y_true).reshape(-1), np.asarray(predictions.y_pred)])
    return pd.Index(seen).unique().sort_values().to_numpy()


def one_vs_rest_scores(
    y_true: Any, predictions: Predictions, positive_label: Any = None
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(class name, is-that-class, its probability) per curve: the positive class for binary
    (the second, as scikit-learn assumes, without `positive_label`), else the largest classes.

    Classes absent from y_true, or making up all of it, are skipped: their curves are undefined.
    """
    if predictions.proba is None:
        raise ValueError(
            "ROC, precision-recall and calibration curves need predicted probabilities"
        )
    truth = np.asarray(y_true).reshape(-1)
    classes = resolve_classes(truth, predictions)
    proba = np.asarray(predictions.proba, dtype=float)
    if len(classes) == 2:
        index = 1 if positive_label is None else classes.tolist().index(positive_label)
        chosen = [index]
    else:
        support = [int(np.sum(truth == label)) for label in classes]
        chosen = sorted(np.argsort(support)[::-1][:MAX_CURVES].tolist())
    curves = []
    for index in chosen:
        hits = truth == classes[index]
        if 0 < hits.sum() < len(hits):
            curves.append((str(classes[index]), hits, proba[:, index]))
    return curves


def plot_roc_curve(y_true: Any, predictions: Predictions, positive_label: Any = None) -> Figure:
    """True against false positive rate per class, with the diagonal a random ranking follows."""
    figure = new_figure(5.5, 5)
    axes = figure.add_subplot()
    for name, hits, scores in one_vs_rest_scores(y_true, predictions, positive_label):
        false_positive_rate, true_positive_rate, _ = roc_curve(hits, scores)
        area = auc(false_positive_rate, true_positive_rate)
        axes.plot(false_positive_rate, true_positive_rate, label=f"{name} (AUC {area:.3f})")
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="random ranking")
    axes.set_xlabel("false positive rate")
    axes.set_ylabel("true positive rate")
    axes.set_title("ROC curve")
    axes.legend(loc="lower right", fontsize="small")
    return figure


def plot_precision_recall_curve(
    y_true: Any, predictions: Predictions, positive_label: Any = None
) -> Figure:
    """Precision against recall per class; the dotted level is each class's share of the rows,
    which is what a random ranking scores (unlike ROC, this baseline moves with imbalance)."""
    figure = new_figure(5.5, 5)
    axes = figure.add_subplot()
    for name, hits, scores in one_vs_rest_scores(y_true, predictions, positive_label):
        precision, recall, _ = precision_recall_curve(hits, scores)
        line = axes.plot(recall, precision, drawstyle="steps-post", label=name)[0]
        axes.axhline(hits.mean(), linestyle=":", color=line.get_color())
    axes.set_xlabel("recall")
    axes.set_ylabel("precision")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.02)
    axes.set_title("Precision-recall curve (dotted: random ranking)")
    axes.legend(loc="upper right", fontsize="small")
    return figure


def plot_calibration_curve(
    y_true: Any, predictions: Predictions, positive_label: Any = None, n_bins: int = 10
) -> Figure:
    """Observed frequency against mean predicted probability per bin, and how many rows each
    probability range holds: a well-calibrated model follows the diagonal where rows are."""
    figure = new_figure(5.5, 6.5)
    curve_axes, count_axes = figure.subplots(2, 1, height_ratios=[3, 1], sharex=True)
    curve_axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    for name, hits, scores in one_vs_rest_scores(y_true, predictions, positive_label):
        observed, predicted = calibration_curve(hits, scores, n_bins=n_bins)
        line = curve_axes.plot(predicted, observed, marker="o", label=name)[0]
        count_axes.hist(scores, bins=n_bins, range=(0, 1), histtype="step", color=line.get_color())
    curve_axes.set_ylabel("observed frequency")
    curve_axes.set_title("Calibration curve")
    curve_axes.legend(loc="upper left", fontsize="small")
    count_axes.set_xlabel("predicted probability")
    count_axes.set_ylabel("rows")
    return figure


def plot_confusion_matrix(y_true: Any, y_pred: Any, labels: Sequence[Any] | None = None) -> Figure:
    """Counts per true and predicted class, shaded by the share of each true class (its recall
    along the diagonal), so a rare class's errors show even when its counts are small."""
    truth, predicted = np.asarray(y_true).reshape(-1), np.asarray(y_pred).reshape(-1)
    if labels is None:
        labels = pd.Index(np.concatenate([truth, predicted])).unique().sort_values().tolist()
    counts = confusion_matrix(truth, predicted, labels=list(labels))
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = min(3 + 0.5 * len(labels), 14)
    figure = new_figure(size + 1, size)
    axes = figure.add_subplot()
    image = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(image, ax=axes, label="share of the true class")
    names = [str(label) for label in labels]
    axes.set_xticks(range(len(names)), names, rotation=45, ha="right")
    axes.set_yticks(range(len(names)), names)
    if len(names) <= MAX_ANNOTATED_CLASSES:
        for (row, column), count in np.ndenumerate(counts):
            colour = "white" if shares[row, column] > 0.5 else "black"
            axes.text(column, row, str(count), ha="center", va="center", color=colour)
    axes.set_xlabel("predicted label")
    axes.set_ylabel("true label")
    axes.set_title("Confusion matrix")
    return figure


def histogram_range(values: np.ndarray) -> tuple[float, float] | None:
    """A range that numpy can cut into bins: values equal up to rounding (perfect predictions,
    a metric constant over resamples) get a small window around them instead of an error."""
    low, high = float(np.min(values)), float(np.max(values))
    if high - low > 1e-9 * max(1.0, abs(low), abs(high)):
        return None
    pad = 1e-3 * max(1.0, abs(low))
    return low - pad, high + pad


def plot_bootstrap_distributions(
    distributions: dict[str, np.ndarray], intervals: dict[str, MetricInterval] | None = None
) -> Figure:
    """A histogram of each metric over the resamples, with the test estimate (solid line) and
    interval bounds (dashed), so the spread behind an interval is visible, skew included."""
    names = list(distributions)
    figure = new_figure(4 * min(len(names), 3), 3 * -(-len(names) // 3))
    grid = figure.subplots(-(-len(names) // 3), min(len(names), 3), squeeze=False)
    for axes, name in zip(grid.ravel(), names, strict=False):
        values = distributions[name][~np.isnan(distributions[name])]
        axes.set_title(name)
        axes.set_xlabel(name)
        axes.set_ylabel("resamples")
        if values.size == 0:
            axes.text(
                0.5, 0.5, "undefined on every resample", ha="center", transform=axes.transAxes
            )
            continue
        axes.hist(values, bins=30, range=histogram_range(values), color="tab:blue", alpha=0.7)
        if intervals is not None and name in intervals:
            interval = intervals[name]
            axes.axvline(interval.estimate, color="black", label="test estimate")
            axes.axvline(interval.low, color="black", linestyle="--", label="interval")
            axes.axvline(interval.high, color="black", linestyle="--")
    for axes in grid.ravel()[len(names) :]:
        axes.set_visible(False)
    return figure


def plot_residuals(y_true: Any, y_pred: Any, seed: int = 0) -> Figure:
    """Residual (true minus predicted) against prediction, where a trend or funnel shows bias or
    uneven noise, and the residuals' histogram. Scatter points are capped for speed."""
    truth = np.asarray(y_true, dtype=float).reshape(-1)
    predicted = np.asarray(y_pred, dtype=float).reshape(-1)
    residuals = truth - predicted
    shown = np.arange(len(truth))
    if len(shown) > MAX_SCATTER_POINTS:
        shown = np.random.default_rng(seed).choice(shown, MAX_SCATTER_POINTS, replace=False)
    figure = new_figure(10, 4)
    scatter_axes, histogram_axes = figure.subplots(1, 2)
    scatter_axes.scatter(predicted[shown], residuals[shown], s=6, alpha=0.4)
    scatter_axes.axhline(0, color="grey", linestyle="--")
    scatter_axes.set_xlabel("prediction")
    scatter_axes.set_ylabel("residual (true - predicted)")
    scatter_axes.set_title("Residuals against predictions")
    span = histogram_range(residuals)
    histogram_axes.hist(residuals, bins=40, range=span, color="tab:blue", alpha=0.7)
    histogram_axes.axvline(0, color="grey", linestyle="--")
    histogram_axes.set_xlabel("residual (true - predicted)")
    histogram_axes.set_ylabel("rows")
    histogram_axes.set_title("Residual distribution")
    return figure


def place_values(values: list[Any]) -> tuple[np.ndarray, list[str] | None, bool]:
    """x positions for parameter values, tick labels if categorical, and whether to use log x."""
    numeric = all(
        isinstance(v, int | float | np.number) and not isinstance(v, bool | np.bool_)
        for v in values
    )
    if numeric:
        positions = np.asarray(values, dtype=float)
        finite = positions[np.isfinite(positions)]
        use_log = finite.size > 0 and finite.min() > 0 and finite.max() / finite.min() >= 100
        return positions, None, bool(use_log)
    names = sorted({str(v) for v in values})
    return np.array([names.index(str(v)) for v in values], dtype=float), names, False


def draw_landscape_panel(
    axes: Axes, results: list[TrialResult], parameter: str | None, floor: float
) -> None:
    """Score against one parameter (or trial order): a marker per stage, failed trials as grey x."""
    trials = [r for r in results if parameter is None or parameter in r.trial.params]
    if parameter is None:
        positions, names, use_log = (
            np.array([r.trial.index for r in trials], dtype=float),
            None,
            False,
        )
    else:
        positions, names, use_log = place_values([r.trial.params[parameter] for r in trials])
    scores = np.array([r.score for r in trials], dtype=float)
    stages = np.array([r.trial.stage for r in trials])
    failed = np.isnan(scores)
    for stage in dict.fromkeys(stages.tolist()):
        chosen = (stages == stage) & ~failed
        marker, colour = STAGE_STYLES.get(stage, ("o", "tab:gray"))
        axes.scatter(
            positions[chosen], scores[chosen], marker=marker, color=colour, label=stage, alpha=0.8
        )
    if failed.any():
        axes.scatter(
            positions[failed],
            np.full(failed.sum(), floor),
            marker="x",
            color="grey",
            label="failed",
        )
    if names is not None:
        axes.set_xticks(range(len(names)), names, rotation=30, ha="right")
    if use_log:
        axes.set_xscale("log")
    axes.set_xlabel(parameter or "trial")


def plot_search_landscape(results: list[TrialResult], metric: str | None = None) -> Figure:
    """Cross-validated score against each hyperparameter, one row of panels per family, coarse
    and fine trials marked apart, so a reader sees where the search looked and whether the fine
    rounds closed in on a better region. Failed trials (NaN) sit at the bottom as grey crosses."""
    families: dict[str, list[TrialResult]] = {}
    for result in results:
        families.setdefault(result.trial.family, []).append(result)
    parameters = {
        family: list(dict.fromkeys(k for r in trials for k in r.trial.params)) or [None]
        for family, trials in families.items()
    }
    finite = np.array([r.score for r in results], dtype=float)
    finite = finite[np.isfinite(finite)]
    floor = float(finite.min()) if finite.size else 0.0
    n_columns = max((len(p) for p in parameters.values()), default=1)
    figure = new_figure(3.6 * n_columns, 3.2 * max(len(families), 1))
    grid = figure.subplots(max(len(families), 1), n_columns, squeeze=False)
    label = f"CV {metric or 'score'} (higher is better)"
    for row, (family, trials) in enumerate(families.items()):
        for column, axes in enumerate(grid[row]):
            if column >= len(parameters[family]):
                axes.set_visible(False)
                continue
            draw_landscape_panel(axes, trials, parameters[family][column], floor)
            axes.set_title(family if column == 0 else "")
            axes.set_ylabel(label if column == 0 else "")
        grid[row][0].legend(fontsize="small")
    if not families:
        grid[0][0].text(0.5, 0.5, "no trials", ha="center", transform=grid[0][0].transAxes)
    figure.suptitle("Search landscape")
    return figure


def render_figures(
    truth: Truth,
    predictions: Predictions,
    results: list[TrialResult] | None = None,
    resampling: Resampling | None = None,
    metric: str | None = None,
    intervals: dict[str, MetricInterval] | None = None,
) -> dict[str, Figure]:
    """The figures that fit the task, by artifact name: curves need probabilities, residuals need
    a regression, the landscape needs search results.

    Pass the evaluation's `intervals` to mark them on the bootstrap histograms (with the same
    `resampling` they describe the same resamples); without them the percentile intervals of the
    drawn resamples, at `resampling.confidence`, are marked.
    """
    resampling = resampling or Resampling()
    y_true, positive_label = truth.y_true, truth.positive_label
    figures: dict[str, Figure] = {}
    if truth.task == "regression":
        figures["residuals"] = plot_residuals(y_true, predictions.y_pred, resampling.seed)
    else:
        if predictions.proba is not None:
            figures["roc_curve"] = plot_roc_curve(y_true, predictions, positive_label)
            figures["precision_recall_curve"] = plot_precision_recall_curve(
                y_true, predictions, positive_label
            )
            figures["calibration_curve"] = plot_calibration_curve(
                y_true, predictions, positive_label
            )
        labels = resolve_classes(y_true, predictions).tolist()
        figures["confusion_matrix"] = plot_confusion_matrix(y_true, predictions.y_pred, labels)
    distributions = bootstrap_distribution(truth, predictions, resampling)
    if intervals is None:
        estimates = compute_metrics(truth, predictions)
        intervals = {
            name: MetricInterval(
                estimates[name], *percentile_interval(values, resampling.confidence), "percentile"
            )
            for name, values in distributions.items()
        }
    figures["bootstrap_distributions"] = plot_bootstrap_distributions(distributions, intervals)
    if results:
        figures["search_landscape"] = plot_search_landscape(results, metric)
    return figures
