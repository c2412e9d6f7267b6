"""The model card's "is it worth it" section: figures, requirements met or not, and the reasons
that apply."""

from __future__ import annotations

from mleng.card import DatasetCard
from mleng.evaluation import MetricInterval, PairedComparison
from mleng.evaluation.simple import CostReport, SimpleVerdict
from mleng.quality.findings import Finding
from mleng.reports.model_card import ModelCardFacts, WorthInputs, describe_worth, render_model_card


def card(**changes) -> DatasetCard:
    values = {"name": "w", "path": "w.csv", "target": "y", "task": "binary", "model_name": "w"}
    return DatasetCard.model_validate(values | changes)


def verdict(low: float, costs: CostReport | None = None) -> SimpleVerdict:
    gain = PairedComparison("roc_auc", low + 0.01, low, low + 0.02, 0.9)
    return SimpleVerdict(
        "lookup_table", "lookup table on `segment`", "roc_auc", gain, 500, None, costs
    )


def test_a_rule_as_good_as_the_model_and_too_little_data_are_named_as_reasons():
    curve = Finding("learning_curve", (), {}, "warn", "the learning curve still rises: more rows")
    inputs = WorthInputs(
        card(requirements={"max_latency_ms": 5.0}, evaluation={"human_performance": 0.7}),
        verdict(low=-0.01),
        None,
        9.0,
        [curve],
        "random_forest",
        MetricInterval(0.81, 0.79, 0.83, "percentile"),
    )
    lines = describe_worth(inputs)
    assert "is not worse than the model" in lines[0]
    assert any(line.startswith("human performance") and "0.8100" in line for line in lines)
    assert "latency: budget 5 ms NOT met (median single-row latency 9.0 ms)" in lines
    assert "reason, a simple rule nearly as good: lookup table on `segment`" in lines
    assert "reason, too little data: the learning curve still rises: more rows" in lines
    assert "cost of errors: not weighed (the card has no costs: block)" in lines
    text = render_model_card(ModelCardFacts(model_name="w", worth=lines))
    assert "## Is it worth it" in text


def test_a_model_that_saves_money_and_beats_the_rule_lists_no_reason_against_it():
    interval = MetricInterval(0.4, 0.35, 0.45, "percentile")
    saving = PairedComparison("expected_cost", 0.1, 0.05, 0.15, 1.0)
    costs = CostReport("EUR", interval, {"zero_rule": interval}, "zero_rule", saving)
    costly = card(costs={"false_positive": 1, "false_negative": 5})
    lines = describe_worth(WorthInputs(costly, verdict(low=0.02, costs=costs), None, 1.0, [], "x"))
    assert not any(line.startswith("reason") for line in lines)
    assert any("+100.0 EUR per 1,000 decisions" in line for line in lines)
    assert "explainability: not required" in lines


def test_the_learning_curve_extrapolation_is_weighed_beside_the_model():
    more = "+0.01 roc_auc needs about 52,000 training rows (1.3x today's 40,000)"
    inputs = WorthInputs(card(), verdict(low=0.02), None, 1.0, [], "x", None, more)
    lines = describe_worth(inputs)
    assert f"more data (learning-curve extrapolation): {more}" in lines
    without = describe_worth(WorthInputs(card(), verdict(low=0.02), None, 1.0, [], "x"))
    assert not any(line.startswith("more data") for line in without)
