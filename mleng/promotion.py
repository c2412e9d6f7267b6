"""The promotion decision: a new model replaces the champion only on evidence, never on a point estimate."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class PromotionDecision:
    """Whether the challenger becomes champion, and why, in words a reviewer can check."""

    promote: bool
    reason: str
    champion_version: str | None = None
    difference: float | None = None
    difference_low: float | None = None
    difference_high: float | None = None
    probability_better: float | None = None

    @property
    def label(self) -> str:
        return "promoted" if self.promote else "kept_champion"

    def as_tags(self) -> dict[str, Any]:
        """Flat tags for the run and the model version."""
        values = {f"promotion.{key}": value for key, value in asdict(self).items() if value is not None}
        values["promotion.decision"] = self.label
        return values


def decide_without_champion() -> PromotionDecision:
    """The first model of a name becomes champion: there is nothing to compare against."""
    return PromotionDecision(promote=True, reason="no champion yet: the first registered model becomes champion")


def decide_from_comparison(
    champion_version: str, metric: str, difference: float, low: float, high: float, probability_better: float, confidence: float = 0.95
) -> PromotionDecision:
    """Promote only when the lower bound of the paired difference (challenger better > 0) is above zero."""
    evidence = (
        f"paired bootstrap on the same test rows: challenger - champion {metric} = {difference:+.4f} "
        f"({confidence:.0%} CI {low:+.4f} to {high:+.4f}; P(better) = {probability_better:.2f})"
    )
    promote = low > 0
    verdict = "challenger beats champion v" if promote else "challenger does not clearly beat champion v"
    return PromotionDecision(
        promote=promote,
        reason=f"{verdict}{champion_version}: {evidence}",
        champion_version=champion_version,
        difference=difference,
        difference_low=low,
        difference_high=high,
        probability_better=probability_better,
    )


def decide_unscorable_champion(champion_version: str, error: str) -> PromotionDecision:
    """A champion that cannot score today's rows (e.g. its input columns changed) is not compared, so it
    is kept: without evidence, moving the alias is a human decision."""
    return PromotionDecision(
        promote=False,
        reason=(
            f"champion v{champion_version} cannot score the current test rows ({error[:300]}); no comparison is "
            "possible, so the champion is kept: review the challenger and move the alias by hand if it should serve"
        ),
        champion_version=champion_version,
    )
