"""Test-set evaluation: metrics, bootstrap intervals, paired comparison and baselines."""

from mleng.evaluation.baselines import fit_baselines, predict_with
from mleng.evaluation.bootstrap import (
    bootstrap_distribution,
    bootstrap_metrics,
    compare_paired,
    compute_metrics,
)
from mleng.evaluation.heuristic import RuleBaseline, fit_heuristic_baseline
from mleng.evaluation.records import (
    LOWER_IS_BETTER,
    METRIC_NAMES,
    MetricInterval,
    PairedComparison,
    Predictions,
    Resampling,
    Truth,
)

__all__ = [
    "LOWER_IS_BETTER",
    "METRIC_NAMES",
    "MetricInterval",
    "PairedComparison",
    "Predictions",
    "Resampling",
    "RuleBaseline",
    "Truth",
    "bootstrap_distribution",
    "bootstrap_metrics",
    "compare_paired",
    "compute_metrics",
    "fit_baselines",
    "fit_heuristic_baseline",
    "predict_with",
]
