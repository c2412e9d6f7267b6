"""The data stage as one call: the five questions, leakage and bias on a frame, and the policies
that turn findings into a stop, a warning or a dropped column."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from mleng.card import DatasetCard
from mleng.data.loading import FeatureColumns
from mleng.data.split import SplitData
from mleng.errors import DataQualityFailed
from mleng.evaluation import Predictions
from mleng.quality.bias import (
    BiasReport,
    compare_with_reference,
    measure_group_performance,
    measure_label_rates,
    read_reference_sample,
)
from mleng.quality.findings import Finding, PolicyOutcome, apply_policies
from mleng.quality.group_metrics import ModelOutcomes
from mleng.quality.leakage import LeakageReport, detect_leakage
from mleng.quality.markdown import (
    render_bias_markdown,
    render_data_report_markdown,
    render_leakage_markdown,
)
from mleng.quality.overlap import detect_split_overlap, detect_temporal_overlap
from mleng.quality.plots import plot_learning_curve, plot_missing_values
from mleng.quality.report import DataReport, build_data_report

POLICIES = ("fail", "warn", "drop")


@dataclass(frozen=True)
class DataChecks:
    """Everything the data stage found on one frame, before the policies are applied."""

    report: DataReport
    leakage: LeakageReport
    bias: list[BiasReport]

    @property
    def findings(self) -> list[Finding]:
        return [
            *self.report.findings,
            *self.leakage.findings,
            *(finding for section in self.bias for finding in section.findings),
        ]

    def render_markdown(self) -> str:
        """The data report, leakage and bias sections as one markdown document."""
        sections = [
            render_data_report_markdown(self.report),
            "# Leakage\n\n" + render_leakage_markdown(self.leakage),
            *("# Bias\n\n" + render_bias_markdown(section) for section in self.bias),
        ]
        return "\n\n".join(sections)

    def to_dict(self) -> dict[str, Any]:
        return {
            "report": self.report.to_dict(),
            "leakage": self.leakage.to_dict(),
            "bias": [section.to_dict() for section in self.bias],
        }

    def count_findings(self) -> dict[str, int]:
        """Findings per policy, as the run's `data_findings_<policy>` metrics."""
        return {policy: sum(f.policy == policy for f in self.findings) for policy in POLICIES}

    def render_figures(self) -> dict[str, Figure]:
        """The learning curve (when measured) and the missing-value chart, by file name."""
        figures = {"missing_values": plot_missing_values(self.report.usability)}
        if self.report.learning_curve is not None:
            figures["learning_curve"] = plot_learning_curve(self.report.learning_curve)
        return figures


def run_data_checks(
    frame: pd.DataFrame, card: DatasetCard, columns: FeatureColumns, seed: int
) -> DataChecks:
    """Answer the five data questions, detect leakage, compare with the reference sample and
    measure label rates per sensitive group, as the card's `data_checks:` block says."""
    settings = card.data_checks
    bias = []
    if settings.reference_path is not None:
        reference = read_reference_sample(settings.reference_path)
        # Free text has no levels to compare: every sentence would be an "unseen category".
        compared = [*columns.numeric, *columns.categorical]
        bias.append(compare_with_reference(frame, reference, compared, settings))
    if settings.sensitive_columns:
        bias.append(
            measure_label_rates(frame, card.target, card.task, card.positive_label, settings)
        )
    return DataChecks(
        report=build_data_report(frame, card, settings, seed=seed),
        leakage=detect_leakage(frame, card, columns, settings, seed),
        bias=bias,
    )


def enforce_policies(
    findings: list[Finding], frame: pd.DataFrame, stage: str, source: str
) -> PolicyOutcome:
    """Apply fail / warn / drop; a failure stops the run with every reason listed."""
    outcome = apply_policies(findings, frame)
    if outcome.fail_messages:
        reasons = "\n".join(f"  - {message}" for message in outcome.fail_messages)
        raise DataQualityFailed(
            f"{stage} checks on {source} ({len(frame)} rows) failed:\n{reasons}\n"
            "Fix the data, or set the detector's policy to warn or drop under "
            "data_checks.policies in the card. Nothing was trained or registered."
        )
    return outcome


def drop_columns(columns: FeatureColumns, dropped: list[str]) -> FeatureColumns:
    """The feature columns without those a `drop` policy removed."""
    return FeatureColumns(
        [c for c in columns.numeric if c not in dropped],
        [c for c in columns.categorical if c not in dropped],
        [c for c in columns.text if c not in dropped],
    )


def check_split(split: SplitData, card: DatasetCard) -> list[Finding]:
    """Rows shared by train and test, and time overlap of a temporal split, inflate the test score.

    A shared row is one equal in every column (target included) but the declared ids: a copy of
    a row under a new id is still the same example. Rows that merely agree on a few features are
    a property of the data, not a duplicate. Without ids, the split keys rows by their content,
    so copies always land on one side and this check guards against regressions of that rule.
    """
    train, test, settings = split.train_rows, split.test_rows, card.data_checks
    compared = [column for column in train.columns if column not in card.id_columns]
    findings = detect_split_overlap(train, test, compared, settings)
    if card.timestamp_column:
        findings += detect_temporal_overlap(train, test, card.timestamp_column, settings)
    return findings


def measure_model_fairness(
    card: DatasetCard, test_rows: pd.DataFrame, predictions: Predictions, seed: int
) -> BiasReport | None:
    """Model metrics per group of each sensitive column, with intervals; None without groups."""
    settings = card.data_checks
    if not settings.sensitive_columns:
        return None
    y_score = None
    if card.task == "regression":
        metrics = ["mae", "rmse"]
    elif card.task == "multiclass":
        metrics = ["accuracy"]
    else:
        metrics = ["accuracy", "true_positive_rate", "false_positive_rate"]
    if card.task == "binary" and predictions.proba is not None and predictions.classes is not None:
        classes = list(predictions.classes)
        positive = card.positive_label if card.positive_label is not None else classes[-1]
        y_score = predictions.proba[:, classes.index(positive)]
        metrics.append("roc_auc")
    outcomes = ModelOutcomes(
        test_rows[card.target].to_numpy(), np.asarray(predictions.y_pred), y_score,
        card.positive_label,
    )  # fmt: skip
    return measure_group_performance(test_rows, outcomes, settings, metrics, seed)
