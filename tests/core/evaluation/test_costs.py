"""The card's costs: validated strictly, turned into per-decision costs, and an expected cost
whose bootstrap interval covers the truth at about its nominal rate."""

from __future__ import annotations

import numpy as np
import pytest

from mleng.card import DatasetCard
from mleng.card.costs import CostSettings
from mleng.errors import CardError
from mleng.evaluation import Predictions, Resampling
from mleng.evaluation.costs import (
    bootstrap_expected_cost,
    build_cost_matrix,
    compare_costs_paired,
    compute_row_costs,
    decide_with_costs,
)
from mleng.promotion import ChampionComparison, GateEvidence, decide_promotion, read_primary
from tests.helpers import toy_card

BINARY_COSTS = {"false_positive": 1.0, "false_negative": 10.0, "true_positive": -2.0}


def test_binary_costs_fill_the_matrix_by_truth_and_decision():
    matrix = build_cost_matrix(CostSettings(**BINARY_COSTS), np.array(["no", "yes"]), "yes")
    np.testing.assert_array_equal(matrix.values, [[0.0, 1.0], [10.0, -2.0]])
    truth = np.array(["yes", "yes", "no", "no"])
    decided = Predictions(np.array(["yes", "no", "yes", "no"]))
    costs = compute_row_costs(CostSettings(**BINARY_COSTS), truth, decided, matrix)
    np.testing.assert_array_equal(costs, [-2.0, 10.0, 1.0, 0.0])


def test_regression_costs_weigh_over_and_under_prediction_per_unit():
    costs = CostSettings(over_prediction=1.0, under_prediction=3.0)
    row_costs = compute_row_costs(costs, np.array([10.0, 10.0]), Predictions(np.array([12.0, 9.0])))
    np.testing.assert_array_equal(row_costs, [2.0, 3.0])


def test_a_baseline_decides_by_least_expected_cost_on_its_own_probabilities():
    matrix = build_cost_matrix(CostSettings(**BINARY_COSTS), np.array(["no", "yes"]), "yes")
    priors = Predictions(
        np.array(["no", "no"]), np.array([[0.8, 0.2], [0.8, 0.2]]), np.array(["no", "yes"])
    )
    # Predicting "no" costs 0.2 * 10 = 2.0 a row, "yes" 0.8 * 1 - 0.2 * 2 = 0.4: flag everyone.
    assert decide_with_costs(priors, matrix).y_pred.tolist() == ["yes", "yes"]


def card_with(**changes) -> DatasetCard:
    return toy_card("data.csv", **changes)


@pytest.mark.parametrize(
    ("costs", "task", "message"),
    [
        ({"false_positive": 1, "false_negatve": 10}, "binary", "false_negatve"),
        ({"false_positive": 1}, "binary", "both false_positive and false_negative"),
        ({"over_prediction": 1, "under_prediction": 2}, "binary", "written for a regression"),
        ({"false_positive": 1, "false_negative": 2, "over_prediction": 1}, "binary", "exactly one"),
        ({"matrix": {"a": {"b": 1}}}, "regression", "written for a multiclass"),
        ({"over_prediction": -1, "under_prediction": 2}, "regression", "greater than or equal"),
    ],
)
def test_a_bad_costs_block_is_refused_naming_the_fix(costs, task, message):
    from mleng.card import validate_card

    data = {"name": "t", "path": "d.csv", "target": "y", "task": task, "model_name": "t"}
    with pytest.raises(CardError, match=message):
        validate_card(data | {"costs": costs})


def test_expected_cost_as_primary_needs_a_costs_block():
    with pytest.raises(Exception, match="needs a costs: block"):
        card_with(promotion={"primary": "expected_cost"})
    card = card_with(promotion={"primary": "expected_cost"}, costs=BINARY_COSTS)
    assert read_primary(card) == ("expected_cost", True)


def test_a_matrix_label_the_target_lacks_is_a_clear_error():
    costs = CostSettings(matrix={"cat": {"dog": 1.0}, "dog": {"cat": 2.0}, "cow": {"cat": 1.0}})
    with pytest.raises(CardError, match=r"labels \['cow'\] that the target does not hold"):
        build_cost_matrix(costs, np.array(["cat", "dog"]))


def test_a_matrix_without_a_mistakes_cost_or_a_labels_row_is_refused():
    classes = np.array(["cat", "dog", "eel"])
    no_row = CostSettings(matrix={"cat": {"dog": 1, "eel": 1}, "dog": {"cat": 1, "eel": 1}})
    with pytest.raises(CardError, match=r"no row for the target labels \['eel'\]"):
        build_cost_matrix(no_row, classes)
    gap = CostSettings(
        matrix={"cat": {"dog": 1}, "dog": {"cat": 1, "eel": 1}, "eel": {"cat": 1, "dog": 1}}
    )
    with pytest.raises(CardError, match=r"cat->eel"):
        build_cost_matrix(gap, classes)


def test_matrix_labels_match_integer_targets_by_their_text():
    full = CostSettings(
        matrix={0: {1: 5.0, 2: 1.0}, 1: {0: 1.0, "2": 1.0}, "2": {0: 1.0, 1: 3.0, 2: -1.0}}
    )
    values = build_cost_matrix(full, np.array([0, 1, 2])).values
    np.testing.assert_array_equal(values, [[0, 5, 1], [1, 0, 1], [1, 3, -1]])


def test_the_expected_cost_interval_covers_the_true_cost_at_about_the_nominal_rate():
    """Decisions cost 10 (miss), 1 (false alarm), -2 (catch) or 0 with known probabilities, so
    the true expected cost per decision is known; 95% intervals from 300 rows should cover it
    about 95% of the time."""
    values = np.array([10.0, 1.0, -2.0, 0.0])
    shares = np.array([0.08, 0.12, 0.22, 0.58])
    truth = float(values @ shares)
    rng = np.random.default_rng(11)
    covered = []
    for trial in range(300):
        row_costs = rng.choice(values, size=300, p=shares)
        interval = bootstrap_expected_cost(row_costs, Resampling(400, seed=trial))
        assert interval.low <= interval.estimate <= interval.high
        covered.append(interval.low <= truth <= interval.high)
    assert 0.91 <= np.mean(covered) <= 0.98


def test_the_paired_saving_is_positive_when_the_candidate_is_cheaper_on_the_same_rows():
    rng = np.random.default_rng(0)
    reference = rng.choice([0.0, 1.0, 10.0], size=2000, p=[0.7, 0.2, 0.1])
    candidate = np.where(reference == 10.0, 1.0, reference)  # misses turned into false alarms
    result = compare_costs_paired(reference, candidate, Resampling(500, seed=1))
    assert result.difference == pytest.approx(reference.mean() - candidate.mean())
    assert 0 < result.low < result.difference < result.high
    assert result.probability_better == 1.0


def test_the_gate_reads_expected_cost_as_lower_is_better():
    card = card_with(promotion={"primary": "expected_cost"}, costs=BINARY_COSTS)
    metric, lower = read_primary(card)
    cheap = GateEvidence((0.40, 0.35, 0.45), {"zero_rule": 0.80}, ChampionComparison(None))
    dear = GateEvidence((0.40, 0.35, 0.45), {"lookup_table": 0.42}, ChampionComparison(None))
    assert decide_promotion(card.promotion, metric, lower, cheap).promote
    decision = decide_promotion(card.promotion, metric, lower, dear)
    assert not decision.promote
    assert "beat_baselines" in decision.reason and "does not clear" in decision.reason


def test_baselines_are_scored_at_their_cheapest_decision_and_regression_by_side():
    from mleng.evaluation.baselines import fit_baselines
    from mleng.evaluation.champion import predict_baselines, score_with_costs

    rng = np.random.default_rng(4)
    x = rng.normal(size=(400, 1))
    y = np.where(rng.random(400) < 0.2, "yes", "no")
    binary = card_with(positive_label="yes", costs={"false_positive": 1, "false_negative": 10})
    fitted = fit_baselines("binary", x, y, 0)
    zero_rule = predict_baselines(binary, fitted, x)["zero_rule"]
    # 20% positives at 10 a miss cost 2.0 a row when nobody is flagged, 0.8 when all are.
    assert set(zero_rule.y_pred) == {"yes"}
    assert score_with_costs(binary, y, zero_rule)["expected_cost"] == pytest.approx(
        (y == "no").mean()
    )
    values = rng.normal(size=400) * 10 + 50
    regression = toy_card(
        "d.csv", task="regression", costs={"over_prediction": 1, "under_prediction": 4}
    )
    mean = fit_baselines("regression", x, values, 0)["zero_rule"]
    scores = score_with_costs(regression, values, Predictions(mean.predict(x)))
    error = mean.predict(x) - values
    expected = np.mean(np.where(error > 0, error, -4 * error))
    assert scores["expected_cost"] == pytest.approx(expected)
