"""The monitoring window as a reader sees it: one markdown report and one table of features."""

from __future__ import annotations

from typing import Any

from mleng.monitoring.monitor import MonitorReport
from mleng.reports.formatting import format_number


def render_monitor_markdown(report: MonitorReport, title: str, validity: dict | None) -> str:
    """Breaches first, then each measure with its decision."""
    lines = [f"# {title}", ""]
    lines.append(f"{report.rows:,} rows in {report.requests:,} requests.")
    lines.append("")
    if report.breaches:
        lines += ["## Breaches", ""]
        lines += [f"- **{breach.event}**: {breach.reason}" for breach in report.breaches]
    else:
        lines += ["## No breach", ""]
    lines += [f"- {note}" for note in report.notes]
    if report.drift is not None:
        lines += ["", "## Input drift", "", report.drift.to_markdown()]
    if report.shift is not None:
        shift = report.shift
        drivers = ", ".join(d.column for d in shift.drivers[:3]) or "none"
        verdict = "shifted" if shift.shifted else "no significant shift"
        text = (
            f"A classifier tells the window from the training rows with out-of-fold AUC "
            f"{shift.auc:.3f} (permutation p = {shift.p_value:.3f}, {shift.n_permutations} "
            f"permutations; {verdict}); strongest drivers: {drivers}. Informative: the "
            "per-feature tests above decide the alarm."
        )
        lines += ["", "## Joint shift (adversarial validation)", "", text]
    if report.prediction_drift is not None:
        lines += ["", "## Prediction drift", "", report.prediction_drift.to_markdown()]
    if report.performance is not None:
        lines += ["", "## Performance", "", report.performance.to_markdown()]
    lines += ["", "## Numerical stability", ""]
    for side, counts in report.stability.items():
        nan = sum(c["nan"] for c in counts.values())
        inf = sum(c["inf"] for c in counts.values())
        worst = sorted(counts.items(), key=lambda item: -(item[1]["nan"] + item[1]["inf"]))[:3]
        shown = ", ".join(
            f"{c} ({v['nan']} NaN, {v['inf']} inf)" for c, v in worst if any(v.values())
        )
        lines.append(f"- {side}: {nan} NaN, {inf} inf" + (f"; most in {shown}" if shown else ""))
    if report.usage is not None:
        usage = report.usage
        summary = (
            f"{usage.requests} requests in the hour to {usage.hour_end:%Y-%m-%d %H:%M} UTC; "
            f"the same hour on the {len(usage.previous)} days before: mean "
            f"{format_number(usage.mean)}, min {usage.minimum}, max {usage.maximum} "
            f"({usage.verdict.status}{', flagged' if usage.flagged else ''})."
        )
        lines += ["", "## Usage", "", summary]
    if validity is not None:
        lines += [
            "",
            "## Data validity",
            "",
            f"{validity['evaluated']} expectations of the suite run on the window: "
            f"{validity['failed']} failed"
            + (f" ({', '.join(validity['failures'][:5])})" if validity["failures"] else ""),
        ]
    return "\n".join(lines) + "\n"


def drift_table(report: MonitorReport) -> list[dict[str, Any]]:
    """One row per drift test, for a Prefect table artifact."""
    if report.drift is None:
        return []
    return [
        {
            "column": test.column,
            "kind": test.kind,
            "test": test.test,
            "statistic": round(float(test.statistic), 6),
            "p_value": float(f"{test.p_value:.3g}"),
            "threshold": float(f"{test.threshold:.3g}"),
            "drifted": test.drifted,
        }
        for test in report.drift.tests
    ]
