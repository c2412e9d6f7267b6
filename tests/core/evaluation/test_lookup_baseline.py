"""The lookup-table baseline and the paired verdict "is a simple rule enough"."""

from __future__ import annotations

import cloudpickle
import numpy as np
import pandas as pd
import pytest

from mleng.card import DatasetCard
from mleng.data.loading import FeatureColumns
from mleng.evaluation import Predictions, Resampling, Truth, compute_metrics, predict_with
from mleng.evaluation.baselines import fit_baselines
from mleng.evaluation.lookup import LookupTable, fit_lookup_table
from mleng.evaluation.simple import SimpleInputs, build_rule_model, weigh_simple_baselines
from mleng.tracking.contract import predict_frame, validate_rows
from mleng.training.cv import build_pipeline
from tests.helpers import ADULT, ADULT_CATEGORICAL, ADULT_NUMERIC

RATES = {"A": 0.1, "B": 0.3, "C": 0.7, "D": 0.9}


def segment_rows(n: int, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    """The label depends on `segment` alone (the Bayes-optimal model is a four-cell table); the
    other columns are noise, `ticket` a unique id that fits the training rows perfectly."""
    rng = np.random.default_rng(seed)
    segment = rng.choice(list(RATES), size=n)
    positive = rng.random(n) < np.vectorize(RATES.get)(segment)
    frame = pd.DataFrame(
        {
            "segment": segment,
            "noise": rng.normal(size=n),
            "colour": rng.choice(["red", "green", "blue"], size=n),
            "ticket": [f"t{seed}-{i}" for i in range(n)],
        }
    )
    return frame, pd.Series(np.where(positive, "yes", "no"), name="y")


def test_the_table_picks_the_informative_column_on_training_folds_not_a_memorising_id():
    frame, y = segment_rows(3000, seed=0)
    table = LookupTable().fit(frame, y)
    assert [cells.column for cells in table.features_] == ["segment"]
    assert "segment" in table.describe()


def test_cells_answer_with_smoothed_class_shares_unseen_values_with_the_overall_ones():
    frame, y = segment_rows(4000, seed=1)
    table = LookupTable(max_features=1).fit(frame, y)
    proba = table.predict_proba(frame)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    for segment, rate in RATES.items():
        share = proba[frame["segment"].to_numpy() == segment, 1]
        assert share == pytest.approx(np.full(len(share), rate), abs=0.05)
    unseen = pd.DataFrame({"segment": ["Z"], "noise": [0.0], "colour": ["red"], "ticket": ["x"]})
    np.testing.assert_allclose(
        table.predict_proba(unseen)[0], [(y == "no").mean(), (y == "yes").mean()]
    )


def test_missing_values_are_a_cell_of_their_own_and_numbers_are_cut_at_quantiles():
    rng = np.random.default_rng(2)
    x = rng.normal(size=3000)
    x[:600] = np.nan  # missing rows are mostly positive
    y = np.where(np.isnan(x), rng.random(3000) < 0.9, rng.random(3000) < 0.2)
    frame = pd.DataFrame({"x": x})
    table = LookupTable(max_features=1, n_bins=4).fit(frame, y)
    assert len(table.features_[0].edges) == 3
    proba = table.predict_proba(frame)[:, 1]
    assert proba[:600].mean() == pytest.approx(0.9, abs=0.04)
    assert proba[600:].mean() == pytest.approx(0.2, abs=0.04)


def test_a_regression_table_answers_with_cell_means():
    rng = np.random.default_rng(3)
    group = rng.choice(["low", "high"], size=2000)
    value = np.where(group == "high", 100.0, 10.0) + rng.normal(size=2000)
    table = LookupTable(task="regression").fit(pd.DataFrame({"group": group}), value)
    predicted = table.predict(pd.DataFrame({"group": ["low", "high"]}))
    np.testing.assert_allclose(predicted, [10.0, 100.0], atol=0.2)
    assert not hasattr(table, "classes_")


def card() -> DatasetCard:
    values = {"name": "s", "path": "s.csv", "target": "y", "task": "binary", "model_name": "s"}
    return DatasetCard.model_validate(values | {"positive_label": "yes"})


def verdict_for(model, train, test, card: DatasetCard):
    (train_x, train_y), (test_x, test_y) = train, test
    fitted = fit_baselines("binary", train_x, train_y, 0)
    fitted["lookup_table"] = fit_lookup_table("binary", train_x, train_y, 0)
    baselines = {name: predict_with(m, test_x) for name, m in fitted.items()}
    truth = Truth("binary", test_y, "yes")
    scores = {name: compute_metrics(truth, p) for name, p in baselines.items()}
    inputs = SimpleInputs(truth, predict_with(model, test_x), baselines, scores, fitted)
    return weigh_simple_baselines(card, inputs, Resampling(500, seed=0))


def test_a_one_column_rule_as_good_as_any_model_is_recommended():
    train_x, train_y = segment_rows(4000, seed=4)
    test_x, test_y = segment_rows(1500, seed=5)
    columns = FeatureColumns(["noise"], ["segment", "colour"])
    segments = DatasetCard.model_validate(
        {"name": "s", "path": "s.csv", "target": "y", "task": "binary", "model_name": "s"}
    )
    params = {"learning_rate": 0.1, "max_iter": 60}
    model = build_pipeline(segments, columns, "hist_gradient_boosting", params, 0)
    model.fit(train_x, train_y)
    verdict = verdict_for(model, (train_x, train_y), (test_x, test_y), card())
    assert verdict.baseline == "lookup_table"
    assert verdict.simple_is_enough
    assert verdict.gain.low <= 0
    assert "is not worse than the model" in verdict.sentence()
    assert "prefer_simple" in verdict.sentence()


def test_a_model_that_clearly_beats_the_table_is_not_told_to_step_aside():
    rows = pd.read_csv(ADULT).sample(n=6000, random_state=0)
    y = rows.pop("class").str.strip(" .").map({">50K": "yes", "<=50K": "no"})
    columns = FeatureColumns(ADULT_NUMERIC, ADULT_CATEGORICAL)
    train, test = slice(0, 4500), slice(4500, None)
    adult = DatasetCard.model_validate(
        {"name": "a", "path": "a.csv", "target": "class", "task": "binary", "model_name": "a"}
    )
    params = {"learning_rate": 0.1, "max_iter": 150}
    model = build_pipeline(adult, columns, "hist_gradient_boosting", params, 0)
    model.fit(rows.iloc[train], y.iloc[train])
    data = ((rows.iloc[train], y.iloc[train]), (rows.iloc[test], y.iloc[test]))
    verdict = verdict_for(model, *data, card())
    assert verdict.measure == "roc_auc" and verdict.gain.low > 0
    assert not verdict.simple_is_enough
    assert verdict.sentence().startswith("The model beats the best simple baseline")


def test_the_rule_as_a_model_takes_raw_rows_through_the_contract_and_pickles():
    train_x, train_y = segment_rows(2000, seed=6)
    rule = fit_lookup_table("binary", train_x, train_y, 0)
    model = build_rule_model(rule, ["noise"], ["segment", "colour", "ticket"], train_x)
    rows = validate_rows(train_x.head(20), ["noise"], ["segment", "colour", "ticket"])
    restored = cloudpickle.loads(cloudpickle.dumps(model))
    out = predict_frame(restored, rows)
    assert list(out.columns) == ["prediction", "probability_no", "probability_yes"]
    np.testing.assert_array_equal(out["prediction"], rule.predict(train_x.head(20)))
    np.testing.assert_allclose(out["probability_yes"], rule.predict_proba(train_x.head(20))[:, 1])
    assert isinstance(predict_with(model, rows), Predictions)
