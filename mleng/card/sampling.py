"""The card's `data_checks.sampling:` block: how many rows a run keeps and how it picks them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mleng.card.base import StrictModel

SamplingStrategy = Literal["random", "systematic", "stratified"]


class SamplingSettings(StrictModel):
    """How many rows the flow keeps from a large dataset, and how it picks them."""

    max_rows: int | None = Field(
        default=None, ge=1, description="keep at most this many rows; none keeps all"
    )
    strategy: SamplingStrategy = "stratified"
    stratify_columns: list[str] | None = Field(
        default=None, description="columns whose proportions are kept; none means the target"
    )
