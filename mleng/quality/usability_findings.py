"""Usability findings: each measured problem of `usability.check_usability` past its card threshold
becomes a `Finding` with its policy and the fix in its message (kept apart from the measuring)."""

from __future__ import annotations

from dataclasses import asdict

from mleng.card.data_checks import DataChecksSettings
from mleng.data.loading import FeatureColumns
from mleng.quality.findings import Finding
from mleng.quality.usability import ColumnHealth, UsabilityReport
from mleng.reports.formatting import format_number


def build_usability_findings(
    report: UsabilityReport, features: FeatureColumns, settings: DataChecksSettings
) -> list[Finding]:
    """A finding for each usability problem past its threshold, with the fix in the message."""
    options = settings.report
    policy = settings.policy_for
    findings: list[Finding] = []
    for column in report.missing_columns:
        findings.append(
            Finding(
                "missing_column",
                (column,),
                {"columns_in_data": len(report.columns)},
                policy("missing_column"),
                f"Column '{column}' is named in the dataset card but is not among the "
                f"{len(report.columns)} columns of the data; fix the card or the export that "
                "made the file.",
            )
        )
    for column, text in report.wrong_types.items():
        findings.append(
            Finding(
                "wrong_type",
                (column,),
                asdict(text),
                policy("wrong_type"),
                f"Column '{column}' is declared numeric but {text.rows:,} rows "
                f"({100 * text.share:.1f}%) hold text such as {text.examples}; convert them to "
                "numbers or declare it categorical.",
            )
        )
    for column, text in report.numbers_as_text.items():
        findings.append(
            Finding(
                "numbers_as_text",
                (column,),
                asdict(text),
                policy("numbers_as_text"),
                f"Column '{column}' is numbers stored as text except {text.rows:,} rows "
                f"({100 * text.share:.1f}%) such as {text.examples}; clean those so it can be a "
                "number.",
            )
        )
    feature_set = set(features.all)
    for item in report.columns:
        findings.extend(
            build_column_findings(item, item.column in feature_set, report.rows, settings)
        )
    if report.duplicate_fraction > options.max_duplicate_fraction:
        findings.append(
            Finding(
                "duplicate_rows",
                (),
                {
                    "duplicates": report.duplicate_rows,
                    "fraction": round(report.duplicate_fraction, 4),
                    "conflicting": report.conflicting_duplicates,
                },
                policy("duplicate_rows"),
                f"{report.duplicate_rows:,} rows ({100 * report.duplicate_fraction:.1f}%) "
                f"repeat an earlier row ({report.conflicting_duplicates:,} share features but "
                "not the label); deduplicate before splitting, or duplicates will sit in both "
                "train and test.",
            )
        )
    if report.class_ratio is not None and report.class_ratio < options.min_class_ratio:
        findings.append(
            Finding(
                "class_imbalance",
                (),
                {"class_counts": report.class_counts, "ratio": report.class_ratio},
                policy("class_imbalance"),
                f"Classes are imbalanced: smallest/largest = {report.class_ratio:.3f} "
                f"({report.class_counts}); use a metric that copes (roc_auc, balanced_accuracy), "
                "class weights, or collect more of the rare class.",
            )
        )
    if report.stale_rows:
        findings.append(
            Finding(
                "stale_rows",
                (),
                {"stale_rows": report.stale_rows, "stale_after": report.stale_after},
                policy("stale_rows"),
                f"{report.stale_rows:,} rows are older than {report.stale_after} before the newest "
                "row; consider dropping or down-weighting them if the world has changed since.",
            )
        )
    return findings


def build_column_findings(
    item: ColumnHealth, is_feature: bool, rows: int, settings: DataChecksSettings
) -> list[Finding]:
    """Infinite, missing, constant, near-constant and outlying values of one column."""
    options = settings.report
    policy = settings.policy_for
    name = item.column
    found: list[Finding] = []
    if item.infinite:
        found.append(
            Finding(
                "infinite_values",
                (name,),
                {"infinite": item.infinite},
                policy("infinite_values"),
                f"Column '{name}' holds {item.infinite:,} infinite values, which the model cannot "
                "train on; replace them with missing values or cap them at the source.",
            )
        )
    missing_share = (item.missing + item.placeholders) / max(rows, 1)
    if missing_share > options.max_missing_fraction:
        placeholder_note = (
            f", {item.placeholders:,} as placeholders like '?'" if item.placeholders else ""
        )
        found.append(
            Finding(
                "missing_values",
                (name,),
                {
                    "missing": item.missing,
                    "placeholders": item.placeholders,
                    "fraction": round(missing_share, 4),
                },
                policy("missing_values"),
                f"Column '{name}' is missing in {100 * missing_share:.1f}% of rows "
                f"({item.missing:,} empty{placeholder_note}); find out why before trusting "
                "imputation, or drop it.",
            )
        )
    if not is_feature:
        return found
    if item.distinct <= 1:
        found.append(
            Finding(
                "constant_column",
                (name,),
                {"distinct": item.distinct, "rows": rows},
                policy("constant_column"),
                f"Column '{name}' has {item.distinct} distinct value in all {rows:,} rows and "
                "carries no information; drop it.",
            )
        )
    elif item.top_fraction >= options.near_constant_fraction:
        found.append(
            Finding(
                "near_constant_column",
                (name,),
                {"top_fraction": round(item.top_fraction, 4)},
                policy("near_constant_column"),
                f"Column '{name}' has one value in {100 * item.top_fraction:.2f}% of rows; it can "
                "hardly help and may overfit on the rest; consider dropping it.",
            )
        )
    if item.outlier_fraction is not None and item.outlier_fraction > options.max_outlier_fraction:
        found.append(
            Finding(
                "outliers",
                (name,),
                {
                    "outliers": item.outliers,
                    "fraction": round(item.outlier_fraction, 4),
                    "lower_fence": item.lower_fence,
                    "upper_fence": item.upper_fence,
                },
                policy("outliers"),
                f"Column '{name}' has {item.outliers:,} values "
                f"({100 * item.outlier_fraction:.1f}%) outside "
                f"[{format_number(item.lower_fence)}, {format_number(item.upper_fence)}]; "
                "check for unit errors or sentinel codes such as 99999.",
            )
        )
    return found
