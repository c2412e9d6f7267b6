"""The promotion gate: a new model replaces the champion only on evidence, never on a point estimate.

Every condition of the card's policy is checked and recorded, passed or not, so a reviewer can
see why a version was (not) promoted without rerunning anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mleng.card import PromotionPolicy


@dataclass(frozen=True)
class GateCheck:
    """One condition of the gate and what was measured for it."""

    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class ChampionComparison:
    """The paired comparison with the current champion, or why there is none."""

    champion_version: str | None
    difference: float | None = None
    low: float | None = None
    high: float | None = None
    probability_better: float | None = None
    unavailable_reason: str | None = None


@dataclass(frozen=True)
class PromotionDecision:
    """Whether the challenger becomes champion, with every check behind it."""

    promote: bool
    checks: list[GateCheck] = field(default_factory=list)
    comparison: ChampionComparison | None = None

    @property
    def label(self) -> str:
        return "promoted" if self.promote else "kept_champion"

    @property
    def reason(self) -> str:
        failed = [check for check in self.checks if not check.passed]
        shown = failed if failed else self.checks
        verdict = "all gate checks passed" if not failed else "failed gate checks"
        return f"{verdict}: " + "; ".join(f"{check.name}: {check.detail}" for check in shown)

    def as_tags(self) -> dict[str, Any]:
        """Flat tags for the run and the model version."""
        tags: dict[str, Any] = {"promotion.decision": self.label, "promotion.reason": self.reason}
        for check in self.checks:
            tags[f"promotion.check.{check.name}"] = (
                "passed: " if check.passed else "failed: "
            ) + check.detail
        if self.comparison is not None and self.comparison.champion_version is not None:
            tags["promotion.champion_version"] = self.comparison.champion_version
        return tags


def check_min_metric(
    metric: str, estimate: float, threshold: float | None, lower_is_better: bool
) -> GateCheck | None:
    """The test estimate meets the card's floor (or ceiling, for losses)."""
    if threshold is None:
        return None
    passed = estimate <= threshold if lower_is_better else estimate >= threshold
    relation = "<=" if lower_is_better else ">="
    return GateCheck(
        "min_metric",
        passed,
        f"test {metric} {estimate:.4f} {'' if passed else 'not '}{relation} {threshold:.4f}",
    )


def check_baselines(
    metric: str, low: float, high: float, baselines: dict[str, float], lower_is_better: bool
) -> GateCheck:
    """The whole 95% interval of the primary metric lies on the better side of every baseline."""
    beaten = {
        name: (high < value if lower_is_better else low > value)
        for name, value in baselines.items()
    }
    bound = f"interval [{low:.4f}, {high:.4f}]"
    listing = ", ".join(f"{name} {value:.4f}" for name, value in baselines.items())
    passed = all(beaten.values())
    return GateCheck(
        "beat_baselines",
        passed,
        f"{bound} {'clears' if passed else 'does not clear'} baselines ({listing})",
    )


def check_champion(metric: str, comparison: ChampionComparison) -> GateCheck:
    """Paired bootstrap on the same test rows: lower bound of the challenger's gain above zero."""
    if comparison.champion_version is None:
        return GateCheck("beat_champion", True, "no champion yet: nothing to compare against")
    if comparison.unavailable_reason is not None:
        return GateCheck(
            "beat_champion",
            False,
            f"champion v{comparison.champion_version} cannot score the test rows ({comparison.unavailable_reason[:300]}); "
            "without a comparison the champion is kept: move the alias by hand after review",
        )
    assert (
        comparison.difference is not None
        and comparison.low is not None
        and comparison.high is not None
    )
    passed = comparison.low > 0
    return GateCheck(
        "beat_champion",
        passed,
        f"challenger - champion v{comparison.champion_version} {metric} gain = {comparison.difference:+.4f} "
        f"(95% CI {comparison.low:+.4f} to {comparison.high:+.4f}; P(better) = {comparison.probability_better:.2f})",
    )


def check_robustness(stable_share: float | None, floor: float | None) -> GateCheck | None:
    """Enough test rows keep their output under small perturbations."""
    if floor is None:
        return None
    if stable_share is None:
        return GateCheck(
            "robustness_floor", False, "robustness was not measured, so the floor cannot be shown"
        )
    passed = stable_share >= floor
    return GateCheck(
        "robustness_floor",
        passed,
        f"stable share {stable_share:.3f} {'>=' if passed else '<'} floor {floor:.3f}",
    )


def check_latency(latency_ms: float | None, budget_ms: float | None) -> GateCheck | None:
    """The measured single-row latency fits the card's budget."""
    if budget_ms is None:
        return None
    if latency_ms is None:
        return GateCheck(
            "latency", False, "latency was not measured, so the budget cannot be shown"
        )
    passed = latency_ms <= budget_ms
    return GateCheck(
        "latency",
        passed,
        f"median single-row latency {latency_ms:.1f} ms {'<=' if passed else '>'} budget {budget_ms:.1f} ms",
    )


def decide_promotion(
    policy: PromotionPolicy,
    metric: str,
    lower_is_better: bool,
    interval: tuple[float, float, float],
    baselines: dict[str, float],
    comparison: ChampionComparison,
    stable_share: float | None = None,
    data_checks: str = "passed",
    latency: tuple[float | None, float | None] = (None, None),
) -> PromotionDecision:
    """Run every gate check of the policy; promote only when all pass."""
    estimate, low, high = interval
    checks = [
        GateCheck(
            "data_checks",
            data_checks == "passed",
            f"data validation and leakage checks {data_checks}",
        )
    ]
    checks += [
        c for c in [check_min_metric(metric, estimate, policy.min_metric, lower_is_better)] if c
    ]
    if policy.beat_baselines:
        checks.append(check_baselines(metric, low, high, baselines, lower_is_better))
    if policy.beat_champion:
        checks.append(check_champion(metric, comparison))
    checks += [
        c
        for c in [check_robustness(stable_share, policy.robustness_floor), check_latency(*latency)]
        if c
    ]
    return PromotionDecision(
        promote=all(check.passed for check in checks), checks=checks, comparison=comparison
    )
