"""The card's `search.ensemble:` block: a final greedy ensemble of the best configurations."""

from __future__ import annotations

from pydantic import Field

from mleng.card.base import StrictModel


class EnsembleSettings(StrictModel):
    """Caruana-style ensemble selection on out-of-fold predictions, kept only when it beats the
    single best configuration on the same folds by more than noise."""

    enabled: bool = Field(
        default=True,
        description="after the search, try a weighted ensemble of its best configurations; it is "
        "registered only when its out-of-fold score beats the single best's",
    )
    candidates: int = Field(
        default=5,
        ge=2,
        le=20,
        description="distinct configurations whose out-of-fold predictions are computed (the best "
        "of each family first, then the next best overall); each costs one cross-validation",
    )
    rounds: int = Field(
        default=25,
        ge=1,
        le=200,
        description="greedy selection steps (with replacement): a member's weight is the share "
        "of steps that picked it",
    )
    min_confidence: float = Field(
        default=0.9,
        ge=0.5,
        lt=1.0,
        description="the ensemble is chosen only when, on a paired bootstrap of the out-of-fold "
        "rows, it beats the single best in at least this share of resamples (its weights chosen "
        "on other rows than it is scored on)",
    )
    min_error_reduction: float = Field(
        default=0.01,
        ge=0.0,
        lt=1.0,
        description="the ensemble is chosen only when it removes at least this share of the "
        "single best's out-of-fold error (1 - score for scores such as ROC AUC, the metric itself "
        "for errors such as RMSE): every member is refit, tuned and served, so a gain smaller "
        "than this costs more than it earns; 0 keeps any gain the bootstrap confirms",
    )
