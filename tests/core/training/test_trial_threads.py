"""Trials side by side share the cores without oversubscribing them, and a boosting trial on a
tiny fold still fits (its early stopping steps aside when its split cannot be made)."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.pipeline import Pipeline

from mleng.card import DatasetCard
from mleng.card.runner import TrialRunnerSettings
from mleng.training.cv import FoldSetup, fit_fold_models, guard_early_stopping, limit_threads
from tasks.runners import plan_workers


def test_a_forest_in_a_trial_side_by_side_uses_only_its_share_of_the_cores() -> None:
    pipeline = Pipeline([("model", RandomForestClassifier(n_jobs=-1))])
    assert limit_threads(pipeline, 1).get_params()["model__n_jobs"] == 1
    untouched = Pipeline([("model", RandomForestClassifier(n_jobs=-1))])
    assert limit_threads(untouched, None).get_params()["model__n_jobs"] == -1


def test_workers_times_threads_never_exceed_the_cores() -> None:
    for workers in (1, 2, 3, 8):
        trials, threads = plan_workers(TrialRunnerSettings(workers=workers))
        assert trials == workers and threads >= 1
        assert trials * threads <= max(trials, len(os.sched_getaffinity(0)))


def test_an_address_is_refused_for_a_runner_that_is_not_dask() -> None:
    with pytest.raises(ValueError, match="runner.address is for kind 'dask'"):
        TrialRunnerSettings(kind="threads", address="tcp://10.0.0.5:8786")


def tiny_rare_class(rows: int = 60) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    features = pd.DataFrame({"x": rng.normal(size=rows)})
    labels = np.where(features["x"] > 0, "a", "b").astype(object)
    labels[0] = "c"  # one row of a third class: a stratified validation split cannot be made
    return features, pd.Series(labels)


def test_early_stopping_steps_aside_when_the_training_rows_cannot_spare_a_validation_split():
    features, target = tiny_rare_class()
    boosting = HistGradientBoostingClassifier(early_stopping=True, validation_fraction=0.1)
    with pytest.raises(ValueError):
        Pipeline([("model", boosting)]).fit(features, target)
    guarded = guard_early_stopping(Pipeline([("model", boosting)]), target, "multiclass")
    assert guarded.get_params()["model__early_stopping"] is False
    assert guarded.fit(features, target).predict(features).shape == (len(features),)


def test_early_stopping_stays_on_where_the_rows_allow_it():
    rng = np.random.default_rng(1)
    features = pd.DataFrame({"x": rng.normal(size=2000)})
    target = pd.Series(np.where(features["x"] > 0, "a", "b"))
    pipeline = Pipeline([("model", HistGradientBoostingClassifier(early_stopping=True))])
    assert guard_early_stopping(pipeline, target, "binary").get_params()["model__early_stopping"]


def test_folds_fitted_at_once_are_the_folds_fitted_one_after_another_on_one_thread_each() -> None:
    rng = np.random.default_rng(3)
    features = pd.DataFrame({"a": rng.normal(size=600), "b": rng.normal(size=600)})
    target = pd.Series(np.where(features["a"] + rng.normal(size=600) > 0, "yes", "no"))
    card = DatasetCard.model_validate(
        {"name": "t", "path": "t.csv", "target": "y", "task": "binary", "model_name": "t"}
    )
    forest = Pipeline(
        [("model", RandomForestClassifier(n_estimators=20, n_jobs=-1, random_state=0))]
    )
    setup = FoldSetup(card, seed=0)
    one_by_one = list(fit_fold_models(forest, features, target, setup))
    at_once = list(fit_fold_models(forest, features, target, setup, at_once=True))
    assert [f.valid_index.tolist() for f in at_once] == [f.valid_index.tolist() for f in one_by_one]
    for fold, again in zip(one_by_one, at_once, strict=True):
        rows = features.iloc[fold.valid_index]
        np.testing.assert_allclose(again.model.predict_proba(rows), fold.model.predict_proba(rows))
        assert again.model.get_params()["model__n_jobs"] == 1
    assert forest.get_params()["model__n_jobs"] == -1  # the caller's pipeline keeps its cores
