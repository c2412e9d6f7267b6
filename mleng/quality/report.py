"""The data report: five questions about a dataset, each answered with measurements.

Accessible (may we use it: personal data), sizeable (enough rows: rules of thumb and a
learning curve), usable (missing, duplicated, constant, imbalanced, extreme, mistyped, stale),
understandable (is every column described) and reliable (time order, label delay, level shifts).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pandas as pd

from mleng.card import DatasetCard
from mleng.card.data_checks import DataChecksSettings
from mleng.data.loading import FeatureColumns
from mleng.quality.columns import resolve_feature_columns
from mleng.quality.findings import Finding
from mleng.quality.privacy import (
    PersonalDataColumn,
    build_personal_data_findings,
    detect_personal_data,
)
from mleng.quality.reliability import (
    ReliabilityReport,
    build_reliability_findings,
    check_reliability,
)
from mleng.quality.size import (
    LearningCurve,
    SizeRules,
    build_size_findings,
    measure_learning_curve,
    measure_size_rules,
)
from mleng.quality.usability import UsabilityReport, check_usability
from mleng.quality.usability_findings import build_usability_findings
from mleng.reports.formatting import to_jsonable

QUESTIONS = ("accessible", "sizeable", "usable", "understandable", "reliable")
QUESTION_OF_DETECTOR = {
    "personal_data": "accessible",
    "too_few_rows": "sizeable",
    "learning_curve": "sizeable",
    "undocumented_column": "understandable",
    "timestamp_order": "reliable",
    "label_delay": "reliable",
    "level_shift": "reliable",
}


@dataclass(frozen=True)
class DescriptionCheck:
    """Columns without a description, and settings that name columns the data does not have."""

    undocumented: list[str]
    unknown_in_settings: dict[str, list[str]]

    def to_dict(self) -> dict[str, object]:
        return to_jsonable(
            {"undocumented": self.undocumented, "unknown_in_settings": self.unknown_in_settings}
        )


@dataclass(frozen=True)
class DataReport:
    """All measurements of the five questions, the findings drawn from them and each step's time."""

    dataset: str
    rows: int
    columns: int
    features: FeatureColumns
    personal_data: list[PersonalDataColumn]
    size_rules: SizeRules
    learning_curve: LearningCurve | None
    usability: UsabilityReport
    descriptions: DescriptionCheck
    reliability: ReliabilityReport
    findings: list[Finding] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict, one key per question plus the findings."""
        return to_jsonable(
            {
                "dataset": self.dataset,
                "rows": self.rows,
                "columns": self.columns,
                "features": {
                    "numeric": self.features.numeric,
                    "categorical": self.features.categorical,
                    "text": self.features.text,
                },
                "accessible": {"personal_data": self.personal_data},
                "sizeable": {"rules": self.size_rules, "learning_curve": self.learning_curve},
                "usable": self.usability,
                "understandable": self.descriptions,
                "reliable": self.reliability,
                "findings": [finding.to_dict() for finding in self.findings],
                "seconds": self.seconds,
            }
        )

    def findings_for(self, question: str) -> list[Finding]:
        """The findings that answer one of the five questions."""
        return [
            f for f in self.findings if QUESTION_OF_DETECTOR.get(f.detector, "usable") == question
        ]


def check_descriptions(frame: pd.DataFrame, settings: DataChecksSettings) -> DescriptionCheck:
    """Which columns lack a description, and which settings name columns that are not in the
    data."""
    present = set(frame.columns)
    undocumented = [
        str(c) for c in frame.columns if not settings.descriptions.get(str(c), "").strip()
    ]
    named = {
        "descriptions": list(settings.descriptions),
        "sensitive_columns": settings.sensitive_columns,
        "known_at": list(settings.known_at),
        "recorded_at": [*settings.recorded_at, *settings.recorded_at.values()],
        "label_time_column": [settings.label_time_column] if settings.label_time_column else [],
    }
    unknown = {
        key: sorted(set(columns) - present)
        for key, columns in named.items()
        if set(columns) - present
    }
    return DescriptionCheck(undocumented, unknown)


def build_description_findings(
    check: DescriptionCheck, settings: DataChecksSettings, target: str
) -> list[Finding]:
    """One finding for the undocumented columns and one per setting naming absent columns.

    The target is listed in the message but never among the finding's columns, so a `drop`
    policy removes undocumented features and never the label.
    """
    policy = settings.policy_for("undocumented_column")
    findings = []
    if check.undocumented:
        shown = check.undocumented[:10]
        more = f" and {len(check.undocumented) - 10} more" if len(check.undocumented) > 10 else ""
        findings.append(
            Finding(
                "undocumented_column",
                tuple(c for c in check.undocumented if c != target),
                {"count": len(check.undocumented)},
                policy,
                f"{len(check.undocumented)} columns have no description ({shown}{more}); add "
                "what each means, its unit and its source under data_checks.descriptions in the "
                "card.",
            )
        )
    for key, columns in check.unknown_in_settings.items():
        findings.append(
            Finding(
                "undocumented_column",
                (),
                {"setting": key, "columns": columns},
                "warn",
                f"data_checks.{key} names columns that are not in the data: {columns}; fix the "
                "spelling, or checks that rely on them silently do nothing.",
            )
        )
    return findings


def build_data_report(
    frame: pd.DataFrame,
    card: DatasetCard,
    settings: DataChecksSettings,
    learning_curve: bool | None = None,
    seed: int = 0,
) -> DataReport:
    """Answer the five questions for one frame; `learning_curve` overrides the settings' switch.

    Every step is timed, because the data stage must stay cheap on large tables.
    """
    seconds: dict[str, float] = {}
    features = resolve_feature_columns(frame, card)
    options = settings.report

    started = time.perf_counter()
    personal = detect_personal_data(
        frame, options.privacy_sample_size, options.privacy_match_fraction, seed
    )
    seconds["accessible"] = time.perf_counter() - started

    started = time.perf_counter()
    rules = measure_size_rules(frame, card, features, settings)
    curve = None
    if (
        options.learning_curve if learning_curve is None else learning_curve
    ) and card.target in frame.columns:
        curve = measure_learning_curve(frame, card, features, settings, seed)
    seconds["sizeable"] = time.perf_counter() - started

    started = time.perf_counter()
    usability = check_usability(frame, card, features, settings)
    seconds["usable"] = time.perf_counter() - started

    started = time.perf_counter()
    descriptions = check_descriptions(frame, settings)
    seconds["understandable"] = time.perf_counter() - started

    started = time.perf_counter()
    reliability = check_reliability(frame, card, features, settings)
    seconds["reliable"] = time.perf_counter() - started

    findings = [
        *build_personal_data_findings(personal, settings.policy_for("personal_data")),
        *build_size_findings(rules, curve, settings),
        *build_usability_findings(usability, features, settings),
        *build_description_findings(descriptions, settings, card.target),
        *build_reliability_findings(reliability, settings),
    ]
    return DataReport(
        card.name,
        len(frame),
        frame.shape[1],
        features,
        personal,
        rules,
        curve,
        usability,
        descriptions,
        reliability,
        findings,
        seconds,
    )
