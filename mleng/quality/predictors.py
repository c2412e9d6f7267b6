"""Columns that predict the target on held-out rows: ids hiding it, single columns, pairs.

The probes (`mleng.quality.probes`) score each column on a held-out part of a labelled sample;
this module turns those scores into findings. Each column gets at most one single-column
finding, the most specific that applies, so the report names a cause rather than repeating one
column under several detectors. Kept apart from `mleng.quality.leakage`, which runs these with
the copy and future-feature detectors that need no model.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from mleng.card.data_checks import DataChecksSettings
from mleng.quality.columns import is_numeric_column
from mleng.quality.findings import Finding
from mleng.quality.probes import (
    ColumnScores,
    LabelledSample,
    ProbeData,
    score_column,
    score_columns_together,
    score_id_patterns,
    score_pair,
)
from mleng.quality.separation import detect_possible_future_features, detect_target_codes


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
