"""How cleanly one column's levels separate the label: codes hiding it, after-the-event values.

A held-out tree misses both: it reads a code's values as numbers or frequencies, and a strong
column below its near-perfect threshold raises nothing. Counting rows per (level, label) does
not miss them, but counts alone raise false alarms: a level of one row is always "pure", and a
rare class makes every level look pure. So purity is measured only on levels with support, and
compared with the purity the same levels reach when the labels are shuffled (chance).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mleng.card.data_checks import DataChecksSettings
from mleng.quality.columns import is_numeric_column
from mleng.quality.findings import Finding
from mleng.quality.probes import ColumnScores, LabelledSample

CHANCE_SHUFFLES = 5


@dataclass(frozen=True)
class CodePurity:
    """How well a column's supported levels map to one label each, against chance."""

    levels: int  # levels with at least `code_min_level_rows` rows
    coverage: float  # share of rows in those levels
    purity: float  # share of their rows in their level's majority label
    chance: float  # the same with the labels shuffled
    lift: float  # (purity - chance) / (1 - chance): 1 is a perfect code, 0 is chance

    def to_evidence(self) -> dict[str, float | int]:
        return {
            "supported_levels": self.levels,
            "coverage": round(self.coverage, 4),
            "purity": round(self.purity, 4),
            "chance_purity": round(self.chance, 4),
            "lift_over_chance": round(self.lift, 4),
        }


@dataclass(frozen=True)
class LevelSeparation:
    """The level that best isolates one label: its share of that label's rows and of the rest."""

    level: object
    label: object
    share_of_label: float
    share_of_rest: float

    @property
    def separation(self) -> float:
        return self.share_of_label - self.share_of_rest


def count_level_labels(values: pd.Series, labels: pd.Series) -> pd.DataFrame:
    """Rows per level (index, missing values as a level of their own) and label (columns)."""
    pairs = pd.DataFrame({"level": values.to_numpy(), "label": labels.to_numpy()})
    return pairs.groupby(["level", "label"], dropna=False).size().unstack(fill_value=0)


def measure_purity(values: pd.Series, labels: np.ndarray, kept: pd.Index) -> float:
    """Share of the rows of the `kept` levels that carry their level's majority label."""
    table = count_level_labels(values, pd.Series(labels)).reindex(kept)
    return float(table.max(axis=1).sum() / max(table.to_numpy().sum(), 1))


def measure_code_purity(
    values: pd.Series, labels: pd.Series, min_rows: int, seed: int
) -> CodePurity:
    """Purity of the supported levels, and the purity shuffled labels reach on the same levels.

    Shuffling keeps every level's size and the class balance, so small levels and a rare class
    reach the same high chance purity and only a real level->label map rises above it.
    """
    table = count_level_labels(values, labels)
    sizes = table.sum(axis=1)
    kept = sizes.index[sizes >= min_rows]
    supported = table.loc[kept]
    rows = max(int(sizes.sum()), 1)
    if supported.empty:
        return CodePurity(0, 0.0, 0.0, 0.0, 0.0)
    purity = float(supported.max(axis=1).sum() / supported.to_numpy().sum())
    rng = np.random.default_rng(seed)
    label_array = labels.to_numpy()
    chance = float(
        np.mean(
            [
                measure_purity(values, rng.permutation(label_array), kept)
                for _ in range(CHANCE_SHUFFLES)
            ]
        )
    )
    lift = (purity - chance) / (1 - chance) if chance < 1 else 0.0
    return CodePurity(len(kept), float(supported.to_numpy().sum() / rows), purity, chance, lift)


def is_ordered_by_value(values: pd.Series, labels: pd.Series, min_rows: int) -> bool:
    """Whether the majority label changes between neighbouring values far less than at random.

    A measurement with a threshold switches label once or twice along its values; a numeric code
    whose levels hide the label switches about as often as its levels would shuffled.
    """
    table = count_level_labels(values, labels)
    table = table[(table.sum(axis=1) >= min_rows) & table.index.notna()].sort_index()
    majority = table.to_numpy().argmax(axis=1)
    if len(majority) < 2:
        return True
    changes = int((majority[1:] != majority[:-1]).sum())
    shares = np.bincount(majority) / len(majority)
    expected = (len(majority) - 1) * (1 - float((shares**2).sum()))
    return changes < 0.5 * expected


def detect_target_codes(
    sample: pd.DataFrame,
    target: str,
    columns: list[str],
    settings: DataChecksSettings,
    seed: int = 0,
) -> list[Finding]:
    """Columns of many supported levels, each nearly all one class: a code hiding the target."""
    options = settings.leakage
    findings = []
    for column in columns:
        values, labels = sample[column], sample[target]
        code = measure_code_purity(values, labels, options.code_min_level_rows, seed)
        if not is_code_hiding_target(code, settings):
            continue
        if is_numeric_column(values) and is_ordered_by_value(
            values, labels, options.code_min_level_rows
        ):
            continue  # a measurement whose order carries the label: the probes judge it
        findings.append(
            Finding(
                "code_hides_target",
                (column,),
                code.to_evidence(),
                settings.policy_for("code_hides_target"),
                f"Column '{column}' is a code that hides the target '{target}': its {code.levels} "
                f"levels with at least {options.code_min_level_rows} rows "
                f"({100 * code.coverage:.0f}% of rows) are {100 * code.purity:.1f}% pure in one "
                f"class each, where shuffled labels give {100 * code.chance:.1f}%. Drop the column "
                "from the features, or, if "
                "each code is truly known before the prediction, set "
                "data_checks.policies.code_hides_target to warn in the card.",
            )
        )
    return findings


def is_code_hiding_target(code: CodePurity, settings: DataChecksSettings) -> bool:
    """Many supported levels covering most rows, nearly pure, and far purer than chance."""
    options = settings.leakage
    return (
        code.levels >= options.code_min_levels
        and code.coverage >= options.code_min_coverage
        and code.purity >= options.code_purity
        and code.lift >= options.code_min_lift
    )


def measure_level_separation(
    values: pd.Series, labels: pd.Series, min_rows: int
) -> LevelSeparation | None:
    """The (level, label) where the level holds most of that label's rows and least of the rest.

    Only levels holding at least `min_rows` rows of the label count, so a tiny sample or a rare
    level cannot separate by accident.
    """
    table = count_level_labels(values, labels)
    label_totals = table.sum(axis=0)
    rest_totals = len(values) - label_totals
    best: LevelSeparation | None = None
    for label in table.columns:
        if rest_totals[label] == 0:
            continue
        held = table[label]
        of_label = held / label_totals[label]
        of_rest = (table.sum(axis=1) - held) / rest_totals[label]
        gap = (of_label - of_rest).where(held >= min_rows).to_numpy(dtype=float)
        if np.isnan(gap).all():
            continue
        at = int(np.nanargmax(gap))
        candidate = LevelSeparation(
            table.index[at], label, float(of_label.iloc[at]), float(of_rest.iloc[at])
        )
        if best is None or candidate.separation > best.separation:
            best = candidate
    return best


def detect_possible_future_features(
    sample: LabelledSample,
    columns: list[str],
    scores: ColumnScores,
    settings: DataChecksSettings,
) -> list[Finding]:
    """Columns that separate the label almost alone: often a value recorded after the event.

    Two signs, either enough: one level holds nearly all of one class and little of the rest
    (classification), or the column alone scores nearly as well as all columns together. Only
    the card can say when a value is known, so the finding asks; a column already declared in
    `data_checks.known_at` has its answer (and `future_feature` reports the late ones).
    """
    options = settings.leakage
    findings = []
    for column in [c for c in columns if c not in settings.known_at]:
        separation = find_separating_level(sample, column, settings)
        score = scores.of(column)
        dominates = (
            score >= options.dominant_score
            and score >= scores.whole_score - options.dominant_margin
        )
        if separation is not None or dominates:
            findings.append(build_future_suspect(column, sample, separation, scores, settings))
    return findings


def find_separating_level(
    sample: LabelledSample, column: str, settings: DataChecksSettings
) -> LevelSeparation | None:
    """The column's level that isolates one class past `leakage.level_separation`, if any.

    Regression has no classes to isolate; its signal is the single-column score alone.
    """
    if sample.task == "regression":
        return None
    options = settings.leakage
    found = measure_level_separation(
        sample.frame[column], sample.frame[sample.target], options.level_min_rows
    )
    return found if found is not None and found.separation >= options.level_separation else None


def build_future_suspect(
    column: str,
    sample: LabelledSample,
    separation: LevelSeparation | None,
    scores: ColumnScores,
    settings: DataChecksSettings,
) -> Finding:
    """The finding, its evidence and a message that asks when the value is known."""
    target, metric = sample.target, sample.metric
    score, whole_score = scores.of(column), scores.whole_score
    evidence: dict[str, object] = {metric: round(score, 4)}
    sign = f"alone it predicts the target with held-out {metric} {score:.3f}"
    if np.isfinite(whole_score):
        evidence[f"all_columns_{metric}"] = round(whole_score, 4)
        sign += f", all columns together {whole_score:.3f}"
    if separation is not None:
        evidence |= {
            "level": str(separation.level),
            "label": str(separation.label),
            "share_of_label": round(separation.share_of_label, 4),
            "share_of_rest": round(separation.share_of_rest, 4),
        }
        sign = (
            f"its level '{separation.level}' holds {100 * separation.share_of_label:.1f}% of the "
            f"rows labelled '{separation.label}' and {100 * separation.share_of_rest:.1f}% of the "
            f"other rows ({sign})"
        )
    return Finding(
        "possible_future_feature",
        (column,),
        evidence,
        settings.policy_for("possible_future_feature"),
        f"Column '{column}' separates the target '{target}' almost alone: {sign}. Is it known at "
        "prediction time? A value recorded after the event leaks the outcome. Say when in the "
        f"card under data_checks.known_at: '{column}: after_event' (then drop the column; the "
        f"flow stops on it as a future_feature) or '{column}: before_prediction' (it is kept "
        "and this warning goes).",
    )
