"""The promotion gate: every condition recorded, promotion only when all hold."""

from mleng.card import PromotionPolicy
from mleng.promotion import ChampionComparison, decide_promotion

NO_CHAMPION = ChampionComparison(champion_version=None)
BASELINES = {"zero_rule": 0.5, "random": 0.5}


def decide(
    policy=None,
    interval=(0.85, 0.83, 0.87),
    comparison=NO_CHAMPION,
    lower_is_better=False,
    **kwargs,
):
    return decide_promotion(
        policy or PromotionPolicy(),
        "roc_auc",
        lower_is_better,
        interval,
        BASELINES,
        comparison,
        **kwargs,
    )


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
    tie = ChampionComparison("3", difference=0.01, low=-0.002, high=0.02, probability_better=0.9)
    win = ChampionComparison("3", difference=0.01, low=0.001, high=0.02, probability_better=0.99)
    assert not decide(comparison=tie).promote
    assert decide(comparison=win).promote


def test_unscorable_champion_is_kept():
    broken = ChampionComparison(
        "2", unavailable_reason="ValueError: input rows lack the model's columns ['x']"
    )
    decision = decide(comparison=broken)
    assert not decision.promote and "cannot score" in decision.reason


def test_min_metric_is_a_ceiling_for_losses():
    policy = PromotionPolicy(min_metric=0.4)
    lossy = decide_promotion(
        policy, "log_loss", True, (0.35, 0.3, 0.38), {"zero_rule": 0.55}, NO_CHAMPION
    )
    assert lossy.promote
    too_lossy = decide_promotion(
        policy, "log_loss", True, (0.45, 0.42, 0.48), {"zero_rule": 0.55}, NO_CHAMPION
    )
    assert not too_lossy.promote and "min_metric" in too_lossy.reason


def test_robustness_floor_needs_a_measurement():
    policy = PromotionPolicy(robustness_floor=0.9)
    assert not decide(policy).promote
    assert not decide(policy, stable_share=0.8).promote
    assert decide(policy, stable_share=0.95).promote


def test_failed_data_checks_block_promotion():
    assert not decide(data_checks="failed").promote


def test_latency_budget_is_checked_when_the_card_sets_one():
    assert decide(latency=(12.0, 20.0)).promote
    slow = decide(latency=(35.0, 20.0))
    assert (
        not slow.promote and "latency" in slow.reason and "35.0 ms > budget 20.0 ms" in slow.reason
    )
