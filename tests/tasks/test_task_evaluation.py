"""tasks.evaluation: baselines, the test metrics with intervals, the paired comparison with the
champion, and the gate."""

from __future__ import annotations

import numpy as np
import pytest
from mlflow import MlflowClient

from mleng.data.split import split_dataset
from mleng.evaluation import predict_with
from mleng.promotion import ChampionComparison, GateEvidence, MetricGain
from mleng.quality.findings import Finding
from mleng.tracking.lineage import describe_lineage
from tasks.data import split_data
from tasks.evaluation import (
    compare_with_champion,
    evaluate_baselines,
    evaluate_on_test,
    gate_promotion,
)
from tasks.registry import register_model
from tests.tasks.task_helpers import BOOTSTRAP_RESAMPLES, COLUMNS, SEED, gate_evidence

CLASSIFICATION_METRICS = ("accuracy", "balanced_accuracy", "f1", "roc_auc", "log_loss")
# Gate evidence in the primary metric (roc_auc): an interval clear of both baselines.
CLEAR_INTERVAL = (0.9, 0.88, 0.92)
BASELINES = {"zero_rule": 0.5, "random": 0.51}
NO_CHAMPION = ChampionComparison(champion_version=None)


def promote_champion(open_context, card, model, frame, log_keys: bool = True) -> str:
    """Register `model` as champion from a run of its own (that logged its training keys)."""
    context = open_context(card, run_name="champion-run")
    if log_keys:
        split = split_data.fn(context, frame, COLUMNS)
    else:
        split = split_dataset(frame, card, COLUMNS)
    decision = gate_promotion.fn(context, GateEvidence(CLEAR_INTERVAL, BASELINES, NO_CHAMPION))
    lineage = describe_lineage(card, "digest", SEED)
    return register_model.fn(context, model, split, decision, lineage.as_tags()).version


def test_evaluate_baselines_scores_zero_rule_and_random_on_the_test_rows_and_logs_them(
    context, client: MlflowClient, split
):
    scores = evaluate_baselines.fn(context, split)

    assert set(scores) == {"zero_rule", "random", "lookup_table"}
    assert scores["zero_rule"]["roc_auc"] == pytest.approx(0.5)
    majority = split.train_y.value_counts().idxmax()
    assert scores["zero_rule"]["accuracy"] == pytest.approx((split.test_y == majority).mean())
    metrics = client.get_run(context.run_id).data.metrics
    for name, values in scores.items():
        for metric, value in values.items():
            assert metrics[f"baseline_{name}_{metric}"] == pytest.approx(value)


def test_evaluate_baselines_adds_the_card_heuristic_rule(
    make_card, open_context, client: MlflowClient, split
):
    rule = {"expression": "`capital-gain` > 5000", "then": ">50K", "otherwise": "<=50K"}
    context = open_context(make_card(heuristic_baseline=rule))

    scores = evaluate_baselines.fn(context, split)

    assert set(scores) == {"zero_rule", "random", "lookup_table", "heuristic"}
    predicted = np.where(split.test_x["capital-gain"] > 5000, ">50K", "<=50K")
    assert scores["heuristic"]["accuracy"] == pytest.approx((predicted == split.test_y).mean())
    assert "baseline_heuristic_accuracy" in client.get_run(context.run_id).data.metrics


def test_evaluate_on_test_logs_every_metric_with_an_interval_around_its_estimate(
    context, client: MlflowClient, split, fitted_model
):
    predictions, intervals = evaluate_on_test.fn(context, fitted_model, split)

    assert len(predictions.y_pred) == len(split.test_rows)
    assert predictions.proba.shape == (len(split.test_rows), 2)
    assert set(intervals) == set(CLASSIFICATION_METRICS)
    run = client.get_run(context.run_id)
    metrics = run.data.metrics
    for name in CLASSIFICATION_METRICS:
        low, estimate, high = (
            metrics[f"test_{name}_ci_low"],
            metrics[f"test_{name}"],
            metrics[f"test_{name}_ci_high"],
        )
        assert low <= estimate <= high and low < high
        assert (low, estimate, high) == pytest.approx(
            (intervals[name].low, intervals[name].estimate, intervals[name].high)
        )
    assert metrics["test_accuracy"] == pytest.approx(
        (np.asarray(predictions.y_pred) == split.test_y.to_numpy()).mean()
    )
    assert metrics["test_roc_auc"] > 0.8
    assert run.data.params["bootstrap_resamples"] == str(BOOTSTRAP_RESAMPLES)


def test_compare_with_champion_returns_no_champion_version_without_a_champion(
    context, split, fitted_model
):
    predictions = predict_with(fitted_model, split.test_x)

    comparison = compare_with_champion.fn(context, predictions, split)

    assert comparison == ChampionComparison(champion_version=None)


def test_compare_with_champion_pairs_the_challenger_with_the_champion_on_unseen_test_rows(
    card, open_context, adult_sample, split, fitted_model
):
    version = promote_champion(open_context, card, fitted_model, adult_sample)
    context = open_context(card, run_name="challenger-run")
    predictions = predict_with(fitted_model, split.test_x)

    comparison = compare_with_champion.fn(context, predictions, split)

    assert comparison.champion_version == version == "1"
    assert comparison.unavailable_reason is None
    assert comparison.paired_rows == len(split.test_rows)  # the champion trained on none of them
    [gain] = comparison.gains
    assert gain.metric == "roc_auc"
    # The challenger is the champion's own model: the paired gain is exactly zero.
    assert (gain.difference, gain.low, gain.high) == (0.0, 0.0, 0.0)


def test_compare_with_champion_reports_a_champion_whose_run_logged_no_training_keys(
    card, open_context, adult_sample, split, fitted_model
):
    promote_champion(open_context, card, fitted_model, adult_sample, log_keys=False)
    context = open_context(card, run_name="challenger-run")
    predictions = predict_with(fitted_model, split.test_x)

    comparison = compare_with_champion.fn(context, predictions, split)

    assert comparison.champion_version == "1"
    assert comparison.gains == ()
    assert "logged no training-row keys" in comparison.unavailable_reason


def test_gate_promotion_promotes_a_first_model_that_clears_every_baseline(
    context, split, fitted_model
):
    baselines = evaluate_baselines.fn(context, split)
    _, intervals = evaluate_on_test.fn(context, fitted_model, split)

    decision = gate_promotion.fn(context, gate_evidence(intervals, baselines, "roc_auc"))

    assert decision.promote and decision.label == "promoted"
    assert {check.name for check in decision.checks} == {
        "data_checks",
        "beat_baselines",
        "beat_champion",
    }
    assert decision.reason.startswith("all gate checks passed")
    tags = decision.as_tags()
    assert tags["promotion.decision"] == "promoted"
    assert tags["promotion.check.beat_champion"].startswith("passed: no champion yet")


def test_gate_promotion_keeps_the_champion_when_the_interval_does_not_clear_a_baseline(
    context,
):
    evidence = GateEvidence(CLEAR_INTERVAL, {"zero_rule": 0.5, "heuristic": 0.89}, NO_CHAMPION)

    decision = gate_promotion.fn(context, evidence)

    assert not decision.promote and decision.label == "kept_champion"
    [failed] = [check for check in decision.checks if not check.passed]
    assert failed.name == "beat_baselines" and "heuristic 0.8900" in failed.detail
    assert decision.as_tags()["promotion.check.beat_baselines"].startswith("failed: ")


def test_gate_promotion_keeps_the_champion_when_a_data_warning_is_not_accepted(context):
    warning = Finding("class_imbalance", (), {"ratio": 0.3}, "warn", "few positives")
    evidence = GateEvidence(CLEAR_INTERVAL, BASELINES, NO_CHAMPION, data_warnings=[warning])

    decision = gate_promotion.fn(context, evidence)

    assert not decision.promote and decision.label == "kept_champion"
    [failed] = [check for check in decision.checks if not check.passed]
    assert failed.name == "data_checks" and "class_imbalance" in failed.detail


def test_gate_promotion_accepts_data_warnings_the_card_allows(make_card, open_context):
    context = open_context(make_card(promotion={"allow_data_warnings": ["class_imbalance"]}))
    warning = Finding("class_imbalance", (), {"ratio": 0.3}, "warn", "few positives")
    evidence = GateEvidence(CLEAR_INTERVAL, BASELINES, NO_CHAMPION, data_warnings=[warning])

    assert gate_promotion.fn(context, evidence).promote


def test_gate_promotion_fails_a_metric_floor_and_a_latency_budget_the_model_misses(
    make_card, open_context
):
    card = make_card(promotion={"min_metric": 0.99}, requirements={"max_latency_ms": 0.5})
    context = open_context(card)
    evidence = GateEvidence(CLEAR_INTERVAL, BASELINES, NO_CHAMPION, latency_ms=2.0)

    decision = gate_promotion.fn(context, evidence)

    assert not decision.promote
    failed = {check.name for check in decision.checks if not check.passed}
    assert failed == {"min_metric", "latency"}


def test_gate_promotion_holds_when_too_few_rows_are_unseen_by_the_champion(context):
    comparison = ChampionComparison(champion_version="3", paired_rows=40)
    evidence = GateEvidence(CLEAR_INTERVAL, BASELINES, comparison)

    decision = gate_promotion.fn(context, evidence)

    assert not decision.promote and decision.hold and decision.label == "hold"
    assert "only 40 test rows" in decision.reason


def test_gate_promotion_promotes_only_when_the_gain_over_the_champion_is_clear(context):
    def decide(low: float) -> bool:
        gain = MetricGain("roc_auc", 0.02, low, 0.04, 0.97)
        comparison = ChampionComparison("2", paired_rows=500, gains=(gain,))
        evidence = GateEvidence(CLEAR_INTERVAL, BASELINES, comparison)
        return gate_promotion.fn(context, evidence).promote

    assert decide(low=0.001)
    assert not decide(low=-0.001)
