"""The card's `search.runner:` block: where a round's trials run (threads, or a Dask cluster)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from mleng.card.base import StrictModel


class TrialRunnerSettings(StrictModel):
    """How a search round's trials are spread: each is a Prefect task run submitted to a runner.

    `threads` (the default) runs `workers` trials at once in this process, each with
    cores // workers threads for its own OpenMP/BLAS and joblib work, so the cores are never
    oversubscribed; `dask` sends them to a Dask cluster (`address`, or a local cluster of
    `workers` single-threaded processes), whose workers report to the Prefect server named by
    PREFECT_API_URL; `sequential` runs one trial at a time with every core. Scores do not depend
    on the runner: the same seed gives the same trials and the same results.
    """

    kind: Literal["sequential", "threads", "dask"] = "threads"
    workers: int | None = Field(
        default=None, ge=1, description="trials at once; default: the machine's cores"
    )
    address: str | None = Field(
        default=None,
        description="a running Dask scheduler, e.g. tcp://10.0.0.5:8786 (dask only); "
        "none starts a local cluster",
    )

    @model_validator(mode="after")
    def check_address(self) -> TrialRunnerSettings:
        if self.address is not None and self.kind != "dask":
            raise ValueError(f"runner.address is for kind 'dask', not '{self.kind}'")
        return self
