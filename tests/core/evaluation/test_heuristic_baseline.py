"""The card's heuristic baseline predicts by its rule and fails clearly on a bad one."""

import numpy as np
import pandas as pd
import pytest

from mleng.evaluation import Truth, compute_metrics, fit_heuristic_baseline, predict_with

FRAME = pd.DataFrame({"capital-gain": [0, 7000, 100, 9000], "age": [20, 50, 30, 60]})
LABELS = pd.Series(["<=50K", ">50K", "<=50K", "<=50K"])


def test_rule_predicts_then_where_the_condition_holds():
    model = fit_heuristic_baseline(
        "`capital-gain` > 5000", ">50K", "<=50K", "binary", FRAME, LABELS
    )
    assert model.predict(FRAME).tolist() == ["<=50K", ">50K", "<=50K", ">50K"]
    metrics = compute_metrics(Truth("binary", LABELS, ">50K"), predict_with(model, FRAME))
    assert metrics["accuracy"] == 0.75 and metrics["roc_auc"] == pytest.approx((1 + 2 / 3) / 2)


def test_regression_rule_is_a_value():
    model = fit_heuristic_baseline("age * 2", None, None, "regression", FRAME, FRAME["age"])
    assert np.allclose(model.predict(FRAME), [40, 100, 60, 120])


def test_bad_expression_names_itself_and_the_fix():
    with pytest.raises(ValueError, match=r"'capital_gain > 1' cannot be evaluated.*backquote"):
        fit_heuristic_baseline("capital_gain > 1", ">50K", "<=50K", "binary", FRAME, LABELS)


def test_labels_must_be_target_values():
    with pytest.raises(ValueError, match=r"labels \['high'\] are not target values"):
        fit_heuristic_baseline("age > 40", "high", "<=50K", "binary", FRAME, LABELS)
