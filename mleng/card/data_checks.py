"""The card's `data_checks:` block: what the data stage measures, its thresholds and its policies.

Every field has a default, so a card without the block still gets every check; the defaults
fail only on confirmed problems (a copy of the target, a feature declared as known after the
event, rows shared between train and test, values a model cannot train on) and warn otherwise.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal, get_args

from pydantic import Field, model_validator

from mleng.card.base import StrictModel
from mleng.card.sampling import SamplingSettings

Policy = Literal["fail", "warn", "drop"]

Availability = Literal["before_prediction", "after_event"]

Detector = Literal[
    # data report
    "personal_data",
    "too_few_rows",
    "learning_curve",
    "missing_column",
    "wrong_type",
    "numbers_as_text",
    "infinite_values",
    "missing_values",
    "duplicate_rows",
    "constant_column",
    "near_constant_column",
    "class_imbalance",
    "outliers",
    "stale_rows",
    "undocumented_column",
    "timestamp_order",
    "label_delay",
    "level_shift",
    # leakage
    "target_copy",
    "single_feature_predictor",
    "feature_pair_predictor",
    "id_encodes_target",
    "code_hides_target",
    "possible_future_feature",
    "future_feature",
    "recorded_after_prediction",
    "split_overlap",
    "temporal_overlap",
    # bias
    "selection_bias",
    "unseen_categories",
    "label_bias",
    "performance_gap",
]
DETECTORS: tuple[str, ...] = get_args(Detector)

DEFAULT_POLICIES: dict[str, Policy] = {detector: "warn" for detector in DETECTORS} | {
    "missing_column": "fail",
    "wrong_type": "fail",
    "infinite_values": "fail",
    "target_copy": "fail",
    "id_encodes_target": "fail",
    "code_hides_target": "fail",
    "future_feature": "fail",
    "recorded_after_prediction": "fail",
    "split_overlap": "fail",
    "temporal_overlap": "fail",
}

# Detectors about rows or the whole table: there is no column whose removal would fix them.
ROW_LEVEL_DETECTORS = frozenset(
    {
        "too_few_rows",
        "learning_curve",
        "missing_column",
        "duplicate_rows",
        "class_imbalance",
        "stale_rows",
        "timestamp_order",
        "label_delay",
        "split_overlap",
        "temporal_overlap",
        "performance_gap",
    }
)


class ReportSettings(StrictModel):
    """Thresholds of the data report (the five questions); a value past one is flagged."""

    privacy_sample_size: int = Field(
        default=2000, ge=10, description="values per column the regexes read"
    )
    privacy_match_fraction: float = Field(
        default=0.5, gt=0, le=1, description="share of values that must match"
    )
    rows_per_feature: float = Field(
        default=10.0, gt=0, description="minimum rows per encoded feature"
    )
    rows_per_class: float = Field(default=100.0, gt=0, description="minimum rows per class")
    comfortable_rows_per_class: float = Field(default=1000.0, gt=0)
    learning_curve: bool = True
    learning_curve_max_rows: int = Field(
        default=10000, ge=50, description="rows sampled for the curve"
    )
    learning_curve_folds: int = Field(default=3, ge=2, le=10)
    extrapolation_gain: float | None = Field(
        default=None,
        gt=0,
        description="gain in the card's metric to extrapolate the rows needed for; default "
        "0.01 for scores bounded by 1, 1% of today's error for rmse, mae and log_loss",
    )
    chance_margin: float = Field(
        default=0.05, ge=0, description="score within this of chance is 'near chance'"
    )
    max_missing_fraction: float = Field(default=0.05, ge=0, le=1)
    max_duplicate_fraction: float = Field(default=0.01, ge=0, le=1)
    near_constant_fraction: float = Field(default=0.99, gt=0.5, le=1)
    min_class_ratio: float = Field(
        default=0.1, gt=0, le=1, description="smallest/largest class count"
    )
    outlier_iqr_multiplier: float = Field(default=3.0, gt=0)
    max_outlier_fraction: float = Field(default=0.01, ge=0, le=1)
    stale_after: timedelta | None = Field(
        default=None, description="rows older than this before the newest are stale"
    )
    level_shift_min_effect: float = Field(
        default=0.5, gt=0, description="mean jump in standard deviations"
    )
    level_shift_min_t: float = Field(default=6.0, gt=0, description="t-statistic of the jump")


class LeakageSettings(StrictModel):
    """Thresholds of the leakage detectors, evaluated on a sample with shallow trees to stay cheap.

    The code and level-separation thresholds count rows per (level, label); the chance they are
    compared with comes from shuffled labels, so small levels and rare classes do not trip them.
    """

    max_rows: int = Field(default=5000, ge=50, description="rows sampled for the predictor checks")
    min_single_feature_score: float = Field(
        default=0.99, description="held-out AUC (classes) or R2 (regression)"
    )
    min_pair_score: float = Field(default=0.99)
    pair_candidates: int = Field(
        default=5, ge=0, description="best single features whose pairs are tried"
    )
    tree_depth: int = Field(default=3, ge=1, le=12)
    mapping_purity: float = Field(
        default=0.999, gt=0.5, le=1, description="share of rows a mapping must explain"
    )
    id_unique_ratio: float = Field(
        default=0.5, gt=0, le=1, description="distinct/rows above which a text column is id-like"
    )
    code_min_levels: int = Field(
        default=10, ge=2, description="supported levels a column needs to be checked as a code"
    )
    code_min_level_rows: int = Field(
        default=5, ge=2, description="rows a level needs to count as supported (not a singleton)"
    )
    code_min_coverage: float = Field(
        default=0.8, gt=0, le=1, description="share of rows the supported levels must cover"
    )
    code_purity: float = Field(
        default=0.95, gt=0.5, le=1, description="share of rows in their level's majority class"
    )
    code_min_lift: float = Field(
        default=0.8,
        gt=0,
        le=1,
        description="(purity - chance) / (1 - chance), chance measured with the labels shuffled",
    )
    level_separation: float = Field(
        default=0.85,
        gt=0,
        le=1,
        description="share of one class's rows in a level minus the share of the other rows",
    )
    level_min_rows: int = Field(
        default=20, ge=1, description="rows of the class a separating level must hold"
    )
    dominant_score: float = Field(
        default=0.95, description="single-column score from which it is compared with all columns"
    )
    dominant_margin: float = Field(
        default=0.02, ge=0, description="'nearly as well as all columns': within this of them"
    )
    max_split_overlap: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="share of test rows also in train tolerated (natural duplicates) "
        "with a warning",
    )
    max_recorded_after_fraction: float = Field(default=0.0, ge=0, le=1)


class BiasSettings(StrictModel):
    """Thresholds for comparing with a reference sample and between groups of sensitive columns."""

    ks_statistic: float = Field(default=0.1, gt=0, le=1)
    total_variation: float = Field(default=0.1, gt=0, le=1)
    psi: float = Field(default=0.2, gt=0)
    p_value: float = Field(
        default=0.01, gt=0, lt=1, description="a difference must also be significant"
    )
    unseen_category_fraction: float = Field(default=0.001, ge=0, le=1)
    max_label_rate_gap: float = Field(
        default=0.1, ge=0, description="largest minus smallest group label rate"
    )
    max_mean_gap_sd: float = Field(
        default=0.5, ge=0, description="regression: gap of group means in target SDs"
    )
    min_rate_ratio: float = Field(
        default=0.8, ge=0, le=1, description="smallest/largest rate (four-fifths rule)"
    )
    max_metric_gap: float = Field(default=0.05, ge=0)
    min_group_size: int = Field(default=30, ge=1)
    bootstrap_rounds: int = Field(default=200, ge=20)
    confidence: float = Field(default=0.95, gt=0.5, lt=1)


class DataChecksSettings(StrictModel):
    """All the data stage needs beyond the card: meanings, availability, thresholds, policies."""

    descriptions: dict[str, str] = Field(
        default_factory=dict, description="column -> what it means"
    )
    sensitive_columns: list[str] = Field(
        default_factory=list, description="columns checked for bias"
    )
    known_at: dict[str, Availability | timedelta] = Field(
        default_factory=dict,
        description="column -> when its value is known: before_prediction, after_event, "
        "or an ISO 8601 offset from the prediction time (P2D: two days after, -PT1H: an hour "
        "before)",
    )
    recorded_at: dict[str, str] = Field(
        default_factory=dict, description="column -> the column holding when its value was recorded"
    )
    label_time_column: str | None = Field(
        default=None, description="when each row's label became known"
    )
    label_delay: timedelta | None = Field(
        default=None, description="expected time until a label is known"
    )
    reference_path: Path | None = Field(
        default=None, description="a sample of the population served"
    )
    policies: dict[Detector, Policy] = Field(
        default_factory=dict, description="overrides of DEFAULT_POLICIES"
    )
    report: ReportSettings = Field(default_factory=ReportSettings)
    leakage: LeakageSettings = Field(default_factory=LeakageSettings)
    bias: BiasSettings = Field(default_factory=BiasSettings)
    sampling: SamplingSettings = Field(default_factory=SamplingSettings)

    @model_validator(mode="after")
    def check_policies(self) -> DataChecksSettings:
        droppable = sorted(
            d for d, p in self.policies.items() if p == "drop" and d in ROW_LEVEL_DETECTORS
        )
        if droppable:
            raise ValueError(
                f"policy 'drop' removes columns, but {droppable} are about rows or the whole "
                "table; use 'fail' or 'warn' for them"
            )
        return self

    def policy_for(self, detector: str) -> Policy:
        """The card's policy for a detector, or the default one."""
        if detector not in DEFAULT_POLICIES:
            raise KeyError(f"unknown detector '{detector}'; known: {list(DETECTORS)}")
        return self.policies.get(detector, DEFAULT_POLICIES[detector])  # type: ignore[call-overload]

    def is_after_prediction(self, column: str) -> bool:
        """Whether the card declares the column known only after the prediction is made."""
        availability = self.known_at.get(column)
        if availability is None or availability == "before_prediction":
            return False
        return availability == "after_event" or (
            isinstance(availability, timedelta) and availability > timedelta(0)
        )
