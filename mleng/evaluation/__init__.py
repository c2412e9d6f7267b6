"""Test-set evaluation: metrics, bootstrap intervals, paired comparison and baselines."""

from mleng.evaluation.baselines import fit_baselines, predict_with
from mleng.evaluation.heuristic import RuleBaseline, fit_heuristic_baseline
from mleng.evaluation.bootstrap import bootstrap_distribution, bootstrap_metrics, compare_paired, compute_metrics
from mleng.evaluation.records import (
    LOWER_IS_BETTER,
    METRIC_NAMES,
    MetricInterval,
    PairedComparison,
    Predictions,
)

__all__ = [
    "bootstrap_distribution",
    "RuleBaseline",
    "fit_heuristic_baseline",
    "LOWER_IS_BETTER",
    "METRIC_NAMES",
    "MetricInterval",
    "PairedComparison",
    "Predictions",
    "bootstrap_metrics",
    "compare_paired",
    "compute_metrics",
    "fit_baselines",
    "predict_with",
]
