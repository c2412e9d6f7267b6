"""Leakage: information in the features that will not exist when the model predicts.

Three ways it happens, each with its own detector: the target is a function of the features
(a copy, a relabelling, a near-perfect single column or pair), the features hide the target
(an id or code whose pattern maps to the label), or the features come from the future
(declared known after the event, or recorded after the prediction time). `detect_leakage`
runs them all on one frame: copies and future features here, the held-out probes of ids, codes,
columns and pairs in `mleng.quality.predictors`. Split leakage, rows shared by train and test or
a temporal split whose periods overlap, compares two frames and lives in `mleng.quality.overlap`.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from mleng.card import DatasetCard
from mleng.card.data_checks import DataChecksSettings
from mleng.data.loading import FeatureColumns
from mleng.data.sampling import sample_rows
from mleng.quality.columns import is_numeric_column, parse_times, to_float_array
from mleng.quality.findings import Finding, apply_policies
from mleng.quality.predictors import detect_predictive_columns
from mleng.quality.probes import LabelledSample, split_probe_data
from mleng.quality.size import encode_probe_target
from mleng.reports.formatting import to_jsonable

DATE_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2})?)?")
MAX_COPY_ROWS = 50_000


@dataclass(frozen=True)
class LeakageReport:
    """Every leakage finding, and each column's held-out score on its own (the evidence table)."""

    findings: list[Finding]
    single_feature_scores: dict[str, float] = field(default_factory=dict)
    metric: str = ""
    sampled_rows: int = 0

    def to_dict(self) -> dict[str, object]:
        return to_jsonable(asdict(self) | {"findings": [f.to_dict() for f in self.findings]})


def measure_mapping_purity(column: pd.Series, target: pd.Series) -> tuple[float, float]:
    """Share of rows the best value->label map explains, and the best label->value map.

    Both near 1 means the column is the target under another name (a one-to-one relabelling).
    """
    pairs = pd.DataFrame({"value": column.to_numpy(), "label": target.to_numpy()})
    counts = pairs.groupby(["value", "label"], dropna=False).size()
    rows = max(len(pairs), 1)
    forward = counts.groupby(level=0, dropna=False).max().sum() / rows
    backward = counts.groupby(level=1, dropna=False).max().sum() / rows
    return float(forward), float(backward)


def detect_target_copies(
    frame: pd.DataFrame,
    target: str,
    task: str,
    columns: list[str],
    settings: DataChecksSettings,
    seed: int = 0,
) -> list[Finding]:
    """Columns that are the target relabelled (classes) or a monotonic transform of it (regression).

    Window columns are left out by the caller: a lag tracks its target, it does not copy it.
    """
    threshold = settings.leakage.mapping_purity
    sample = (
        frame if len(frame) <= MAX_COPY_ROWS else frame.sample(MAX_COPY_ROWS, random_state=seed)
    )
    labelled = sample[sample[target].notna()]
    classes = labelled[target].nunique()
    findings = []
    for column in columns:
        if task == "regression" and is_numeric_column(labelled[column]):
            values, goal = to_float_array(labelled[column]), to_float_array(labelled[target])
            both = np.isfinite(values) & np.isfinite(goal)
            if both.sum() < 3 or np.ptp(values[both]) == 0:
                continue
            correlation = float(abs(spearmanr(values[both], goal[both]).statistic))
            if correlation >= threshold:
                findings.append(
                    Finding(
                        "target_copy",
                        (column,),
                        {"abs_spearman": round(correlation, 6)},
                        settings.policy_for("target_copy"),
                        f"Column '{column}' is a copy of the target '{target}' up to a monotonic "
                        f"transform (|Spearman| = {correlation:.4f}); remove it from the features.",
                    )
                )
            continue
        # A copy has about one value per class: skip columns with far more distinct values, cheaply.
        if labelled[column].nunique(dropna=False) > classes + (1 - threshold) * len(labelled):
            continue
        forward, backward = measure_mapping_purity(labelled[column], labelled[target])
        if forward >= threshold and backward >= threshold:
            examples = (
                labelled[[column, target]]
                .drop_duplicates()
                .head(3)
                .astype(str)
                .agg(" -> ".join, axis=1)
                .tolist()
            )
            findings.append(
                Finding(
                    "target_copy",
                    (column,),
                    {
                        "value_to_label": round(forward, 5),
                        "label_to_value": round(backward, 5),
                        "mapping_examples": examples,
                    },
                    settings.policy_for("target_copy"),
                    f"Column '{column}' maps one-to-one to the target '{target}' "
                    f"({100 * forward:.2f}% of rows, e.g. {examples}): it is the target under "
                    "another name; remove it.",
                )
            )
    return findings


def list_window_columns(card: DatasetCard, columns: list[str]) -> set[str]:
    """Columns made by windowing the target (`<target>__<statistic>`, see `build_examples`).

    Every window ends at least `horizon` steps before its target, so these are the past of the
    target by construction: close to it, never a copy of it.
    """
    windows = card.features.windows
    if windows is None:
        return set()
    made = {f"{card.target}__{statistic}" for statistic in windows.statistics}
    return made & set(columns)


def find_date_columns(frame: pd.DataFrame, exclude: set[str]) -> list[str]:
    """Datetime columns, and text columns whose values read as ISO dates."""
    found = []
    for column in frame.columns:
        if column in exclude:
            continue
        series = frame[column]
        if pd.api.types.is_datetime64_any_dtype(series):
            found.append(column)
        elif not is_numeric_column(series) and not pd.api.types.is_bool_dtype(series):
            head = series.dropna().astype(str).head(50)
            if len(head) and head.str.match(DATE_TEXT).mean() >= 0.9:
                found.append(column)
    return found


def detect_future_features(
    frame: pd.DataFrame,
    columns: list[str],
    timestamp_column: str | None,
    settings: DataChecksSettings,
) -> list[Finding]:
    """Columns declared known only after the prediction, or recorded after the prediction time."""
    findings = []
    for column in columns:
        if settings.is_after_prediction(column):
            declared = to_jsonable(settings.known_at[column])
            filled = int(frame[column].notna().sum())
            findings.append(
                Finding(
                    "future_feature",
                    (column,),
                    {"known_at": declared, "rows_with_value": filled},
                    settings.policy_for("future_feature"),
                    f"Column '{column}' is declared known at '{declared}' (data_checks.known_at), "
                    f"after the prediction is made, yet {filled:,} of {len(frame):,} rows use it "
                    "as a feature; the model would train on information it will not have. Remove "
                    "it from the features.",
                )
            )
    if not timestamp_column or timestamp_column not in frame.columns:
        return findings
    prediction_times = parse_times(frame[timestamp_column])
    recorded = {c: c for c in find_date_columns(frame, {timestamp_column}) if c in columns}
    recorded |= {
        f: r for f, r in settings.recorded_at.items() if f in columns and r in frame.columns
    }
    for column, time_column in recorded.items():
        later = parse_times(frame[time_column]) > prediction_times
        share = float(later.mean())
        if share > settings.leakage.max_recorded_after_fraction:
            source = (
                "its values are dates"
                if time_column == column
                else f"'{time_column}' records when it was taken"
            )
            findings.append(
                Finding(
                    "recorded_after_prediction",
                    (column,),
                    {
                        "share_after": round(share, 4),
                        "rows_after": int(later.sum()),
                        "time_column": time_column,
                    },
                    settings.policy_for("recorded_after_prediction"),
                    f"Column '{column}' was recorded after the prediction time "
                    f"'{timestamp_column}' in {100 * share:.1f}% of rows ({source}); use the value "
                    "as known at prediction time.",
                )
            )
    return findings


def detect_leakage(
    frame: pd.DataFrame,
    card: DatasetCard,
    features: FeatureColumns,
    settings: DataChecksSettings,
    seed: int = 0,
) -> LeakageReport:
    """Run every target- and time-based leakage detector on the features of one frame.

    Columns made by windowing the target are scored (the evidence table) but raise no finding:
    they are the target's past by construction, which is what a forecast is meant to use.
    """
    target = card.target
    # Free text is mostly distinct by nature: the id, code and single-column probes would read
    # its length or first words as an id hiding the label. Text is vectorized, not probed here.
    columns = [c for c in features.all if c in frame.columns and c not in features.text]
    if target not in frame.columns:
        return LeakageReport([])
    windows = list_window_columns(card, columns)
    checked = [c for c in columns if c not in windows]
    findings = detect_target_copies(frame, target, card.task, checked, settings, seed)
    findings += detect_future_features(frame, checked, card.timestamp_column, settings)
    copies = {f.columns[0] for f in findings if f.detector == "target_copy"}
    sample = sample_labelled_rows(frame, card, settings, seed)
    y = encode_probe_target(sample[target], card.task, card.positive_label)
    data = split_probe_data(sample, y, card.task, seed)
    metric = "r2" if card.task == "regression" else "roc_auc"
    if data is None:
        return LeakageReport(findings, {}, metric, len(sample))
    predictive, scores = detect_predictive_columns(
        data,
        LabelledSample(sample, target, card.task, metric),
        [c for c in columns if c not in copies],
        settings,
        seed,
        exempt=frozenset(windows),
    )
    return LeakageReport(findings + predictive, scores, metric, len(sample))


def sample_labelled_rows(
    frame: pd.DataFrame, card: DatasetCard, settings: DataChecksSettings, seed: int = 0
) -> pd.DataFrame:
    """At most `leakage.max_rows` rows with a usable label, stratified by class if there are any."""
    target = card.target
    labelled = frame[frame[target].notna()]
    if card.task == "regression":
        labelled = labelled[np.isfinite(to_float_array(labelled[target]))]
    stratify = [target] if card.task != "regression" else None
    return sample_rows(
        labelled,
        settings.leakage.max_rows,
        "stratified" if stratify else "random",
        seed,
        stratify,
    )


def apply_leakage_policy(
    findings: list[Finding], frame: pd.DataFrame
) -> tuple[pd.DataFrame, list[str], list[str]]:
    """The frame without the columns of `drop` findings, the `fail` messages and the warnings."""
    outcome = apply_policies(findings, frame)
    return outcome.frame, outcome.fail_messages, outcome.warnings
