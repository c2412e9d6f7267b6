"""The card's `serving:` block: who is held out from the model once it is served."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mleng.card.base import StrictModel


class ServingSettings(StrictModel):
    """Holdout against hidden feedback loops: a share of callers never sees the model's answer.

    When the model's answers change what happens next (an offer shown, a loan refused), the
    outcomes later used for retraining are the model's own doing. A stable share of callers,
    chosen by a hash of the caller, gets the baseline (the training majority class or median) or
    nothing; their outcomes stay measurable without the model's influence, and retraining can
    leave the influenced ones out. Each registration writes the holdout to the served strategy.

    Rollout: a new version that passed the gate does not replace a serving champion at once; it
    becomes the challenger in a canary (by default) so live traffic can still refuse it.
    """

    holdout_fraction: float = Field(
        default=0.0,
        ge=0.0,
        lt=1.0,
        description="share of callers held out from the model (sticky by caller)",
    )
    holdout_serves: Literal["baseline", "nothing"] = Field(
        default="baseline",
        description="what a held-out caller gets: the training baseline, or no prediction",
    )
    rollout: Literal["canary", "shadow", "direct"] = Field(
        default="canary",
        description="how a version that passed the gate reaches callers when a champion exists: "
        "as a canary (or in shadow) that the `promote` flow or `mleng deploy --strategy single` "
        "finishes, or directly as champion",
    )
    canary_fraction: float = Field(
        default=0.1, gt=0.0, lt=1.0, description="share of callers a canary serves"
    )
