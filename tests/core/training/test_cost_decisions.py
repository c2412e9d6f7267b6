"""Decisions that minimise the card's expected cost: a binary threshold tuned out of fold, and a
multiclass Bayes decision shipped inside the model."""

from __future__ import annotations

import cloudpickle
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from mleng.card import DatasetCard
from mleng.card.costs import CostSettings
from mleng.data.loading import FeatureColumns
from mleng.evaluation.costs import build_cost_matrix
from mleng.tracking.contract import output_columns, predict_frame
from mleng.training.cv import FoldSetup, build_pipeline
from mleng.training.threshold import (
    CostDecisionClassifier,
    attach_cost_decision,
    attach_threshold,
    describe_decision_rule,
    read_threshold,
    tune_cost_threshold,
    tune_out_of_fold_threshold,
    tune_threshold,
    unwrap_pipeline,
)
from tests.helpers import ADULT, ADULT_CATEGORICAL, ADULT_NUMERIC

TEN_TO_ONE = {"false_positive": 1.0, "false_negative": 10.0}
COLUMNS = FeatureColumns(ADULT_NUMERIC, ADULT_CATEGORICAL)


def calibrated_scores(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from calibrated probabilities: P(positive | p) = p, 30% positives."""
    rng = np.random.default_rng(seed)
    proba = rng.beta(1.2, 2.8, size=n)
    labels = np.where(rng.random(n) < proba, "yes", "no")
    return labels, proba


def mean_cost(labels: np.ndarray, proba: np.ndarray, threshold: float) -> float:
    flagged = proba >= threshold
    positive = labels == "yes"
    return float((10.0 * (positive & ~flagged) + 1.0 * (~positive & flagged)).mean())


def test_when_misses_cost_ten_false_alarms_the_threshold_drops_below_the_balanced_one():
    labels, proba = calibrated_scores(6000, seed=1)
    matrix = build_cost_matrix(CostSettings(**TEN_TO_ONE), np.array(["no", "yes"]), "yes")
    by_cost = tune_cost_threshold(labels, proba, matrix, "yes")
    balanced = tune_threshold(labels, proba, "balanced_accuracy", "yes")
    assert by_cost.threshold < balanced.threshold
    # Calibrated probabilities: the Bayes threshold is 1 / (1 + 10).
    assert by_cost.threshold == pytest.approx(1 / 11, abs=0.03)
    assert by_cost.metric == "expected_cost"
    assert by_cost.score == pytest.approx(mean_cost(labels, proba, by_cost.threshold))
    assert by_cost.score < by_cost.score_at_half == pytest.approx(mean_cost(labels, proba, 0.5))
    # On fresh rows from the same process the tuned threshold is cheaper than 0.5 as well.
    fresh_labels, fresh_proba = calibrated_scores(6000, seed=2)
    assert mean_cost(fresh_labels, fresh_proba, by_cost.threshold) < mean_cost(
        fresh_labels, fresh_proba, 0.5
    )


def test_flagging_nobody_is_chosen_when_every_false_alarm_costs_more_than_a_catch_saves():
    labels = np.array(["no", "yes", "yes", "no", "no"])
    proba = np.array([0.9, 0.8, 0.6, 0.3, 0.1])
    matrix = build_cost_matrix(
        CostSettings(false_positive=100.0, false_negative=1.0), np.array(["no", "yes"]), "yes"
    )
    choice = tune_cost_threshold(labels, proba, matrix, "yes")
    assert choice.threshold > proba.max()
    assert choice.score == pytest.approx(2 / 5)  # two misses at 1 each, over five decisions


def adult_card(**changes) -> DatasetCard:
    values = {
        "name": "a",
        "path": str(ADULT),
        "target": "class",
        "task": "binary",
        "positive_label": ">50K",
        "model_name": "a",
    }
    return DatasetCard.model_validate(values | changes)


def test_costs_win_over_the_threshold_metric_out_of_fold_and_lower_the_threshold():
    rows = pd.read_csv(ADULT).sample(n=3000, random_state=4)  # about 24% positives
    rows["class"] = rows["class"].str.strip(" .")
    features, target = rows[COLUMNS.all], rows["class"]
    both = adult_card(imbalance={"threshold_metric": "balanced_accuracy"}, costs=TEN_TO_ONE)
    balanced = adult_card(imbalance={"threshold_metric": "balanced_accuracy"})
    pipeline = build_pipeline(both, COLUMNS, "logistic_regression", {"C": 1.0}, 0)
    by_cost = tune_out_of_fold_threshold(pipeline, features, target, FoldSetup(both, seed=0))
    by_balance = tune_out_of_fold_threshold(pipeline, features, target, FoldSetup(balanced, seed=0))
    assert by_cost.metric == "expected_cost" and by_balance.metric == "balanced_accuracy"
    assert by_cost.threshold < by_balance.threshold
    assert by_cost.score < by_cost.score_at_half
    model = attach_threshold(pipeline.fit(features, target), by_cost, ">50K", features, target)
    assert read_threshold(model) == pytest.approx(by_cost.threshold)
    assert "minimum expected cost" in describe_decision_rule(both, model)


def three_classes(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, n)
    frame = pd.DataFrame({"x": rng.normal(size=n) + truth, "z": rng.normal(size=n)})
    return frame, np.array(["cat", "dog", "eel"])[truth]


def test_a_multiclass_model_decides_by_least_expected_cost_and_survives_pickling():
    frame, labels = three_classes(600, seed=0)
    fitted = LogisticRegression().fit(frame, labels)
    card = DatasetCard.model_validate(
        {
            "name": "m",
            "path": "m.csv",
            "target": "y",
            "task": "multiclass",
            "model_name": "m",
            # Calling an eel a cat is very expensive; nothing else costs much.
            "costs": {
                "matrix": {
                    "cat": {"dog": 1, "eel": 1},
                    "dog": {"cat": 1, "eel": 1},
                    "eel": {"cat": 50, "dog": 1},
                }
            },
        }
    )
    model = attach_cost_decision(fitted, card, pd.Series(labels))
    assert isinstance(model, CostDecisionClassifier)
    proba = fitted.predict_proba(frame)
    expected = model.classes_[np.argmin(proba @ np.array(model.costs), axis=1)]
    np.testing.assert_array_equal(model.predict(frame), expected)
    most_probable = fitted.predict(frame)
    assert (model.predict(frame) == "cat").sum() < (most_probable == "cat").sum()
    np.testing.assert_allclose(model.predict_proba(frame), proba)
    assert unwrap_pipeline(model) is fitted and read_threshold(model) is None
    restored = cloudpickle.loads(cloudpickle.dumps(model))
    np.testing.assert_array_equal(restored.predict(frame), model.predict(frame))
    out = predict_frame(restored, frame)
    assert list(out.columns) == output_columns(model)
    np.testing.assert_array_equal(out["prediction"], expected)
    assert "least expected cost" in describe_decision_rule(card, model)


def test_a_cost_matrix_of_the_wrong_shape_is_refused():
    frame, labels = three_classes(100, seed=1)
    fitted = LogisticRegression().fit(frame, labels)
    with pytest.raises(ValueError, match="does not fit the 3 classes"):
        CostDecisionClassifier(fitted, [[0, 1], [1, 0]]).fit()
