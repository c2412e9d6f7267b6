"""The promotion gate: a new model replaces the champion only on evidence, never a point estimate.

Every condition of the card's policy is checked and recorded, passed or not, so a reviewer can
see why a version was (not) promoted without rerunning anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mleng.card import DatasetCard, PromotionPolicy
from mleng.quality.findings import Finding


@dataclass(frozen=True)
class GateCheck:
    """One condition of the gate and what was measured for it."""

    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class MetricGain:
    """Challenger minus champion on one metric (oriented so positive favours the challenger)."""

    metric: str
    difference: float
    low: float
    high: float
    probability_better: float


@dataclass(frozen=True)
class ChampionComparison:
    """The paired comparison with the current champion on the rows neither trained on, or why
    there is none. The first gain is the primary metric's; a second one gates the served labels
    when a tuned threshold decides them."""

    champion_version: str | None
    paired_rows: int = 0
    gains: tuple[MetricGain, ...] = ()
    unavailable_reason: str | None = None

    @property
    def primary(self) -> MetricGain | None:
        return self.gains[0] if self.gains else None


@dataclass(frozen=True)
class PromotionDecision:
    """Whether the challenger becomes champion, with every check behind it.

    `hold` means the evidence was too thin to decide (too few rows neither model saw): the new
    version is kept as challenger, and the champion stays, with the reason saying so.
    """

    promote: bool
    checks: list[GateCheck] = field(default_factory=list)
    comparison: ChampionComparison | None = None
    hold: bool = False

    @property
    def label(self) -> str:
        if self.promote:
            return "promoted"
        return "hold" if self.hold else "kept_champion"

    @property
    def reason(self) -> str:
        failed = [check for check in self.checks if not check.passed]
        shown = failed if failed else self.checks
        verdict = "all gate checks passed" if not failed else "failed gate checks"
        return f"{verdict}: " + "; ".join(f"{check.name}: {check.detail}" for check in shown)

    def withdraw(self, check: GateCheck) -> PromotionDecision:
        """The same decision with one more failed check: not promoted."""
        return PromotionDecision(False, [*self.checks, check], self.comparison, self.hold)

    def as_tags(self) -> dict[str, Any]:
        """Flat tags for the run and the model version."""
        tags: dict[str, Any] = {"promotion.decision": self.label, "promotion.reason": self.reason}
        for check in self.checks:
            tags[f"promotion.check.{check.name}"] = (
                "passed: " if check.passed else "failed: "
            ) + check.detail
        comparison = self.comparison
        if comparison is not None and comparison.champion_version is not None:
            tags["promotion.champion_version"] = comparison.champion_version
            tags["promotion.paired_rows"] = comparison.paired_rows
            if comparison.primary is not None:
                gain = comparison.primary
                tags["promotion.gain"] = f"{gain.difference:.6g}"
                tags["promotion.gain_ci_low"] = f"{gain.low:.6g}"
                tags["promotion.gain_ci_high"] = f"{gain.high:.6g}"
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
    bound = f"test {metric} interval [{low:.4f}, {high:.4f}]"
    listing = ", ".join(f"{name} {value:.4f}" for name, value in baselines.items())
    passed = all(beaten.values())
    return GateCheck(
        "beat_baselines",
        passed,
        f"{bound} {'clears' if passed else 'does not clear'} baselines ({listing})",
    )


def check_champion(comparison: ChampionComparison, min_paired_rows: int) -> GateCheck:
    """Paired bootstrap on rows neither model trained on: the primary metric's gain has a lower
    bound above zero, and the served labels (a second gain, when a threshold decides them) are
    not clearly worse (upper bound of that gain above zero)."""
    version = comparison.champion_version
    if version is None:
        return GateCheck("beat_champion", True, "no champion yet: nothing to compare against")
    if comparison.unavailable_reason is not None:
        return GateCheck(
            "beat_champion",
            False,
            f"champion v{version} cannot be compared "
            f"({comparison.unavailable_reason[:300]}); without a comparison the champion is "
            "kept: move the alias by hand after review",
        )
    if comparison.primary is None:
        return GateCheck(
            "beat_champion",
            False,
            f"only {comparison.paired_rows} test rows were seen by neither the challenger nor "
            f"champion v{version} (promotion.min_paired_rows is {min_paired_rows}): too few to "
            "compare; add fresh rows or lower promotion.min_paired_rows",
        )
    primary, *served = comparison.gains
    passed = primary.low > 0 and all(gain.high > 0 for gain in served)
    details = [
        f"challenger - champion v{version} {gain.metric} gain = {gain.difference:+.4f} "
        f"(95% CI {gain.low:+.4f} to {gain.high:+.4f}; P(better) = {gain.probability_better:.2f})"
        for gain in comparison.gains
    ]
    return GateCheck(
        "beat_champion",
        passed,
        "; ".join(details) + f" on {comparison.paired_rows} rows neither model trained on",
    )


def check_data_warnings(warnings: list[Finding], allowed: bool | list[str]) -> GateCheck:
    """Warn-level data findings block promotion unless the card accepts them (all, or by name)."""
    accepted = (lambda finding: True) if allowed is True else (
        lambda finding: allowed is not False and finding.detector in allowed
    )  # fmt: skip
    blocking = [finding for finding in warnings if not accepted(finding)]
    if not blocking:
        note = f" ({len(warnings)} accepted by promotion.allow_data_warnings)" if warnings else ""
        return GateCheck("data_checks", True, f"data validation and leakage checks passed{note}")
    listing = "; ".join(
        f"{finding.detector} on {', '.join(finding.columns) or 'the table'}" for finding in blocking
    )
    return GateCheck(
        "data_checks",
        False,
        f"{len(blocking)} data warning(s) need review: {listing}; fix the data, or accept them "
        "with promotion.allow_data_warnings in the card (true, or the detector names)",
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
        f"median single-row latency {latency_ms:.1f} ms "
        f"{'<=' if passed else '>'} budget {budget_ms:.1f} ms",
    )


EXPECTED_COST = "expected_cost"


def read_primary(card: DatasetCard) -> tuple[str, bool]:
    """The gate's primary measure and whether it improves downwards: the card's metric, or the
    expected cost per decision when `promotion.primary` is `expected_cost`."""
    if card.promotion.primary == EXPECTED_COST:
        return EXPECTED_COST, True
    return str(card.metric), card.lower_is_better


LOOKUP_BASELINE = "lookup_table"


def select_gate_inputs(
    card: DatasetCard,
    intervals: dict[str, Any],
    baselines: dict[str, dict[str, float]],
    exclude: str | None = None,
) -> tuple[tuple[float, float, float], dict[str, float]]:
    """The primary measure's test interval (estimate, low, high) and each baseline's value of
    it, for `GateEvidence`. `exclude` leaves out the baseline registered as the model itself
    (a rule cannot clear its own score).

    The lookup table is not a gate baseline: it is weighed by the paired model-against-rule
    comparison (tags `simple.*`), whose verdict the report states and `promotion.prefer_simple`
    acts on. Requiring the whole test interval above it would hold back most models trained on
    a few thousand rows, where that interval is wider than the gap."""
    name, _ = read_primary(card)
    primary = intervals[name]
    values = {
        baseline: scores[name]
        for baseline, scores in baselines.items()
        if baseline not in (exclude, LOOKUP_BASELINE) and name in scores
    }
    return (primary.estimate, primary.low, primary.high), values


@dataclass(frozen=True)
class GateEvidence:
    """What the gate decides from: the primary metric's test interval, the baselines' scores,
    the champion comparison, the data findings that only warned, robustness and latency."""

    interval: tuple[float, float, float]
    baselines: dict[str, float]
    comparison: ChampionComparison
    data_warnings: list[Finding] = field(default_factory=list)
    stable_share: float | None = None
    latency_ms: float | None = None


def decide_promotion(
    policy: PromotionPolicy,
    metric: str,
    lower_is_better: bool,
    evidence: GateEvidence,
    max_latency_ms: float | None = None,
) -> PromotionDecision:
    """Run every gate check of the policy; promote only when all pass."""
    estimate, low, high = evidence.interval
    checks = [check_data_warnings(evidence.data_warnings, policy.allow_data_warnings)]
    checks += [
        c for c in [check_min_metric(metric, estimate, policy.min_metric, lower_is_better)] if c
    ]
    if policy.beat_baselines:
        checks.append(check_baselines(metric, low, high, evidence.baselines, lower_is_better))
    comparison = evidence.comparison
    if policy.beat_champion:
        checks.append(check_champion(comparison, policy.min_paired_rows))
    checks += [
        c
        for c in [
            check_robustness(evidence.stable_share, policy.robustness_floor),
            check_latency(evidence.latency_ms, max_latency_ms),
        ]
        if c
    ]
    too_few = (
        policy.beat_champion
        and comparison.champion_version is not None
        and comparison.unavailable_reason is None
        and comparison.primary is None
    )
    return PromotionDecision(
        promote=all(check.passed for check in checks),
        checks=checks,
        comparison=comparison,
        hold=too_few,
    )
