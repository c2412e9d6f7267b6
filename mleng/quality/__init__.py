"""The data stage: a report on five questions, leakage and bias detectors, and their policies.

Pure functions over pandas frames, returning dataclasses with `to_dict()`; the Prefect flow
wires them as tasks and logs their markdown."""

from mleng.quality.bias import (
    BiasReport,
    compare_with_reference,
    measure_group_performance,
    measure_label_rates,
    read_reference_sample,
)
from mleng.quality.findings import Finding, PolicyOutcome, apply_policies
from mleng.quality.group_metrics import ModelOutcomes
from mleng.quality.leakage import LeakageReport, apply_leakage_policy, detect_leakage
from mleng.quality.markdown import (
    render_bias_markdown,
    render_data_report_markdown,
    render_findings_markdown,
    render_leakage_markdown,
)
from mleng.quality.overlap import detect_split_overlap, detect_temporal_overlap
from mleng.quality.plots import plot_learning_curve, plot_missing_values
from mleng.quality.report import DataReport, build_data_report

__all__ = [
    "BiasReport",
    "DataReport",
    "Finding",
    "LeakageReport",
    "ModelOutcomes",
    "PolicyOutcome",
    "apply_leakage_policy",
    "apply_policies",
    "build_data_report",
    "compare_with_reference",
    "detect_leakage",
    "detect_split_overlap",
    "detect_temporal_overlap",
    "measure_group_performance",
    "measure_label_rates",
    "plot_learning_curve",
    "plot_missing_values",
    "read_reference_sample",
    "render_bias_markdown",
    "render_data_report_markdown",
    "render_findings_markdown",
    "render_leakage_markdown",
]
