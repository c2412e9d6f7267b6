"""Card settings for class imbalance, apart from the samplers so the card loads without imblearn."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from mleng.card.base import StrictModel

Strategy = Literal["none", "class_weight", "resample", "balanced_ensemble"]
SamplerName = Literal["under", "over", "smote"]
ThresholdMetric = Literal["balanced_accuracy", "f1"]


class ImbalanceSettings(StrictModel):
    """How training handles a rare class, and which metric picks the decision threshold.

    `sampler` belongs to `resample` only, `voting` and `max_chunks` to `balanced_ensemble` only
    (cap the chunks when the minority is tiny: one model is fitted per chunk); a threshold
    metric of None (the default) keeps the default rule (positive when its probability is at
    least 0.5); a metric makes a binary model decide at the threshold that maximises it on
    out-of-fold predictions.
    """

    strategy: Strategy = "none"
    sampler: SamplerName | None = None
    voting: Literal["soft", "hard"] = "soft"
    max_chunks: int | None = Field(default=None, ge=1)
    threshold_metric: ThresholdMetric | None = None

    @model_validator(mode="after")
    def check_sampler(self) -> ImbalanceSettings:
        if self.strategy == "resample" and self.sampler is None:
            raise ValueError("strategy 'resample' needs a sampler: 'under', 'over' or 'smote'")
        if self.strategy != "resample" and self.sampler is not None:
            raise ValueError(
                f"sampler '{self.sampler}' only applies to strategy 'resample', not "
                f"'{self.strategy}'; remove it or set strategy: resample"
            )
        return self

    @property
    def label(self) -> str:
        """A short name for tables and the model card, e.g. `resample:smote`."""
        if self.strategy == "resample":
            return f"resample:{self.sampler}"
        if self.strategy == "balanced_ensemble":
            return f"balanced_ensemble:{self.voting}"
        return self.strategy
