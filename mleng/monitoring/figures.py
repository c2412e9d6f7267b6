"""Pictures of a window: each drifted feature's distribution against the reference, and the
model's outputs, so a reader sees what moved before reading a p-value."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from mleng.monitoring.drift import DriftReport
from mleng.quality.plots import new_figure

MAX_FEATURES = 4


def plot_shift(reference: pd.Series, current: pd.Series, title: str) -> Figure:
    """Reference against window: shared-bin histograms for numbers, level shares for levels."""
    figure = new_figure(6, 3.5)
    axes = figure.add_subplot()
    before = pd.to_numeric(reference, errors="coerce")
    after = pd.to_numeric(current, errors="coerce")
    numeric = before.notna().mean() > 0.9 and after.notna().mean() > 0.9
    if numeric:
        finite = np.concatenate([before.dropna(), after.dropna()])
        finite = finite[np.isfinite(finite)]
        bins = np.histogram_bin_edges(finite, bins=30) if len(finite) else 10
        axes.hist(before.dropna(), bins=bins, density=True, alpha=0.5, label="reference")
        axes.hist(after.dropna(), bins=bins, density=True, alpha=0.5, label="window")
        axes.set_ylabel("density")
    else:
        shares = pd.DataFrame(
            {
                "reference": reference.astype(str).value_counts(normalize=True),
                "window": current.astype(str).value_counts(normalize=True),
            }
        ).fillna(0.0)
        top = shares.max(axis=1).sort_values(ascending=False).head(12).index
        positions = np.arange(len(top))
        axes.bar(positions - 0.2, shares.loc[top, "reference"], 0.4, label="reference")
        axes.bar(positions + 0.2, shares.loc[top, "window"], 0.4, label="window")
        axes.set_xticks(positions, [str(level)[:14] for level in top], rotation=45, ha="right")
        axes.set_ylabel("share of rows")
    axes.set_title(title)
    axes.legend()
    return figure


def render_window_figures(
    report: DriftReport | None, reference: pd.DataFrame, current: pd.DataFrame
) -> dict[str, Figure]:
    """One figure per drifted feature (the strongest first, at most four)."""
    if report is None:
        return {}
    drifted = sorted((t for t in report.tests if t.drifted), key=lambda t: t.p_value)
    columns = list(dict.fromkeys(test.column for test in drifted))[:MAX_FEATURES]
    return {
        f"shift_{column}": plot_shift(
            reference[column], current[column], f"{column}: reference vs window"
        )
        for column in columns
        if column in reference.columns and column in current.columns
    }
