"""tasks.training: candidate families, one search trial as a child run, the validation rows, the
refit, the decision threshold and the latency."""

from __future__ import annotations

import math

import numpy as np
import pytest
from mlflow import MlflowClient
from sklearn.model_selection import FixedThresholdClassifier
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from mleng.search.engine import Trial, TrialResult
from mleng.training.cv import FoldSetup
from tasks.training import (
    choose_candidates,
    choose_validation_rows,
    evaluate_trial,
    measure_latency,
    refit_best,
    tune_decision_threshold,
)
from tests.helpers import SMALL_SEARCH
from tests.tasks.task_helpers import COLUMNS, SEED


def child_runs(client: MlflowClient, context) -> list:
    return client.search_runs(
        [context.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{context.run_id}'"
    )


def test_choose_candidates_keeps_the_card_families_and_tags_them(context, client: MlflowClient):
    spaces = choose_candidates.fn(context, COLUMNS, 1000)

    assert set(spaces) == set(SMALL_SEARCH["families"])
    tags = client.get_run(context.run_id).data.tags
    assert set(tags["search.families"].split(",")) == set(SMALL_SEARCH["families"])


def test_choose_candidates_keeps_only_linear_families_when_explainability_is_required(
    make_card, open_context, client: MlflowClient
):
    context = open_context(make_card(requirements={"explainability": True}))

    spaces = choose_candidates.fn(context, COLUMNS, 1000)

    assert list(spaces) == ["logistic_regression"]
    tags = client.get_run(context.run_id).data.tags
    assert tags["search.families"] == "logistic_regression"
    assert "explainability required" in tags["search.family_reasons"]
    assert "random_forest" in tags["search.family_reasons"]


def test_evaluate_trial_logs_a_finished_child_run_with_its_stage_params_and_cv_metrics(
    context, client: MlflowClient, split
):
    trial = Trial("logistic_regression", {"C": 0.5}, "coarse", 0, 4)
    setup = FoldSetup.for_run(context.card, COLUMNS, SEED, None)

    result = evaluate_trial.fn(context, trial, COLUMNS, split.train_x, split.train_y, setup)

    assert result.trial == trial
    assert 0.8 < result.score < 1.0 and result.score_std >= 0 and result.fit_seconds > 0
    [child] = child_runs(client, context)
    assert child.info.status == "FINISHED"
    assert child.info.run_name == "coarse-004-logistic_regression"
    assert child.data.tags["search.stage"] == "coarse"
    assert child.data.tags["search.round"] == "0"
    assert child.data.tags["model.family"] == "logistic_regression"
    assert "search.error" not in child.data.tags
    assert child.data.params == {"family": "logistic_regression", "C": "0.5"}
    metrics = child.data.metrics
    assert metrics["cv_roc_auc_mean"] == pytest.approx(result.score)
    assert metrics["cv_roc_auc_std"] == pytest.approx(result.score_std)
    assert {"cv_score", "fit_seconds", "wall_seconds"} <= set(metrics)


def test_evaluate_trial_logs_a_loss_in_its_own_direction(
    make_card, open_context, client: MlflowClient, split
):
    context = open_context(make_card(metric="log_loss"))
    trial = Trial("logistic_regression", {"C": 1.0}, "fine", 2, 7)
    setup = FoldSetup.for_run(context.card, COLUMNS, SEED, None)

    result = evaluate_trial.fn(context, trial, COLUMNS, split.train_x, split.train_y, setup)

    [child] = child_runs(client, context)
    assert result.score < 0  # the engine maximises, so a loss is negated
    assert child.data.metrics["cv_log_loss_mean"] == pytest.approx(-result.score)
    assert child.data.tags["search.stage"] == "fine"


def test_evaluate_trial_logs_a_failed_child_run_with_the_error_for_an_invalid_parameter(
    context, client: MlflowClient, split
):
    trial = Trial("logistic_regression", {"C": -1.0}, "coarse", 0, 1)
    setup = FoldSetup.for_run(context.card, COLUMNS, SEED, None)

    result = evaluate_trial.fn(context, trial, COLUMNS, split.train_x, split.train_y, setup)

    assert math.isnan(result.score) and math.isnan(result.score_std)
    [child] = child_runs(client, context)
    assert child.info.status == "FAILED"
    assert child.data.tags["search.stage"] == "coarse"
    assert "InvalidParameterError" in child.data.tags["search.error"]
    assert "'C'" in child.data.tags["search.error"]
    assert child.data.params["C"] == "-1.0"
    assert "cv_roc_auc_mean" not in child.data.metrics
    assert "wall_seconds" in child.data.metrics


def test_choose_validation_rows_returns_none_for_cross_validation(
    context, client: MlflowClient, split
):
    holdout = choose_validation_rows.fn(
        context, COLUMNS, split.train_x, split.train_y, split.test_x
    )

    assert holdout is None
    run = client.get_run(context.run_id)
    assert run.data.tags["search.validation"] == "cv"
    assert "validation_rows" not in run.data.metrics


def test_choose_validation_rows_holds_out_the_share_most_like_the_test_rows_for_adversarial(
    make_card, open_context, client: MlflowClient, split
):
    search = {**SMALL_SEARCH, "validation": "adversarial", "adversarial_fraction": 0.25}
    context = open_context(make_card(search=search))

    holdout = choose_validation_rows.fn(
        context, COLUMNS, split.train_x, split.train_y, split.test_x
    )

    assert holdout.dtype == bool and holdout.shape == (len(split.train_x),)
    assert holdout.sum() == pytest.approx(0.25 * len(split.train_x), abs=2)
    assert set(split.train_y[holdout]) == set(split.train_y)
    run = client.get_run(context.run_id)
    assert run.data.tags["search.validation"] == "adversarial"
    assert run.data.metrics["validation_rows"] == holdout.sum()


def test_refit_best_returns_the_winning_configuration_fitted_on_every_training_row(context, split):
    best = TrialResult(Trial("logistic_regression", {"C": 0.3}, "fine", 1, 5), 0.9, 0.01, 0.1)

    model = refit_best.fn(context, COLUMNS, best, split.train_x, split.train_y)

    assert isinstance(model, Pipeline)
    check_is_fitted(model)
    assert model.get_params()["model__C"] == 0.3
    assert set(model.classes_) == {"<=50K", ">50K"}
    proba = model.predict_proba(split.test_x)
    assert proba.shape == (len(split.test_x), 2)
    assert np.allclose(proba.sum(axis=1), 1.0)


def test_tune_decision_threshold_leaves_the_model_as_is_without_a_threshold_metric(
    context, client: MlflowClient, split, fitted_model
):
    setup = FoldSetup.for_run(context.card, COLUMNS, SEED, None)

    model = tune_decision_threshold.fn(context, fitted_model, split.train_x, split.train_y, setup)

    assert model is fitted_model
    assert "decision_threshold" not in client.get_run(context.run_id).data.params


def test_tune_decision_threshold_wraps_the_model_in_a_fixed_threshold_and_logs_it(
    make_card, open_context, client: MlflowClient, split, fitted_model
):
    context = open_context(make_card(imbalance={"threshold_metric": "balanced_accuracy"}))
    setup = FoldSetup.for_run(context.card, COLUMNS, SEED, None)

    model = tune_decision_threshold.fn(context, fitted_model, split.train_x, split.train_y, setup)

    assert isinstance(model, FixedThresholdClassifier)
    data = client.get_run(context.run_id).data
    threshold = float(data.params["decision_threshold"])
    assert data.params["decision_threshold_metric"] == "balanced_accuracy"
    assert 0.0 < threshold < 0.5  # a quarter of Adult earns >50K: balanced accuracy cuts lower
    assert model.threshold == pytest.approx(threshold, abs=1e-6)
    assert model.pos_label == ">50K"
    tuned = data.metrics["oof_balanced_accuracy_at_threshold"]
    assert tuned >= data.metrics["oof_balanced_accuracy_at_half"]
    proba = fitted_model.predict_proba(split.test_x)[:, list(fitted_model.classes_).index(">50K")]
    expected = np.where(proba >= model.threshold, ">50K", "<=50K")
    assert (model.predict(split.test_x) == expected).all()


def test_measure_latency_logs_the_median_single_row_latency(
    context, client: MlflowClient, split, fitted_model
):
    latency = measure_latency.fn(context, fitted_model, split.test_x)

    assert 0 < latency < 1000
    assert client.get_run(context.run_id).data.metrics["latency_ms_p50"] == pytest.approx(latency)
