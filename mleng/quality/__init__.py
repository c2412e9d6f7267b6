"""The data stage: a report on five questions, leakage and bias detectors, and their policies.

Pure functions over pandas frames, returning dataclasses with `to_dict()`; the Prefect flow
wires them as tasks and logs their markdown.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_HOMES = {
    "BiasReport": "bias",
    "compare_with_reference": "bias",
    "measure_group_performance": "bias",
    "measure_label_rates": "bias",
    "read_reference_sample": "bias",
    "Finding": "findings",
    "PolicyOutcome": "findings",
    "apply_policies": "findings",
    "LeakageReport": "leakage",
    "apply_leakage_policy": "leakage",
    "detect_leakage": "leakage",
    "detect_split_overlap": "leakage",
    "detect_temporal_overlap": "leakage",
    "render_bias_markdown": "markdown",
    "render_findings_markdown": "markdown",
    "render_leakage_markdown": "markdown",
    "render_report_markdown": "markdown",
    "plot_learning_curve": "plots",
    "plot_missing_values": "plots",
    "DataReport": "report",
    "build_data_report": "report",
    "DEFAULT_POLICIES": "settings",
    "DataChecksSettings": "settings",
}

__all__ = [
    "DEFAULT_POLICIES",
    "BiasReport",
    "DataChecksSettings",
    "DataReport",
    "Finding",
    "LeakageReport",
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
    "render_findings_markdown",
    "render_leakage_markdown",
    "render_report_markdown",
]


def __getattr__(name: str) -> Any:
    """Import on first use, so `mleng.config` can load `mleng.quality.settings` without a cycle."""
    if name not in _HOMES:
        raise AttributeError(f"module 'mleng.quality' has no attribute {name!r}")
    return getattr(import_module(f"mleng.quality.{_HOMES[name]}"), name)
