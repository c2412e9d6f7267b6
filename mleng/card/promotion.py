"""The card's `promotion:` block: what a challenger must show before it becomes champion."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mleng.card.base import StrictModel


class PromotionPolicy(StrictModel):
    """What a challenger must show before it becomes champion."""

    min_metric: float | None = Field(
        default=None,
        description="primary metric threshold (a ceiling for losses and errors), "
        "on the test estimate",
    )
    beat_baselines: bool = Field(
        default=True, description="the primary metric's interval must clear every baseline"
    )
    beat_champion: bool = Field(
        default=True, description="paired bootstrap lower bound of the gain must be > 0"
    )
    robustness_floor: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="minimum share of test rows whose output is stable under perturbation",
    )
    min_paired_rows: int = Field(
        default=200,
        ge=1,
        description="test rows neither model trained on needed to compare with the champion; "
        "fewer gives the decision 'hold'",
    )
    allow_data_warnings: bool | list[str] = Field(
        default=False,
        description="promote despite warn-level data findings: true for any, or the detector "
        "names reviewed and accepted (e.g. [class_imbalance, outliers])",
    )
    primary: Literal["metric", "expected_cost"] = Field(
        default="metric",
        description="what 'beat baselines' and the champion comparison read: the card's metric, "
        "or the expected cost per decision of the card's costs: block (lower is better)",
    )
    prefer_simple: bool = Field(
        default=False,
        description="register the best simple baseline (lookup table or heuristic rule) instead "
        "of the model when the paired comparison shows it is not worse within its interval",
    )
