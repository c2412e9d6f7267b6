"""Figures where a picture says more than a table; each returns a Figure and shows nothing.

The Agg backend is chosen per figure (no pyplot state), so these work on servers and in tasks.
"""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from mleng.quality.size import LearningCurve
from mleng.quality.usability import UsabilityReport


def new_figure(width: float, height: float) -> Figure:
    """A figure bound to the Agg canvas, independent of any global pyplot backend."""
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def plot_learning_curve(curve: LearningCurve) -> Figure:
    """Mean held-out score against training rows, a band of one standard deviation, and chance."""
    figure = new_figure(6, 4)
    axes = figure.add_subplot()
    if curve.train_sizes:
        sizes = np.array(curve.train_sizes)
        means, stds = np.array(curve.mean_scores), np.array(curve.std_scores)
        axes.plot(sizes, means, marker="o", label=f"cross-validated {curve.metric}")
        axes.fill_between(
            sizes, means - stds, means + stds, alpha=0.2, label="± 1 standard deviation"
        )
        axes.set_xscale("log")
    axes.axhline(curve.chance_score, linestyle="--", color="grey", label="chance")
    axes.set_xlabel("training rows")
    axes.set_ylabel(curve.metric)
    axes.set_title(f"Learning curve: {curve.verdict.replace('_', ' ')}")
    axes.legend(loc="lower right")
    return figure


def plot_missing_values(report: UsabilityReport, limit: int = 30) -> Figure:
    """Share of missing (and placeholder) values per column, worst first, up to `limit` columns."""
    shares = sorted(
        (
            (item.column, (item.missing + item.placeholders) / max(report.rows, 1))
            for item in report.columns
        ),
        key=lambda pair: -pair[1],
    )[:limit]
    figure = new_figure(6, max(2.0, 0.25 * len(shares) + 1))
    axes = figure.add_subplot()
    names = [name for name, _ in shares][::-1]
    values = [100 * share for _, share in shares][::-1]
    axes.barh(names, values, color="tab:orange")
    axes.set_xlabel("% of rows missing")
    axes.set_xlim(0, max(100 * max((s for _, s in shares), default=0) * 1.1, 1))
    axes.set_title("Missing values per column")
    return figure
