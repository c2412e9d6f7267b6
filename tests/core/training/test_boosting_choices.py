"""Cheaper, better boosting trials: early stopping, cheap looks on fewer rows, native
categoricals, a skewed target's transform, and the optional LightGBM and XGBoost families."""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import TransformedTargetRegressor
from sklearn.pipeline import Pipeline

from mleng.card import DatasetCard
from mleng.data.loading import FeatureColumns
from mleng.errors import CardError
from mleng.features.native import NativeCategoricalEncoder
from mleng.search.engine import EarlyStopping, Trial, count_spent, run_search, select_best
from mleng.search.families import choose_families, describe_data
from mleng.search.halving import Halving
from mleng.serving.onnx_path import convert_to_onnx
from mleng.training.cv import (
    FoldSetup,
    build_pipeline,
    cross_validate_pipeline,
    fit_pipeline,
    subsample_training_rows,
)
from mleng.training.estimators import count_iterations
from mleng.training.trials import score_trial
from tests.helpers import ADULT, ADULT_CATEGORICAL, ADULT_NUMERIC
from tests.search_helpers import float_param, int_param

COLUMNS = FeatureColumns(ADULT_NUMERIC, ADULT_CATEGORICAL)


@pytest.fixture(scope="module")
def adult() -> pd.DataFrame:
    return pd.read_csv(ADULT).sample(n=1500, random_state=3).reset_index(drop=True)


def card(**changes) -> DatasetCard:
    values = {
        "name": "a",
        "path": str(ADULT),
        "target": "class",
        "task": "binary",
        "positive_label": ">50K",
        "model_name": "a",
    }
    return DatasetCard.model_validate(values | changes)


def regression_card(families=None) -> DatasetCard:
    values = {"name": "r", "path": "r.csv", "target": "y", "task": "regression", "model_name": "r"}
    if families is not None:
        values["search"] = {"families": families}
    return DatasetCard.model_validate(values)


def test_boosting_stops_early_and_the_trial_logs_its_iterations(adult):
    trial = Trial(
        "hist_gradient_boosting", {"learning_rate": 0.3, "max_iter": 1000}, "coarse", 0, 0
    )
    setup = FoldSetup(card(), 0)
    outcome = score_trial(trial, COLUMNS, adult, adult["class"], setup)
    metrics = outcome.metrics(setup.card)
    assert outcome.error == ""
    assert 1 <= metrics["n_iter"] < 1000  # stopped on its own validation split, far below the cap
    assert metrics["cv_roc_auc_mean"] > 0.8


def test_the_refit_stops_early_on_its_own_split(adult):
    pipeline = build_pipeline(card(), COLUMNS, "hist_gradient_boosting", {"max_iter": 1000}, 0)
    fitted = fit_pipeline(pipeline, adult, adult["class"], FoldSetup(card(), 0))
    assert 1 <= count_iterations(fitted[-1]) < 1000


def test_a_cheap_look_fits_on_its_share_of_each_training_fold_with_classes_in_proportion(adult):
    target = adult["class"]
    setup = FoldSetup(card(), 0, train_fraction=1 / 3)
    train_index = np.arange(0, 1200)
    rows = subsample_training_rows(train_index, target, setup)
    assert len(rows) == pytest.approx(400, abs=2)
    assert set(rows) <= set(train_index)
    share = (target.iloc[rows] == ">50K").mean()
    assert share == pytest.approx((target.iloc[train_index] == ">50K").mean(), abs=0.01)


def test_a_cheap_look_is_scored_on_the_same_whole_validation_folds(adult):
    trial = Trial("logistic_regression", {"C": 1.0}, "coarse", 0, 0, fidelity=1 / 3)
    cheap = score_trial(trial, COLUMNS, adult, adult["class"], FoldSetup(card(), 0))
    full = score_trial(
        Trial("logistic_regression", {"C": 1.0}, "coarse", 0, 1),
        COLUMNS, adult, adult["class"], FoldSetup(card(), 0),
    )  # fmt: skip
    assert cheap.error == "" and np.isfinite(cheap.result.score)
    assert cheap.result.score != full.result.score
    assert cheap.metrics(card())["fidelity"] == pytest.approx(1 / 3)


def test_native_categoricals_give_one_category_column_per_feature(adult):
    params = {"categorical_handling": "native", "max_iter": 50}
    pipeline = build_pipeline(card(), COLUMNS, "hist_gradient_boosting", params, 0)
    assert isinstance(pipeline.named_steps["features"], NativeCategoricalEncoder)
    pipeline.fit(adult, adult["class"])
    model = pipeline[-1]
    assert model.is_categorical_.tolist() == [False] * 6 + [True] * 8
    score = cross_validate_pipeline(pipeline, adult, adult["class"], FoldSetup(card(), 0))
    assert score.mean > 0.85
    unseen = adult.head(3).assign(occupation="astronaut", workclass=None)
    restored = pickle.loads(pickle.dumps(pipeline))
    assert np.allclose(restored.predict_proba(unseen), pipeline.predict_proba(unseen))


def test_native_encoder_caps_categories_and_groups_rare_and_unseen_levels():
    levels = [f"level{i}" for i in range(300)]
    frame = pd.DataFrame({"n": np.arange(3000.0), "c": np.repeat(levels, 10)})
    frame.loc[:4, "c"] = "once"  # 5 rows: below min_count, grouped as other
    encoder = NativeCategoricalEncoder(["n"], ["c"]).fit(frame)
    out = encoder.transform(pd.concat([frame, pd.DataFrame({"n": [1.0], "c": ["new"]})]))
    assert len(out["c"].cat.categories) == 255
    other = 254
    assert out["c"].cat.codes.iloc[-1] == other  # unseen
    assert out["c"].cat.codes.iloc[0] == other  # rare
    assert out["n"].tolist()[:3] == [0.0, 1.0, 2.0]  # numerics unscaled


def test_native_encoder_keeps_missing_values_missing_and_reads_numbers_as_their_text():
    frame = pd.DataFrame({"n": np.arange(40.0), "c": ["1", "2"] * 20})
    encoder = NativeCategoricalEncoder(["n"], ["c"], min_count=1).fit(frame)
    rows = pd.DataFrame({"n": [0.0, 1.0, 2.0, 3.0], "c": [1, None, "2", "9"]})  # raw, mixed
    codes = encoder.transform(rows)["c"].cat.codes.tolist()
    as_text = encoder.transform(rows.assign(c=["1", np.nan, "2", "9"]))["c"].cat.codes.tolist()
    assert codes == as_text == [0, -1, 1, 2]  # 1 reads as "1"; missing stays -1; unseen: other


def test_native_categoricals_are_refused_for_a_family_without_them():
    native = {"type": "categorical", "choices": ["native"]}
    families = {"logistic_regression": {"categorical_handling": native}}
    with pytest.raises(CardError, match="handle categoricals natively"):
        choose_families(card(search={"families": families}), 1000, 14)


def test_categorical_data_adds_the_native_choice_to_boosting_only_and_says_why(adult):
    traits = describe_data(8, adult["class"], "binary")
    choice = choose_families(card(), 1000, 14, traits)
    assert choice.spaces["lightgbm"]["categorical_handling"].choices == [
        "encoded",
        "native",
    ]
    assert "categorical_handling" not in choice.spaces["logistic_regression"]
    assert any("native categoricals" in reason for reason in choice.reasons)


def skewed_rows(n: int = 600) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3))
    target = pd.Series(np.exp(1.0 + x[:, 0] + 0.5 * rng.normal(size=n)), name="y")
    return pd.DataFrame(x, columns=["a", "b", "c"]), target


def test_a_skewed_target_adds_the_transform_choice_and_says_why():
    _, target = skewed_rows()
    traits = describe_data(0, target, "regression")
    assert traits.target_skew > 1
    choice = choose_families(regression_card(), 600, 3, traits)
    for space in choice.spaces.values():
        assert space["target_transform"].choices == ["none", "log", "yeo_johnson"]
    assert any("skewed" in reason for reason in choice.reasons)


def test_a_symmetric_target_gets_no_transform_choice():
    target = pd.Series(np.random.default_rng(0).normal(size=500))
    choice = choose_families(regression_card(), 500, 3, describe_data(0, target, "regression"))
    assert all("target_transform" not in space for space in choice.spaces.values())


def test_a_negative_skewed_target_is_offered_yeo_johnson_but_not_log():
    _, target = skewed_rows()
    choice = choose_families(regression_card(), 600, 3, describe_data(0, target - 50, "regression"))
    assert choice.spaces["ridge"]["target_transform"].choices == ["none", "yeo_johnson"]


@pytest.mark.parametrize("transform", ["log", "yeo_johnson"])
def test_the_target_transform_wraps_only_the_final_estimator_and_predicts_in_target_units(
    transform,
):
    features, target = skewed_rows()
    columns = FeatureColumns(["a", "b", "c"], [])
    params = {"alpha": 1.0, "target_transform": transform}
    pipeline = build_pipeline(regression_card(), columns, "ridge", params, 0)
    assert isinstance(pipeline, Pipeline)
    assert isinstance(pipeline[-1], TransformedTargetRegressor)
    pipeline.fit(features, target)
    predictions = pipeline.predict(features)
    assert np.median(predictions) == pytest.approx(np.median(target), rel=0.25)


def test_a_log_target_beats_the_raw_target_when_the_target_is_exp_of_a_linear_function():
    features, target = skewed_rows()
    columns = FeatureColumns(["a", "b", "c"], [])
    params = {"alpha": 1.0, "target_transform": "log"}
    pipeline = build_pipeline(regression_card(), columns, "ridge", params, 0)
    plain = build_pipeline(regression_card(), columns, "ridge", {"alpha": 1.0}, 0)
    setup = FoldSetup(regression_card(), 0)
    log_rmse = -cross_validate_pipeline(pipeline, features, target, setup).mean
    plain_rmse = -cross_validate_pipeline(plain, features, target, setup).mean
    assert log_rmse < plain_rmse  # the target is exp(linear): a linear fit on its log wins


@pytest.mark.parametrize("family", ["lightgbm", "xgboost"])
@pytest.mark.parametrize("handling", ["encoded", "native"])
def test_optional_boosting_families_fit_through_the_card_and_the_pipeline(adult, family, handling):
    pytest.importorskip(family)
    chosen = card(search={"families": {family: {}}})
    spaces = choose_families(chosen, 1500, 14, describe_data(8, adult["class"], "binary")).spaces
    assert "categorical_handling" in spaces[family]
    params = {"n_estimators": 40, "learning_rate": 0.1, "categorical_handling": handling}
    pipeline = build_pipeline(chosen, COLUMNS, family, params, 0)
    score = cross_validate_pipeline(pipeline, adult, adult["class"], FoldSetup(chosen, 0))
    assert score.mean > 0.85
    # LightGBM stops early under its cap (its trees are not searched); XGBoost fits them all
    assert score.iterations <= 40 if family == "lightgbm" else score.iterations == 40
    fitted = fit_pipeline(pipeline, adult, adult["class"], FoldSetup(chosen, 0))
    assert list(fitted.classes_) == ["<=50K", ">50K"]
    restored = pickle.loads(pickle.dumps(fitted))
    assert (restored.predict(adult.head(20)) == fitted.predict(adult.head(20))).all()


@pytest.mark.parametrize("family", ["lightgbm", "xgboost"])
def test_optional_boosting_regressors_fit_a_skewed_target(family):
    pytest.importorskip(family)
    features, target = skewed_rows()
    columns = FeatureColumns(["a", "b", "c"], [])
    params = {"n_estimators": 50, "target_transform": "log"}
    pipeline = build_pipeline(regression_card({family: {}}), columns, family, params, 0)
    score = cross_validate_pipeline(pipeline, features, target, FoldSetup(regression_card(), 0))
    assert np.isfinite(score.mean) and 0 < score.iterations <= 50


def test_the_onnx_fast_path_falls_back_for_native_categoricals_and_target_transforms(adult):
    native = build_pipeline(
        card(), COLUMNS, "hist_gradient_boosting", {"categorical_handling": "native"}, 0
    ).fit(adult, adult["class"])
    conversion = convert_to_onnx(native, ADULT_NUMERIC, ADULT_CATEGORICAL, adult.head(20))
    assert conversion.onnx_bytes is None and "not convertible" in conversion.reason
    features, target = skewed_rows()
    columns = FeatureColumns(["a", "b", "c"], [])
    params = {"target_transform": "log"}
    wrapped = build_pipeline(regression_card(), columns, "ridge", params, 0).fit(features, target)
    conversion = convert_to_onnx(wrapped, ["a", "b", "c"], [], features.head(20))
    assert conversion.onnx_bytes is None and "TransformedTargetRegressor" in conversion.reason


def test_a_halving_search_on_real_folds_selects_a_full_cost_boosting_trial(adult):
    chosen = card()
    spaces = {
        "hist_gradient_boosting": {
            "learning_rate": float_param(0.05, 0.5, log=True),
            "max_iter": int_param(10, 40),
        }
    }
    setup = FoldSetup(chosen, 0)

    def evaluate(trials):
        return [score_trial(t, COLUMNS, adult, adult["class"], setup).result for t in trials]

    stopping = EarlyStopping(halving=Halving())
    results = run_search(spaces, 8, evaluate, seed=0, stopping=stopping)
    best = select_best(results)
    assert best.trial.fidelity == 1 and best.score > 0.85
    assert any(r.trial.fidelity < 1 for r in results)
    assert count_spent(results) <= 8 + 1e-9


def test_lightgbm_stops_early_on_its_own_held_out_rows_and_clones_with_that_setting():
    from sklearn.base import clone
    from sklearn.datasets import make_regression

    from mleng.training.boosting import LIGHTGBM_TREE_CAP, build_lightgbm

    x, y = make_regression(n_samples=3000, n_features=8, noise=20.0, random_state=0)
    model = build_lightgbm({"learning_rate": 0.3}, "regression", 0, 1).fit(x, y)
    assert 0 < model.n_iter_ < LIGHTGBM_TREE_CAP  # the held-out loss stopped improving
    assert model.get_params()["validation_fraction"] == 0.1
    every_tree = clone(model).set_params(early_stopping=False, n_estimators=25).fit(x, y)
    assert every_tree.n_iter_ == 25
