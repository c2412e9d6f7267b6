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
from mleng.quality.findings import Finding, apply_policies
from mleng.quality.probes import (
    ColumnScores,
    LabelledSample,
    ProbeData,
    score_column,
    score_columns_together,
    score_id_patterns,
    score_pair,
    split_probe_data,
)
from mleng.quality.separation import detect_possible_future_features, detect_target_codes
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


def is_id_like(series: pd.Series, unique_ratio: float) -> bool:
    """Text with mostly distinct values: an identifier whose characters can spell the label.

    Numbers never count, however distinct: a whole-number measurement (an income, a weight) is
    mostly unique too, and its order is signal, not a pattern of how ids were issued. Declared
    ids (`id_columns`) are never features, so they cannot leak and are not checked.
    """
    if is_numeric_column(series) or pd.api.types.is_bool_dtype(series):
        return False
    if pd.api.types.is_datetime64_any_dtype(series):
        return False
    present = series.dropna()
    return len(present) > 0 and present.nunique() / len(present) >= unique_ratio


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


def detect_text_ids(
    data: ProbeData,
    columns: list[str],
    scores: dict[str, float],
    metric: str,
    settings: DataChecksSettings,
    seed: int = 0,
) -> list[Finding]:
    """Text ids whose prefix, suffix, length or shape (or order) predicts the label."""
    options = settings.leakage
    findings = []
    for column in [c for c in columns if is_id_like(data.train[c], options.id_unique_ratio)]:
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
                    f"Id-like column '{column}' hides the target: its {pattern} alone predicts "
                    f"it with held-out {metric} {score:.3f}; drop it from the features and fix "
                    "how ids are issued.",
                )
            )
    return findings


def detect_single_predictors(
    columns: list[str], scores: dict[str, float], metric: str, settings: DataChecksSettings
) -> list[Finding]:
    """Columns that alone predict the target near perfectly on held-out rows."""
    options = settings.leakage
    return [
        Finding(
            "single_feature_predictor",
            (column,),
            {metric: round(scores[column], 4)},
            settings.policy_for("single_feature_predictor"),
            f"Column '{column}' alone predicts the target with held-out {metric} "
            f"{scores[column]:.3f} (a depth-{options.tree_depth} tree); check it is known "
            "before the prediction (data_checks.known_at) and not derived from the label, or drop "
            "it; a row number or id belongs in id_columns.",
        )
        for column in columns
        if scores[column] >= options.min_single_feature_score
    ]


def detect_pair_predictors(
    data: ProbeData,
    columns: list[str],
    scores: dict[str, float],
    metric: str,
    settings: DataChecksSettings,
    seed: int = 0,
) -> list[Finding]:
    """Pairs among the best-scoring columns that together predict the target near perfectly."""
    options = settings.leakage
    ranked = sorted(columns, key=lambda c: -np.nan_to_num(scores[c], nan=-1))
    findings = []
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
                    f"{metric} {score:.3f}; check the target is not computed from them, or drop "
                    "one.",
                )
            )
    return findings


def detect_predictive_columns(
    data: ProbeData,
    sample: LabelledSample,
    columns: list[str],
    settings: DataChecksSettings,
    seed: int = 0,
    exempt: frozenset[str] = frozenset(),
) -> tuple[list[Finding], dict[str, float]]:
    """Ids and codes hiding the label, then columns and pairs that predict it almost alone.

    Each column gets at most one single-column finding, the most specific: an id, a code, a
    near-perfect predictor, then a possible after-the-event value. `exempt` columns (the
    target's windows) are scored and count in the all-columns score, but raise no finding.
    """
    options, metric = settings.leakage, sample.metric
    scores = {column: score_column(data, column, options.tree_depth, seed) for column in columns}
    whole = score_dominant_whole(data, columns, scores, settings, seed)
    findings = detect_text_ids(data, unflagged(columns, [], exempt), scores, metric, settings, seed)
    if data.task != "regression":
        rest = unflagged(columns, findings, exempt)
        findings += detect_target_codes(sample.frame, sample.target, rest, settings, seed)
    rest = unflagged(columns, findings, exempt)
    findings += detect_single_predictors(rest, scores, metric, settings)
    rest = unflagged(columns, findings, exempt)
    findings += detect_possible_future_features(sample, rest, ColumnScores(scores, whole), settings)
    rest = unflagged(columns, findings, exempt)
    findings += detect_pair_predictors(data, rest, scores, metric, settings, seed)
    return findings, scores


def unflagged(
    columns: list[str], findings: list[Finding], exempt: frozenset[str] = frozenset()
) -> list[str]:
    """The columns neither exempt nor named by a finding yet, in order."""
    flagged = {c for f in findings for c in f.columns} | exempt
    return [c for c in columns if c not in flagged]


def score_dominant_whole(
    data: ProbeData,
    columns: list[str],
    scores: dict[str, float],
    settings: DataChecksSettings,
    seed: int = 0,
) -> float:
    """What all columns reach together, fitted only when one column alone is high enough to ask."""
    options = settings.leakage
    if not any(np.nan_to_num(scores[c], nan=-1) >= options.dominant_score for c in columns):
        return float("nan")
    return score_columns_together(data, columns, options.tree_depth + 3, seed)


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
    columns = [c for c in features.all if c in frame.columns]
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
    """For a temporal split: training rows dated after the first test row saw the future."""
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
