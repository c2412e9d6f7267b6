"""Findings: one flagged problem with its evidence, and the policy that decides what happens
next."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from mleng.card.data_checks import Policy
from mleng.reports.formatting import to_jsonable


@dataclass(frozen=True)
class Finding:
    """A problem a detector found: which columns, the numbers behind it, and what to do about it.

    `message` names the column, the evidence and the fix so a user can act on it without reading
    the detector's code; `policy` says whether the flow stops, warns or drops the columns.
    """

    detector: str
    columns: tuple[str, ...]
    evidence: dict[str, Any]
    policy: Policy
    message: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (numpy numbers become plain ones, NaN becomes null)."""
        return to_jsonable(
            {
                "detector": self.detector,
                "columns": list(self.columns),
                "evidence": self.evidence,
                "policy": self.policy,
                "message": self.message,
            }
        )


@dataclass(frozen=True)
class PolicyOutcome:
    """What applying the policies left: the kept frame, the reasons to stop and the warnings."""

    frame: pd.DataFrame
    fail_messages: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    dropped_columns: list[str] = field(default_factory=list)


def apply_policies(findings: list[Finding], frame: pd.DataFrame) -> PolicyOutcome:
    """Drop the columns of `drop` findings, collect `fail` messages and `warn` messages.

    A dropped column is also reported as a warning, so that removing data is never silent.
    """
    fail_messages: list[str] = []
    warnings: list[str] = []
    dropped: list[str] = []
    for finding in findings:
        if finding.policy == "fail":
            fail_messages.append(finding.message)
        elif finding.policy == "warn":
            warnings.append(finding.message)
        else:
            present = [c for c in finding.columns if c in frame.columns and c not in dropped]
            dropped.extend(present)
            if present:
                warnings.append(
                    f"Dropped column(s) {present} as the policy says: {finding.message}"
                )
    return PolicyOutcome(frame.drop(columns=dropped), fail_messages, warnings, dropped)
