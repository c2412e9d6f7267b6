"""Validation reports: the flattened verdict of a suite on a frame, as JSON, Markdown or HTML.

Kept apart from `mleng.validation.suites` so reports can be read, rendered and gated on without
importing Great Expectations (3-5 s).
"""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mleng.errors import ValidationFailed
from mleng.reports.formatting import render_table, to_jsonable


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's verdict on one frame, flattened from GX's result for reports."""

    expectation: str
    column: str | None
    success: bool
    unexpected_count: int | None
    unexpected_percent: float | None
    observed: Any
    kwargs: dict


@dataclass(frozen=True)
class ValidationReport:
    """The verdict of a suite on a frame: overall success and every expectation's outcome."""

    suite_name: str
    source: str
    n_rows: int
    success: bool
    outcomes: list[ExpectationOutcome]

    @property
    def failures(self) -> list[ExpectationOutcome]:
        """The outcomes that failed, in suite order."""
        return [outcome for outcome in self.outcomes if not outcome.success]

    def to_dict(self) -> dict:
        """Strict-JSON form (non-finite numbers become null) for artifacts and machines; the
        observed bad values keep their text ("inf") from `validate_frame`."""
        return to_jsonable(
            {
                "suite_name": self.suite_name,
                "source": self.source,
                "n_rows": self.n_rows,
                "success": self.success,
                "n_expectations": len(self.outcomes),
                "n_failures": len(self.failures),
                "outcomes": [asdict(outcome) for outcome in self.outcomes],
            }
        )


def raise_for_failures(report: ValidationReport, suite_path: Path | str | None = None) -> None:
    """Stop the caller (e.g. training) when the data broke its suite, naming the file, each
    failed expectation with its column and bad-row count, and the fix."""
    if report.success:
        return
    failures = report.failures
    suite = suite_path or f"'{report.suite_name}'"
    header = (
        f"Data file {report.source or 'data'} ({report.n_rows} rows) failed {len(failures)} of "
        f"{len(report.outcomes)} expectations in suite {suite}:"
    )
    lines = [header]
    for outcome in failures[:20]:
        bad_rows = "n/a" if outcome.unexpected_count is None else outcome.unexpected_count
        lines.append(
            f"  - {outcome.expectation} on column '{outcome.column or 'table'}': {bad_rows} bad "
            f"rows ({_describe(outcome)})"
        )
    lines.append(
        "Fix the data, or if the change is intended, regenerate the suite with `mleng "
        "expectations init` and review the diff. Nothing was trained or registered."
    )
    raise ValidationFailed("\n".join(lines))


def to_python(value: Any) -> Any:
    """A numpy scalar as its Python value, so suites and reports serialise with the json module."""
    return value.item() if isinstance(value, np.generic) else value


def _describe(outcome: ExpectationOutcome, limit: int = 160) -> str:
    """One line a person can act on: what was expected and what was seen."""
    expected = {
        key: f"{len(value)} values" if isinstance(value, list) and len(value) > 5 else value
        for key, value in outcome.kwargs.items()
        if key != "column"
    }
    observed = outcome.observed
    if (
        isinstance(observed, list)
        and observed
        and isinstance(observed[0], dict)
        and "value" in observed[0]
    ):
        observed = ", ".join(f"{item['value']!r} ({item['count']})" for item in observed[:5])
    text = f"seen: {observed}; expected: {expected}" if expected else f"seen: {observed}"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_validation_markdown(report: ValidationReport, max_rows: int = 50) -> str:
    """Failures first (what, where, how many rows, details), then a count of passes per kind."""
    verdict = "PASSED" if report.success else "FAILED"
    source = f" on `{report.source}`" if report.source else ""
    lines = [
        f"# Data validation: suite `{report.suite_name}`{source}",
        "",
        (
            f"**{verdict}**: {len(report.failures)} of {len(report.outcomes)} expectations "
            f"failed on {report.n_rows:,} rows."
        ),
        "",
    ]
    if report.failures:
        rows = [
            (
                outcome.expectation,
                outcome.column or "(table)",
                "" if outcome.unexpected_count is None else f"{outcome.unexpected_count:,}",
                "" if outcome.unexpected_percent is None else f"{outcome.unexpected_percent:.2f}",
                _describe(outcome),
            )
            for outcome in report.failures[:max_rows]
        ]
        header = ["expectation", "column", "bad rows", "% bad", "details"]
        lines += [
            "## Failed expectations",
            "",
            render_table(header, rows, right_aligned={"bad rows", "% bad"}),
        ]
        if len(report.failures) > max_rows:
            lines.append(
                f"\n{len(report.failures) - max_rows} more failures are in the JSON report."
            )
        lines.append("")
    passed = Counter(outcome.expectation for outcome in report.outcomes if outcome.success)
    lines += [
        "## Passed expectations",
        "",
        render_table(["expectation", "passed"], sorted(passed.items()), right_aligned={"passed"}),
    ]
    return "\n".join(lines) + "\n"


_HTML_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse;margin:1rem 0}
td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}
th{background:#f3f3f3}.fail{color:#b00020}.pass{color:#1b7f3b}td.num{text-align:right}
"""


def render_validation_html(report: ValidationReport, max_rows: int = 200) -> str:
    """A self-contained page (inline CSS, no scripts or remote assets) to attach to an MLflow
    run."""
    esc = html.escape
    verdict = (
        '<span class="pass">PASSED</span>' if report.success else '<span class="fail">FAILED</span>'
    )
    rows = []
    for outcome in report.outcomes[:max_rows] if report.success else report.failures[:max_rows]:
        count = "" if outcome.unexpected_count is None else f"{outcome.unexpected_count:,}"
        percent = "" if outcome.unexpected_percent is None else f"{outcome.unexpected_percent:.2f}"
        rows.append(
            f"<tr><td>{esc(outcome.expectation)}</td><td>{esc(outcome.column or '(table)')}</td>"
            f'<td class="num">{count}</td><td class="num">{percent}</td>'
            f"<td>{esc(_describe(outcome))}</td></tr>"
        )
    passed = Counter(outcome.expectation for outcome in report.outcomes if outcome.success)
    passed_rows = "".join(
        f'<tr><td>{esc(k)}</td><td class="num">{v}</td></tr>' for k, v in sorted(passed.items())
    )
    title = f"Data validation: {report.suite_name}" + (
        f" on {report.source}" if report.source else ""
    )
    heading = "Failed expectations" if report.failures else "Expectations"
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{esc(title)}</title>'
        f"<style>{_HTML_STYLE}</style></head><body><h1>{esc(title)}</h1>"
        f"<p>{verdict}: {len(report.failures)} of {len(report.outcomes)} expectations failed on "
        f"{report.n_rows:,} rows.</p><h2>{heading}</h2><table><tr><th>expectation</th>"
        f"<th>column</th><th>bad rows</th><th>% bad</th><th>details</th></tr>{''.join(rows)}"
        "</table><h2>Passed expectations</h2><table><tr><th>expectation</th><th>passed</th></tr>"
        f"{passed_rows}</table>"
        "</body></html>\n"
    )
