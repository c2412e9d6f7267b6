"""Should this be machine learning at all: the model against the best simple rule, paired.

The lookup table, the card's heuristic and the zero rule are scored on the same test rows as the
model; the best of them on the gate's measure (the card's metric, or the expected cost when the
card has `costs:`) is compared with the model on identical bootstrap resamples. When the model
is not better within the interval, the report says so plainly, and `promotion.prefer_simple`
registers the rule itself, wrapped like a model (the contract's input coercer, then the rule) so
it gets the same gate, contract and service.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

from mleng.card import DatasetCard
from mleng.data.split import SplitData
from mleng.evaluation.bootstrap import compare_paired
from mleng.evaluation.champion import fit_simple_baselines, predict_baselines, row_costs
from mleng.evaluation.costs import (
    EXPECTED_COST,
    PER_DECISIONS,
    bootstrap_expected_cost,
    compare_costs_paired,
    per_thousand,
)
from mleng.evaluation.lookup import LookupTable
from mleng.evaluation.records import (
    LOWER_IS_BETTER,
    MetricInterval,
    PairedComparison,
    Predictions,
    Resampling,
    Truth,
)
from mleng.features.raw import RawInputCoercer

SIMPLE_CANDIDATES = ("lookup_table", "heuristic", "zero_rule")


@dataclass(frozen=True)
class CostReport:
    """Expected cost per decision of the model and every baseline, with intervals, and the
    model's paired saving against the cheapest baseline (positive: the model saves)."""

    unit: str
    model: MetricInterval
    baselines: dict[str, MetricInterval]
    cheapest_baseline: str
    saving: PairedComparison

    def lines(self) -> list[str]:
        """The report's lines, in cost per 1,000 decisions."""
        rows = [("model", self.model), *self.baselines.items()]
        lines = [
            f"{name}: {format_thousand(interval)} {self.unit} per 1,000 decisions"
            for name, interval in rows
        ]
        s = self.saving
        lines.append(
            f"saving of the model against the cheapest baseline ({self.cheapest_baseline}): "
            f"{per_thousand(s.difference):+,.1f} {self.unit} per 1,000 decisions (95% CI "
            f"{per_thousand(s.low):+,.1f} to {per_thousand(s.high):+,.1f}), paired on the same "
            "test rows"
        )
        return lines


@dataclass(frozen=True)
class SimpleVerdict:
    """The model against the best simple baseline on the same test rows.

    `gain` is oriented so a positive value favours the model (for expected cost: the simple
    rule's cost minus the model's). `simple_is_enough` holds when the gain's lower bound is not
    above zero: the model is not shown to be better than the rule.
    """

    baseline: str
    description: str
    measure: str
    gain: PairedComparison
    n_rows: int
    model: Any = field(repr=False, default=None)  # the fitted simple baseline (raw frames in)
    costs: CostReport | None = None
    human_performance: float | None = None

    @property
    def simple_is_enough(self) -> bool:
        return not self.gain.low > 0

    def as_tags(self) -> dict[str, str]:
        """The verdict as run tags."""
        return {
            "simple.baseline": self.baseline,
            "simple.rule": self.description[:500],
            "simple.enough": str(self.simple_is_enough).lower(),
            "simple.verdict": self.sentence()[:5000],
        }

    def as_metrics(self) -> dict[str, float]:
        """The figures as run metrics: the gain, and costs per 1,000 decisions when there are
        costs (`model_...`, `baseline_<name>_...`, `expected_cost_saving_per_1000...`)."""
        metrics = {}
        named: dict[str, Any] = {"simple_gain": self.gain}
        report = self.costs
        if report is not None:
            named[f"model_{EXPECTED_COST}_per_1000"] = report.model
            for name, interval in report.baselines.items():
                named[f"baseline_{name}_{EXPECTED_COST}_per_1000"] = interval
            named[f"{EXPECTED_COST}_saving_per_1000"] = report.saving
        for key, value in named.items():
            scale = 1.0 if key == "simple_gain" else float(PER_DECISIONS)
            centre = value.difference if isinstance(value, PairedComparison) else value.estimate
            metrics[key] = scale * centre
            metrics[f"{key}_ci_low"] = scale * value.low
            metrics[f"{key}_ci_high"] = scale * value.high
        return metrics

    def sentence(self) -> str:
        """The verdict in one plain sentence for the summary and the model card."""
        g = self.gain
        figures = (
            f"{self.measure} gain of the model {g.difference:+.4f} "
            f"(95% CI {g.low:+.4f} to {g.high:+.4f}) on the same {self.n_rows} test rows"
        )
        if self.simple_is_enough:
            return (
                f"The simple {self.description} ({self.baseline}) is not worse than the model "
                f"within the interval: {figures}. A rule may be enough here; the card's "
                "promotion.prefer_simple: true registers it as the model."
            )
        return f"The model beats the best simple baseline, {self.description}: {figures}."


def describe_baseline(name: str, model: Any, card: DatasetCard) -> str:
    """A simple baseline in words."""
    if isinstance(model, LookupTable):
        return model.describe()
    if name == "heuristic" and card.heuristic_baseline is not None:
        return f"heuristic rule `{card.heuristic_baseline.expression}`"
    return "zero rule (always the same answer)" if name == "zero_rule" else name


def gate_measure(card: DatasetCard) -> str:
    """What the simple comparison weighs: expected cost when the card has costs, else its
    metric."""
    return EXPECTED_COST if card.costs is not None else str(card.metric)


def choose_best_simple(scores: dict[str, dict[str, float]], measure: str) -> str:
    """The simple candidate scoring best on `measure` (lower wins for costs and losses)."""
    present = [name for name in SIMPLE_CANDIDATES if name in scores and measure in scores[name]]
    lower = measure == EXPECTED_COST or measure in LOWER_IS_BETTER
    values = {name: scores[name][measure] for name in present}
    finite = {name: value for name, value in values.items() if np.isfinite(value)}
    pick = min if lower else max
    return pick(finite or values, key=lambda name: (finite or values)[name])


@dataclass(frozen=True)
class SimpleInputs:
    """What the comparison reads: the test truth, the model's and each baseline's predictions
    and test scores, the fitted baselines, and each prediction's row costs when there are
    costs."""

    truth: Truth
    model: Predictions
    baselines: dict[str, Predictions]
    scores: dict[str, dict[str, float]]
    fitted: dict[str, Any]
    row_costs: dict[str, np.ndarray] | None = None  # "model" and every baseline


def gather_simple_inputs(
    card: DatasetCard,
    split: SplitData,
    predictions: Predictions,
    scores: dict[str, dict[str, float]],
    seed: int,
) -> SimpleInputs:
    """The simple baselines refitted on the training rows (the same seed gives the ones scored
    before), their test predictions, and every row's cost when the card has costs."""
    fitted = fit_simple_baselines(card, split, seed)
    baselines = predict_baselines(card, fitted, split.test_x)
    costs = None
    if card.costs is not None:
        costs = {"model": row_costs(card, split.test_y, predictions)}
        costs |= {name: row_costs(card, split.test_y, p) for name, p in baselines.items()}
    truth = Truth(card.task, split.test_y, card.positive_label)
    return SimpleInputs(truth, predictions, baselines, scores, fitted, costs)


def weigh_simple_baselines(
    card: DatasetCard, inputs: SimpleInputs, resampling: Resampling
) -> SimpleVerdict:
    """The paired comparison of the model with the best simple baseline, and the cost report."""
    measure = gate_measure(card)
    best = choose_best_simple(inputs.scores, measure)
    costs = inputs.row_costs
    if measure == EXPECTED_COST and costs is not None:
        gain = compare_costs_paired(costs[best], costs["model"], resampling)
    else:
        gain = compare_paired(
            inputs.truth, measure, inputs.baselines[best], inputs.model, resampling
        )
    report = None
    if costs is not None:
        report = build_cost_report(card, costs, resampling)
    return SimpleVerdict(
        baseline=best,
        description=describe_baseline(best, inputs.fitted[best], card),
        measure=measure,
        gain=gain,
        n_rows=len(np.asarray(inputs.truth.y_true)),
        model=inputs.fitted[best],
        costs=report,
        human_performance=card.evaluation.human_performance,
    )


def build_cost_report(
    card: DatasetCard, row_costs: dict[str, np.ndarray], resampling: Resampling
) -> CostReport:
    """Intervals of the cost per decision of the model and each baseline, and the model's
    paired saving against the cheapest baseline."""
    intervals = {
        name: bootstrap_expected_cost(costs, resampling) for name, costs in row_costs.items()
    }
    model = intervals.pop("model")
    cheapest = min(intervals, key=lambda name: intervals[name].estimate)
    saving = compare_costs_paired(row_costs[cheapest], row_costs["model"], resampling)
    return CostReport(card.costs.unit, model, intervals, cheapest, saving)


def build_rule_model(rule: Any, numeric: list[str], categorical: list[str], rows: Any) -> Pipeline:
    """The fitted rule as a registrable model: the contract's input coercer, then the rule (not
    refitted), so it takes raw rows, types them as the service does and decides as it was
    scored. `rows` (training features) only fit the coercer, which learns nothing but columns."""
    coercer = RawInputCoercer(list(numeric), list(categorical)).fit(rows)
    return Pipeline([("inputs", coercer), ("rule", rule)])


def format_thousand(interval: MetricInterval) -> str:
    """A cost-per-decision interval as the cost of 1,000 decisions: `1,234.5 [1,100.0, 1,350.2]`."""
    low, high = per_thousand(interval.low), per_thousand(interval.high)
    return f"{per_thousand(interval.estimate):,.1f} [{low:,.1f}, {high:,.1f}]"
