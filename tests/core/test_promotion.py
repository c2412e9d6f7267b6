"""The promotion gate: every condition recorded, promotion only when all hold."""

from mleng.card import PromotionPolicy
from mleng.promotion import ChampionComparison, GateEvidence, MetricGain, decide_promotion
from mleng.quality.findings import Finding

NO_CHAMPION = ChampionComparison(champion_version=None)
BASELINES = {"zero_rule": 0.5, "random": 0.5}


def gain(low, difference=0.01, high=0.02, metric="roc_auc", probability=0.9):
    return MetricGain(metric, difference, low, high, probability)


def decide(
    policy=None,
    interval=(0.85, 0.83, 0.87),
    comparison=NO_CHAMPION,
    lower_is_better=False,
    max_latency_ms=None,
    **evidence,
):
    return decide_promotion(
        policy or PromotionPolicy(),
        "roc_auc",
        lower_is_better,
        GateEvidence(interval, BASELINES, comparison, **evidence),
        max_latency_ms=max_latency_ms,
    )


def warning(detector="outliers", column="age"):
    return Finding(detector, (column,), {}, "warn", f"{column} needs a look")


def test_first_good_model_is_promoted_with_every_check_recorded():
    decision = decide()
    assert decision.promote and decision.label == "promoted"
    assert {check.name for check in decision.checks} == {
        "data_checks",
        "beat_baselines",
        "beat_champion",
    }
    assert decision.as_tags()["promotion.check.beat_champion"].startswith("passed: no champion yet")


def test_interval_touching_a_baseline_is_not_enough():
    decision = decide(interval=(0.6, 0.49, 0.7))
    assert not decision.promote
    assert "beat_baselines" in decision.reason and "does not clear" in decision.reason


def test_challenger_must_beat_champion_on_the_lower_bound():
    tie = ChampionComparison("3", paired_rows=500, gains=(gain(-0.002),))
    win = ChampionComparison("3", paired_rows=500, gains=(gain(0.001),))
    assert not decide(comparison=tie).promote
    decision = decide(comparison=win)
    assert decision.promote
    tags = decision.as_tags()
    assert tags["promotion.paired_rows"] == 500 and tags["promotion.gain_ci_low"] == "0.001"
    assert tags["promotion.gain"] == "0.01" and tags["promotion.gain_ci_high"] == "0.02"


def test_served_labels_clearly_worse_block_promotion_despite_a_better_score():
    worse_labels = gain(-0.03, difference=-0.02, high=-0.005, metric="balanced_accuracy")
    comparison = ChampionComparison("3", paired_rows=500, gains=(gain(0.001), worse_labels))
    decision = decide(comparison=comparison)
    assert not decision.promote and "balanced_accuracy gain = -0.0200" in decision.reason


def test_too_few_rows_neither_model_saw_hold_the_decision():
    decision = decide(comparison=ChampionComparison("3", paired_rows=12))
    assert not decision.promote and decision.label == "hold"
    assert "only 12 test rows" in decision.reason and "min_paired_rows" in decision.reason


def test_unscorable_champion_is_kept():
    broken = ChampionComparison(
        "2", unavailable_reason="ValueError: input rows lack the model's columns ['x']"
    )
    decision = decide(comparison=broken)
    assert not decision.promote and decision.label == "kept_champion"
    assert "cannot be compared" in decision.reason


def test_min_metric_is_a_ceiling_for_losses():
    policy = PromotionPolicy(min_metric=0.4)
    baselines = {"zero_rule": 0.55}
    lossy = decide_promotion(
        policy, "log_loss", True, GateEvidence((0.35, 0.3, 0.38), baselines, NO_CHAMPION)
    )
    assert lossy.promote
    too_lossy = decide_promotion(
        policy, "log_loss", True, GateEvidence((0.45, 0.42, 0.48), baselines, NO_CHAMPION)
    )
    assert not too_lossy.promote and "min_metric" in too_lossy.reason


def test_robustness_floor_needs_a_measurement():
    policy = PromotionPolicy(robustness_floor=0.9)
    assert not decide(policy).promote
    assert not decide(policy, stable_share=0.8).promote
    assert decide(policy, stable_share=0.95).promote


def test_a_data_warning_blocks_promotion_naming_the_detector_and_column():
    decision = decide(data_warnings=[warning("single_feature_predictor", "severity")])
    assert not decision.promote
    assert "single_feature_predictor on severity" in decision.reason
    assert "allow_data_warnings" in decision.reason


def test_accepted_data_warnings_no_longer_block_promotion():
    warnings = [warning("outliers", "age"), warning("class_imbalance", "class")]
    accept_all = PromotionPolicy(allow_data_warnings=True)
    assert decide(accept_all, data_warnings=warnings).promote
    by_name = PromotionPolicy(allow_data_warnings=["outliers", "class_imbalance"])
    assert decide(by_name, data_warnings=warnings).promote
    only_one = PromotionPolicy(allow_data_warnings=["outliers"])
    blocked = decide(only_one, data_warnings=warnings)
    assert not blocked.promote and "class_imbalance on class" in blocked.reason


def test_latency_budget_is_checked_when_the_card_sets_one():
    assert decide(latency_ms=12.0, max_latency_ms=20.0).promote
    slow = decide(latency_ms=35.0, max_latency_ms=20.0)
    assert (
        not slow.promote and "latency" in slow.reason and "35.0 ms > budget 20.0 ms" in slow.reason
    )
