"""The card's `heuristic_baseline:`, `requirements:` and `evaluation:` blocks."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mleng.card.base import StrictModel
from mleng.card.sampling import StreamingSettings


class HeuristicRule(StrictModel):
    """A rule a domain expert would use without a model, evaluated with `DataFrame.eval` on raw
    columns: a condition for classification (rows where it holds get `then`, others `otherwise`)
    or a value for regression. Backquote column names with dashes: "`capital-gain` > 5000"."""

    expression: str
    then: str | int | float | bool | None = None
    otherwise: str | int | float | bool | None = None


class Requirements(StrictModel):
    """What the model must satisfy, used to choose candidate model families before searching."""

    explainability: bool = Field(
        default=False, description="a reviewer must read the model: linear families only"
    )
    larger_than_memory: bool = Field(
        default=False,
        description="read the data in chunks, never whole: the checks, suite and search see a "
        "seeded sample (data_checks.sampling.max_rows, 100,000 by default) and the incremental "
        "learner 'sgd' is trained with partial_fit over every training chunk",
    )
    streaming: StreamingSettings = Field(
        default_factory=StreamingSettings,
        description="chunk size, epochs and the test rows kept, for larger_than_memory only",
    )
    nonlinearity: Literal["unknown", "expected", "none"] = "unknown"
    max_latency_ms: float | None = Field(
        default=None, gt=0, description="single-row prediction latency budget"
    )


class EvaluationSettings(StrictModel):
    """How far the evaluation goes beyond test metrics: slices, robustness, shift, intervals."""

    bootstrap_method: Literal["percentile", "bca"] = "percentile"
    slice_columns: list[str] = Field(
        default_factory=list, description="metrics with intervals per group of these columns"
    )
    robustness_epsilon: float = Field(
        default=0.05, gt=0, description="output change that counts as unstable"
    )
    robustness_delta: float = Field(
        default=0.1, gt=0, description="perturbation radius, in each feature's std"
    )
    robustness_samples: int = Field(default=10, ge=1)
    robustness_rows: int = Field(
        default=1000, ge=10, description="test rows perturbed (a seeded sample)"
    )
    shift_permutations: int = Field(
        default=19, ge=0, description="permutations for the no-shift test; 0 skips it"
    )
    shift_rows: int = Field(default=5000, ge=100)
    human_performance: float | None = Field(
        default=None,
        description="the card's metric as people doing the task score it, reported beside the "
        "model (e.g. 0.80 balanced accuracy of reviewers)",
    )
