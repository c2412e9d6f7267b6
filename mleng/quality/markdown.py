"""Markdown renderings of the data, leakage and bias reports, for run artifacts and pull
requests."""

from __future__ import annotations

from mleng.quality.bias import BiasReport
from mleng.quality.findings import Finding
from mleng.quality.leakage import LeakageReport
from mleng.quality.report import QUESTIONS, DataReport
from mleng.reports.formatting import format_number, render_table

POLICY_MARK = {"fail": "FAIL", "warn": "warn", "drop": "drop"}


def render_findings_markdown(findings: list[Finding], empty: str = "No findings.") -> str:
    """Findings as a table, failing ones first."""
    if not findings:
        return empty
    order = {"fail": 0, "drop": 1, "warn": 2}
    ranked = sorted(findings, key=lambda f: order[f.policy])
    return render_table(
        ["policy", "detector", "columns", "message"],
        [
            (POLICY_MARK[f.policy], f.detector, ", ".join(f.columns[:5]) or "-", f.message)
            for f in ranked
        ],
    )


def render_data_report_markdown(report: DataReport) -> str:
    """The data report as markdown: a findings summary, then one section per question."""
    fails = sum(f.policy == "fail" for f in report.findings)
    features = report.features
    parts = [
        f"# Data report: {report.dataset}",
        (
            f"{report.rows:,} rows, {report.columns} columns ({len(features.numeric)} numeric, "
            f"{len(features.categorical)} categorical and {len(features.text)} text features). "
            f"{len(report.findings)} findings, {fails} failing."
        ),
        "## Findings",
        render_findings_markdown(report.findings),
    ]
    for question in QUESTIONS:
        parts.append(f"## {question.capitalize()}")
        parts.append(SECTION_RENDERERS[question](report))
    parts.append(
        "Seconds per question: " + ", ".join(f"{k} {v:.2f}" for k, v in report.seconds.items())
    )
    return "\n\n".join(parts) + "\n"


def render_accessible(report: DataReport) -> str:
    if not report.personal_data:
        return (
            "No column looks like personal data (names, contacts, addresses, ids) by name or "
            "sampled values."
        )
    return render_table(
        ["column", "kind", "matched share", "by name", "masked examples"],
        [
            (p.column, p.kind, p.matched_fraction, p.by_name, ", ".join(p.examples_masked))
            for p in report.personal_data
        ],
    )


def render_sizeable(report: DataReport) -> str:
    rules = report.size_rules
    lines = [
        render_table(
            ["measure", "value", "rule of thumb"],
            [
                ("rows", rules.rows, ""),
                (
                    "encoded features",
                    rules.encoded_features,
                    f"needs {rules.rows_needed_for_features:,} rows (10 per feature)",
                ),
                *(
                    [
                        (
                            "classes",
                            rules.classes,
                            (
                                f"needs {rules.rows_needed_for_classes:,}-"
                                f"{rules.rows_comfortable_for_classes:,} rows"
                            ),
                        )
                    ]
                    if rules.classes is not None
                    else []
                ),
                *(
                    [("smallest class", rules.smallest_class_rows, "")]
                    if rules.classes is not None
                    else []
                ),
            ],
        )
    ]
    curve = report.learning_curve
    if curve is None:
        lines.append("Learning curve not requested.")
    elif not curve.train_sizes:
        lines.append(f"Learning curve not measured: {curve.explanation}.")
    else:
        lines.append(
            render_table(
                ["training rows", f"mean {curve.metric}", "std across folds"],
                zip(curve.train_sizes, curve.mean_scores, curve.std_scores),
            )
        )
        lines.append(f"Verdict: **{curve.verdict.replace('_', ' ')}**: {curve.explanation}.")
        if curve.extrapolation is not None:
            lines.append(f"More data: {curve.extrapolation.explanation}.")
    return "\n\n".join(lines)


def render_usable(report: DataReport) -> str:
    usability = report.usability
    lines = [
        (
            f"Duplicate rows: {usability.duplicate_rows:,} "
            f"({100 * usability.duplicate_fraction:.2f}%), "
            f"{usability.conflicting_duplicates:,} rows share features but not the label."
        )
    ]
    if usability.class_counts:
        lines.append(
            f"Classes: {usability.class_counts} "
            f"(smallest/largest {format_number(usability.class_ratio)})."
        )
    if usability.missing_columns:
        lines.append(f"Declared columns missing from the data: {usability.missing_columns}.")
    for title, problems in (
        ("Declared numeric but holding text", usability.wrong_types),
        ("Numbers stored as text", usability.numbers_as_text),
    ):
        if problems:
            lines.append(
                f"{title}: "
                + "; ".join(
                    f"{c} ({t.rows:,} rows, e.g. {t.examples})" for c, t in problems.items()
                )
            )
    if usability.stale_rows is not None:
        lines.append(
            f"Rows older than {usability.stale_after} before the newest: {usability.stale_rows:,}."
        )
    lines.append(
        render_table(
            [
                "column",
                "dtype",
                "missing %",
                "placeholders",
                "infinite",
                "distinct",
                "top value %",
                "outliers",
            ],
            [
                (
                    c.column,
                    c.dtype,
                    round(100 * c.missing_fraction, 2),
                    c.placeholders,
                    c.infinite,
                    c.distinct,
                    round(100 * c.top_fraction, 2),
                    "-" if c.outliers is None else c.outliers,
                )
                for c in usability.columns
            ],
        )
    )
    return "\n\n".join(lines)


def render_understandable(report: DataReport) -> str:
    check = report.descriptions
    described = report.columns - len(check.undocumented)
    text = f"{described} of {report.columns} columns are described in the card."
    if check.undocumented:
        text += f" Undocumented: {', '.join(check.undocumented)}."
    for key, columns in check.unknown_in_settings.items():
        text += f"\n\ndata_checks.{key} names columns not in the data: {columns}."
    return text


def render_reliable(report: DataReport) -> str:
    reliability = report.reliability
    if reliability.note:
        return reliability.note.capitalize() + "."
    lines = [
        (
            f"Timestamp '{reliability.timestamp_column}': "
            f"{reliability.unparseable_timestamps:,} unreadable values, "
            f"{100 * (reliability.out_of_order_fraction or 0):.2f}% of rows earlier than the row "
            "before."
        )
    ]
    if reliability.label_delay_median_hours is not None:
        lines.append(
            f"Label delay: median {reliability.label_delay_median_hours:.1f} h, 90th percentile "
            f"{reliability.label_delay_p90_hours:.1f} h, "
            f"{reliability.negative_label_delays:,} negative."
        )
    if reliability.immature_label_rows:
        lines.append(f"Rows whose label may not be final yet: {reliability.immature_label_rows:,}.")
    if reliability.level_shifts:
        lines.append(
            render_table(
                ["series", "around", "mean before", "mean after", "jump (SD)", "t"],
                [
                    (s.column, s.at_time, s.before_mean, s.after_mean, s.effect, s.t_statistic)
                    for s in reliability.level_shifts
                ],
            )
        )
    else:
        lines.append("No level shift over time.")
    return "\n\n".join(lines)


SECTION_RENDERERS = {
    "accessible": render_accessible,
    "sizeable": render_sizeable,
    "usable": render_usable,
    "understandable": render_understandable,
    "reliable": render_reliable,
}


def render_leakage_markdown(report: LeakageReport) -> str:
    """Leakage findings and each feature's held-out score on its own, strongest first."""
    parts = ["# Leakage", render_findings_markdown(report.findings, "No leakage found.")]
    if report.single_feature_scores:
        ranked = sorted(
            report.single_feature_scores.items(),
            key=lambda item: -(item[1] if item[1] == item[1] else -1),
        )
        parts.append(
            f"Held-out {report.metric} of a shallow tree on each feature alone "
            f"({report.sampled_rows:,} sampled rows):"
        )
        parts.append(render_table(["feature", report.metric], ranked))
    return "\n\n".join(parts) + "\n"


def render_bias_markdown(report: BiasReport) -> str:
    """Reference comparisons, per-group statistics and the bias findings."""
    parts = ["# Bias", render_findings_markdown(report.findings, "No bias found.")]
    if report.comparisons:
        parts.append(
            render_table(
                [
                    "column",
                    "kind",
                    "KS",
                    "Wasserstein (IQR)",
                    "total variation",
                    "PSI",
                    "p-value",
                    "differs",
                ],
                [
                    (
                        c.column,
                        c.kind,
                        "-" if c.ks_statistic is None else c.ks_statistic,
                        "-" if c.wasserstein_scaled is None else c.wasserstein_scaled,
                        "-" if c.total_variation is None else c.total_variation,
                        "-" if c.psi is None else c.psi,
                        c.p_value,
                        "yes" if c.differs else "no",
                    )
                    for c in report.comparisons
                ],
            )
        )
    if report.group_statistics:
        parts.append(
            render_table(
                ["column", "group", "rows", "statistic", "value", "interval"],
                [
                    (
                        g.column,
                        g.group,
                        g.rows,
                        g.name,
                        g.value,
                        "-"
                        if g.lower is None
                        else f"[{format_number(g.lower)}, {format_number(g.upper)}]",
                    )
                    for g in report.group_statistics
                ],
            )
        )
    return "\n\n".join(parts) + "\n"
