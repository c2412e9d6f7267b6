"""Bias: is the training data a fair picture of the population, and of each group within it?

Selection bias compares each column with a reference sample of the population served (KS and
Wasserstein for numbers; total variation, PSI and chi-square for categories). Labeling bias
compares label rates, and a fitted model's metrics with bootstrap intervals, across the groups
of each sensitive column. Large samples make every p-value tiny, so a column is flagged only
when the difference is also large by an effect-size threshold.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency, ks_2samp, wasserstein_distance

from mleng.card.data_checks import DataChecksSettings
from mleng.quality.columns import find_positive_label, is_numeric_column, to_float_array
from mleng.quality.findings import Finding
from mleng.quality.group_metrics import ModelOutcomes, bootstrap_metric
from mleng.reports.formatting import to_jsonable

PSI_FLOOR = 1e-4  # share given to a level absent on one side, so PSI stays finite
NUMERIC_GROUP_BINS = 4
MISSING_LEVEL = "<missing>"


@dataclass(frozen=True)
class ColumnComparison:
    """How one column's distribution in training differs from the reference sample."""

    column: str
    kind: str
    p_value: float
    ks_statistic: float | None = None
    wasserstein_scaled: float | None = None
    total_variation: float | None = None
    psi: float | None = None
    unseen_in_reference: float = 0.0
    missing_in_training: float = 0.0
    unseen_examples: list[str] = field(default_factory=list)
    differs: bool = False


@dataclass(frozen=True)
class GroupStatistic:
    """A label rate or model metric for one group of a sensitive column, with its interval."""

    column: str
    group: str
    rows: int
    name: str
    value: float
    lower: float | None = None
    upper: float | None = None


@dataclass(frozen=True)
class BiasReport:
    """Comparisons with the reference, group statistics, and the findings drawn from them."""

    comparisons: list[ColumnComparison] = field(default_factory=list)
    group_statistics: list[GroupStatistic] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return to_jsonable(asdict(self) | {"findings": [f.to_dict() for f in self.findings]})


def read_reference_sample(path: Path) -> pd.DataFrame:
    """The reference sample named in the card, as CSV or Parquet by its suffix."""
    if not Path(path).is_file():
        raise FileNotFoundError(
            f"reference sample {path} does not exist; fix data_checks.reference_path"
        )
    return pd.read_parquet(path) if Path(path).suffix == ".parquet" else pd.read_csv(path)


def compare_numeric(
    column: str, train: pd.Series, reference: pd.Series, settings: DataChecksSettings
) -> ColumnComparison:
    """KS statistic and Wasserstein distance in units of the reference's spread."""
    a, b = to_float_array(train), to_float_array(reference)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if len(a) < 2 or len(b) < 2:
        return ColumnComparison(column, "numeric", float("nan"))
    test = ks_2samp(a, b)
    quartiles = np.percentile(b, [25, 75])
    spread = float(quartiles[1] - quartiles[0]) or float(b.std()) or 1.0
    distance = float(wasserstein_distance(a, b)) / spread
    differs = test.statistic >= settings.bias.ks_statistic and test.pvalue < settings.bias.p_value
    return ColumnComparison(
        column,
        "numeric",
        float(test.pvalue),
        float(test.statistic),
        distance,
        differs=bool(differs),
    )


def compare_categorical(
    column: str, train: pd.Series, reference: pd.Series, settings: DataChecksSettings
) -> ColumnComparison:
    """Total variation, PSI and a chi-square test over the levels of both, plus unseen levels."""
    a = train.astype("string").fillna(MISSING_LEVEL).value_counts()
    b = reference.astype("string").fillna(MISSING_LEVEL).value_counts()
    levels = a.index.union(b.index)
    counts_a, counts_b = (
        a.reindex(levels, fill_value=0).to_numpy(),
        b.reindex(levels, fill_value=0).to_numpy(),
    )
    if counts_a.sum() == 0 or counts_b.sum() == 0:
        return ColumnComparison(column, "categorical", float("nan"))
    p, q = counts_a / counts_a.sum(), counts_b / counts_b.sum()
    tvd = float(0.5 * np.abs(p - q).sum())
    pf, qf = np.maximum(p, PSI_FLOOR), np.maximum(q, PSI_FLOOR)
    psi = float(((pf - qf) * np.log(pf / qf)).sum())
    p_value = (
        float(chi2_contingency(np.vstack([counts_a, counts_b]))[1]) if len(levels) > 1 else 1.0
    )
    unseen = counts_b == 0
    options = settings.bias
    differs = (tvd >= options.total_variation or psi >= options.psi) and p_value < options.p_value
    examples = [str(level) for level in levels[unseen][:3]]
    return ColumnComparison(
        column,
        "categorical",
        p_value,
        None,
        None,
        tvd,
        psi,
        float(p[unseen].sum()),
        float(q[counts_a == 0].sum()),
        examples,
        bool(differs),
    )


def compare_with_reference(
    frame: pd.DataFrame, reference: pd.DataFrame, columns: list[str], settings: DataChecksSettings
) -> BiasReport:
    """Compare each column with the reference sample and flag those that differ or have new
    levels."""
    comparisons = []
    for column in columns:
        if column not in reference.columns or column not in frame.columns:
            continue
        if is_numeric_column(frame[column]) and is_numeric_column(reference[column]):
            comparisons.append(compare_numeric(column, frame[column], reference[column], settings))
        else:
            comparisons.append(
                compare_categorical(column, frame[column], reference[column], settings)
            )
    findings = []
    for item in comparisons:
        if item.differs:
            numbers = (
                f"KS {item.ks_statistic:.3f}, Wasserstein {item.wasserstein_scaled:.3f} IQRs"
                if item.kind == "numeric"
                else f"total variation {item.total_variation:.3f}, PSI {item.psi:.3f}"
            )
            findings.append(
                Finding(
                    "selection_bias",
                    (item.column,),
                    {
                        "kind": item.kind,
                        "p_value": item.p_value,
                        "ks": item.ks_statistic,
                        "wasserstein_iqr": item.wasserstein_scaled,
                        "total_variation": item.total_variation,
                        "psi": item.psi,
                    },
                    settings.policy_for("selection_bias"),
                    f"Column '{item.column}' is distributed differently in training than in the "
                    f"reference sample ({numbers}, p = {item.p_value:.2g}); the training rows were "
                    "selected "
                    "differently from the population served: resample or reweight them.",
                )
            )
        threshold = settings.bias.unseen_category_fraction
        if item.unseen_in_reference > threshold or item.missing_in_training > threshold:
            findings.append(
                Finding(
                    "unseen_categories",
                    (item.column,),
                    {
                        "unseen_in_reference": item.unseen_in_reference,
                        "missing_in_training": item.missing_in_training,
                        "examples": item.unseen_examples,
                    },
                    settings.policy_for("unseen_categories"),
                    f"Column '{item.column}': {100 * item.unseen_in_reference:.2f}% of training "
                    "rows have levels never seen in the reference (e.g. "
                    f"{item.unseen_examples}) and {100 * item.missing_in_training:.2f}% of "
                    "reference rows have levels never seen in training; fix the spelling or "
                    "coding of levels, or collect the missing ones.",
                )
            )
    return BiasReport(comparisons, [], findings)


def group_sensitive_values(series: pd.Series) -> pd.Series:
    """Groups of a sensitive column: its values, or quartile bins when it holds many numbers."""
    if is_numeric_column(series) and series.nunique() > 2 * NUMERIC_GROUP_BINS:
        return (
            pd.qcut(to_float_array(series), NUMERIC_GROUP_BINS, duplicates="drop")
            .astype("string")
            .fillna(MISSING_LEVEL)
        )
    return series.astype("string").fillna(MISSING_LEVEL)


def measure_label_rates(
    frame: pd.DataFrame,
    target: str,
    task: str,
    positive_label: object | None,
    settings: DataChecksSettings,
) -> BiasReport:
    """Per group of each sensitive column: share of the positive label (or each class, or the
    mean)."""
    statistics: list[GroupStatistic] = []
    findings: list[Finding] = []
    labelled = frame[frame[target].notna()]
    if task == "regression":
        outcomes = {
            "mean of target": pd.Series(to_float_array(labelled[target]), index=labelled.index)
        }
    elif task == "binary":
        positive = find_positive_label(labelled[target], positive_label)
        outcomes = {f"share {positive}": (labelled[target] == positive).astype(float)}
    else:
        outcomes = {
            f"share {label}": (labelled[target] == label).astype(float)
            for label in labelled[target].unique()
        }
    scale = float(outcomes["mean of target"].std()) if task == "regression" else 1.0
    limit = (
        settings.bias.max_mean_gap_sd if task == "regression" else settings.bias.max_label_rate_gap
    )
    for column in [c for c in settings.sensitive_columns if c in labelled.columns and c != target]:
        groups = group_sensitive_values(labelled[column])
        for name, outcome in outcomes.items():
            table = outcome.groupby(groups).agg(["mean", "size"])
            statistics += [
                GroupStatistic(column, str(g), int(row["size"]), name, float(row["mean"]))
                for g, row in table.iterrows()
            ]
            big = table[table["size"] >= settings.bias.min_group_size]
            if len(big) < 2:
                continue
            high, low = big["mean"].idxmax(), big["mean"].idxmin()
            gap = float(big["mean"].max() - big["mean"].min()) / (scale or 1.0)
            ratio = float(big["mean"].min() / big["mean"].max()) if big["mean"].max() > 0 else 1.0
            unfair_ratio = (
                task != "regression" and ratio < settings.bias.min_rate_ratio and gap >= limit / 2
            )
            if gap >= limit or unfair_ratio:
                findings.append(
                    Finding(
                        "label_bias",
                        (column,),
                        {
                            "outcome": name,
                            "highest_group": str(high),
                            "lowest_group": str(low),
                            "gap": round(gap, 4),
                            "ratio": round(ratio, 4),
                        },
                        settings.policy_for("label_bias"),
                        f"Labels differ across '{column}': {name} is {big['mean'].max():.3f} for "
                        f"'{high}' but {big['mean'].min():.3f} for '{low}' (ratio {ratio:.2f}); "
                        "check whether the labels encode a past bias before a model learns it, and "
                        "evaluate per group.",
                    )
                )
    return BiasReport([], statistics, findings)


def measure_group_performance(
    frame: pd.DataFrame,
    outcomes: ModelOutcomes,
    settings: DataChecksSettings,
    metrics: list[str],
    seed: int = 0,
) -> BiasReport:
    """Each metric per group of each sensitive column, with bootstrap intervals; flag clear gaps.

    A gap is flagged when best minus worst group exceeds `max_metric_gap` and the two intervals
    do not overlap, so a small group's noisy estimate alone never raises the alarm.
    """
    rng = np.random.default_rng(seed)
    positive = find_positive_label(pd.Series(np.asarray(outcomes.y_true)), outcomes.positive_label)
    outcomes = replace(outcomes, positive_label=positive)
    statistics: list[GroupStatistic] = []
    findings: list[Finding] = []
    options = settings.bias
    for column in [c for c in settings.sensitive_columns if c in frame.columns]:
        groups = group_sensitive_values(frame[column]).to_numpy()
        levels = pd.unique(groups)
        # Bonferroni: the best and worst of k groups are picked after looking, so widen each
        # interval.
        confidence = 1 - (1 - options.confidence) / max(len(levels), 1)
        per_metric: dict[str, list[tuple[GroupStatistic, int]]] = {metric: [] for metric in metrics}
        for group in levels:
            where = groups == group
            draws = rng.integers(
                0, int(where.sum()), size=(options.bootstrap_rounds, int(where.sum()))
            )
            group_outcomes = outcomes.select(where)
            for metric in metrics:
                value, lower, upper, counted = bootstrap_metric(
                    metric, group_outcomes, draws, confidence
                )
                per_metric[metric].append(
                    (
                        GroupStatistic(
                            column, str(group), int(where.sum()), metric, value, lower, upper
                        ),
                        counted,
                    )
                )
        for metric, rows_counted in per_metric.items():
            rows = [row for row, _ in rows_counted]
            statistics += rows
            usable = [
                row
                for row, counted in rows_counted
                if counted >= options.min_group_size and np.isfinite(row.value)
            ]
            if len(usable) < 2:
                continue
            best, worst = max(usable, key=lambda r: r.value), min(usable, key=lambda r: r.value)
            if best.value - worst.value > options.max_metric_gap and (worst.upper or 0) < (
                best.lower or 0
            ):
                findings.append(
                    Finding(
                        "performance_gap",
                        (column,),
                        {
                            "metric": metric,
                            "best_group": best.group,
                            "best": best.value,
                            "best_interval": [best.lower, best.upper],
                            "worst_group": worst.group,
                            "worst": worst.value,
                            "worst_interval": [worst.lower, worst.upper],
                        },
                        settings.policy_for("performance_gap"),
                        f"The model's {metric} differs across '{column}': {best.value:.3f} "
                        f"[{best.lower:.3f}, {best.upper:.3f}] for '{best.group}' vs "
                        f"{worst.value:.3f} [{worst.lower:.3f}, {worst.upper:.3f}] for "
                        f"'{worst.group}'; collect more data for the worse group, reweight it, or "
                        "choose a threshold per group deliberately.",
                    )
                )
    return BiasReport([], statistics, findings)
