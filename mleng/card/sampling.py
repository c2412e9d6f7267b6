"""The card's `data_checks.sampling:` block (how many rows a run keeps and how it picks them) and
`requirements.streaming:` (how a larger-than-memory card is read in chunks and fitted)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mleng.card.base import StrictModel

SamplingStrategy = Literal["random", "systematic", "stratified"]

# The sample a larger-than-memory card's checks, suite, baselines and search see when
# `data_checks.sampling.max_rows` is unset: enough rows for stable checks and a fair ranking of
# configurations, small enough (a few tens of MB for ~20 columns) to hold beside the chunks.
DEFAULT_STREAM_SAMPLE_ROWS = 100_000


class SamplingSettings(StrictModel):
    """How many rows the flow keeps from a large dataset, and how it picks them."""

    max_rows: int | None = Field(
        default=None,
        ge=1,
        description="keep at most this many rows; none keeps all (a larger-than-memory card "
        f"keeps a streamed sample of {DEFAULT_STREAM_SAMPLE_ROWS:,} rows)",
    )
    strategy: SamplingStrategy = "stratified"
    stratify_columns: list[str] | None = Field(
        default=None, description="columns whose proportions are kept; none means the target"
    )


class StreamingSettings(StrictModel):
    """How a `larger_than_memory` card is read and fitted: chunk by chunk, never whole.

    The data checks, the suite, the baselines and the search run on a seeded sample drawn while
    streaming; the winning incremental learner is then trained with `partial_fit` over every
    training chunk for `epochs` passes, and scored on every test row, chunk by chunk.
    """

    chunk_rows: int = Field(
        default=50_000,
        ge=100,
        description="rows read at once: CSV chunks, or Parquet record batches within a row group",
    )
    epochs: int = Field(
        default=5,
        ge=1,
        le=100,
        description="passes of partial_fit over the training chunks, in a seeded order each pass",
    )
    test_prediction_rows: int = Field(
        default=200_000,
        ge=100,
        description="test rows whose truth and prediction are kept for the streamed test metrics "
        "and their bootstrap intervals: every test row up to this, a seeded sample by row key "
        "beyond it (the report states which)",
    )
