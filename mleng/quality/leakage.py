"""Leakage: information in the features that will not exist when the model predicts.

Three ways it happens, each with its own detector: the target is a function of the features
(a copy, a relabelling, a near-perfect single column or pair), the features hide the target
(an id or code whose pattern maps to the label), or the features come from the future
(declared known after the event, or recorded after the prediction time). Split leakage, rows
shared by train and test or a temporal split whose periods overlap, is checked separately.
"""

from __future__ import annotations

import itertools
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
from mleng.quality.findings import Finding, apply_policies, to_jsonable
from mleng.quality.probes import (
    ProbeData,
    score_column,
    score_id_patterns,
    score_pair,
    split_probe_data,
)
from mleng.quality.size import encode_probe_target

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
    """Columns that are the target relabelled (classes) or a monotonic transform of it (regression)."""
    threshold = settings.leakage.mapping_purity
    sample = (
        frame
        if len(frame) <= MAX_COPY_ROWS
        else frame.sample(MAX_COPY_ROWS, random_state=seed)
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
                    f"Column '{column}' maps one-to-one to the target '{target}' ({100 * forward:.2f}% "
                    f"of rows, e.g. {examples}): it is the target under another name; remove it.",
                )
            )
    return findings


def is_id_like(series: pd.Series, unique_ratio: float) -> bool:
    """Text or whole numbers with mostly distinct values: identifiers and codes, not measurements."""
    present = series.dropna()
    if len(present) == 0 or present.nunique() / len(present) < unique_ratio:
        return False
    if is_numeric_column(series):
        values = to_float_array(present)
        return bool(np.all(np.isnan(values) | (values == np.round(values))))
    return not pd.api.types.is_bool_dtype(series) and not pd.api.types.is_datetime64_any_dtype(
        series
    )


def detect_predictive_columns(
    data: ProbeData, columns: list[str], metric: str, settings: DataChecksSettings, seed: int = 0
) -> tuple[list[Finding], dict[str, float]]:
    """Id-like columns whose pattern predicts the label, then single columns and pairs that do."""
    options = settings.leakage
    findings: list[Finding] = []
    scores = {column: score_column(data, column, options.tree_depth, seed) for column in columns}
    id_like = {c for c in columns if is_id_like(data.train[c], options.id_unique_ratio)}
    for column in sorted(id_like, key=columns.index):
        pattern, score = score_id_patterns(data, column, options.tree_depth, seed)
        if scores[column] >= options.min_single_feature_score and scores[column] >= score:
            pattern, score = "order of its values", scores[column]
        if score >= options.min_single_feature_score:
            findings.append(
                Finding(
                    "id_encodes_target",
                    (column,),
                    {"pattern": pattern, metric: round(score, 4)},
                    settings.policy_for("id_encodes_target"),
                    f"Id-like column '{column}' hides the target: its {pattern} alone predicts it with "
                    f"held-out {metric} {score:.3f}; drop it from the features and fix how ids are issued.",
                )
            )
    flagged = {f.columns[0] for f in findings}
    for column in columns:
        if column not in flagged and scores[column] >= options.min_single_feature_score:
            findings.append(
                Finding(
                    "single_feature_predictor",
                    (column,),
                    {metric: round(scores[column], 4)},
                    settings.policy_for("single_feature_predictor"),
                    f"Column '{column}' alone predicts the target with held-out {metric} "
                    f"{scores[column]:.3f} (a depth-{options.tree_depth} tree); check it is known "
                    "before the prediction and not derived from the label, or drop it.",
                )
            )
            flagged.add(column)
    ranked = [
        c
        for c in sorted(columns, key=lambda c: -np.nan_to_num(scores[c], nan=-1))
        if c not in flagged
    ]
    for first, second in itertools.combinations(ranked[: options.pair_candidates], 2):
        score = score_pair(data, first, second, options.tree_depth + 2, seed)
        if score >= options.min_pair_score:
            findings.append(
                Finding(
                    "feature_pair_predictor",
                    (first, second),
                    {metric: round(score, 4)},
                    settings.policy_for("feature_pair_predictor"),
                    f"Columns '{first}' and '{second}' together predict the target with held-out "
                    f"{metric} {score:.3f}; check the target is not computed from them, or drop one.",
                )
            )
    return findings, scores


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
                    f"Column '{column}' is declared known at '{declared}' (data_checks.known_at), after the "
                    f"prediction is made, yet {filled:,} of {len(frame):,} rows use it as a feature; the "
                    "model would train on information it will not have. Remove it from the features.",
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
                    f"Column '{column}' was recorded after the prediction time '{timestamp_column}' in "
                    f"{100 * share:.1f}% of rows ({source}); use the value as known at prediction time.",
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
    """Run every target- and time-based leakage detector on the features of one frame."""
    target = card.target
    columns = [c for c in features.all if c in frame.columns]
    if target not in frame.columns:
        return LeakageReport([])
    findings = detect_target_copies(frame, target, card.task, columns, settings, seed)
    findings += detect_future_features(frame, columns, card.timestamp_column, settings)
    copies = {f.columns[0] for f in findings if f.detector == "target_copy"}
    labelled = frame[frame[target].notna()]
    if card.task == "regression":
        labelled = labelled[np.isfinite(to_float_array(labelled[target]))]
    stratify = [target] if card.task != "regression" else None
    sample = sample_rows(
        labelled,
        settings.leakage.max_rows,
        "stratified" if stratify else "random",
        seed,
        stratify,
    )
    y = encode_probe_target(sample[target], card.task, card.positive_label)
    data = split_probe_data(sample, y, card.task, seed)
    metric = "r2" if card.task == "regression" else "roc_auc"
    if data is None:
        return LeakageReport(findings, {}, metric, len(sample))
    predictive, scores = detect_predictive_columns(
        data, [c for c in columns if c not in copies], metric, settings, seed
    )
    return LeakageReport(findings + predictive, scores, metric, len(sample))


def hash_rows(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """One 64-bit hash per row of the given columns, equal for equal rows."""
    return pd.util.hash_pandas_object(frame[columns], index=False).to_numpy()


def detect_split_overlap(
    train: pd.DataFrame,
    test: pd.DataFrame,
    columns: list[str],
    settings: DataChecksSettings | None = None,
) -> list[Finding]:
    """Test rows whose `columns` also appear in a training row: the test score would be inflated."""
    settings = settings or DataChecksSettings()
    missing = [c for c in columns if c not in train.columns or c not in test.columns]
    if missing:
        raise ValueError(
            f"columns {missing} are not in both train and test; pass columns present in both"
        )
    if len(test) == 0 or len(train) == 0:
        return []
    shared = np.isin(hash_rows(test, columns), hash_rows(train, columns))
    count, share = int(shared.sum()), float(shared.mean())
    if count == 0:
        return []
    over = share > settings.leakage.max_split_overlap
    policy = settings.policy_for("split_overlap") if over else "warn"
    return [
        Finding(
            "split_overlap",
            (),
            {
                "shared_test_rows": count,
                "share_of_test": round(share, 5),
                "threshold": settings.leakage.max_split_overlap,
            },
            policy,
            f"{count:,} test rows ({100 * share:.2f}%) also appear in the training data on columns "
            f"{columns[:5]}{'...' if len(columns) > 5 else ''}; deduplicate before splitting "
            "(or split by an entity id) so the test score measures unseen rows.",
        )
    ]


def detect_temporal_overlap(
    train: pd.DataFrame,
    test: pd.DataFrame,
    timestamp_column: str,
    settings: DataChecksSettings | None = None,
) -> list[Finding]:
    """For a temporal split: training rows dated after the first test row mean the past saw the future."""
    settings = settings or DataChecksSettings()
    train_times, test_times = (
        parse_times(train[timestamp_column]),
        parse_times(test[timestamp_column]),
    )
    if train_times.notna().sum() == 0 or test_times.notna().sum() == 0:
        return []
    first_test = test_times.min()
    later = int((train_times > first_test).sum())
    if later == 0:
        return []
    return [
        Finding(
            "temporal_overlap",
            (timestamp_column,),
            {
                "train_rows_after_test_start": later,
                "test_start": to_jsonable(first_test),
                "train_end": to_jsonable(train_times.max()),
            },
            settings.policy_for("temporal_overlap"),
            f"{later:,} training rows are dated after the first test row ({first_test}) in "
            f"'{timestamp_column}'; split by time so every training row precedes every test row.",
        )
    ]


def apply_leakage_policy(
    findings: list[Finding], frame: pd.DataFrame
) -> tuple[pd.DataFrame, list[str], list[str]]:
    """The frame without the columns of `drop` findings, the `fail` messages and the warnings."""
    outcome = apply_policies(findings, frame)
    return outcome.frame, outcome.fail_messages, outcome.warnings
