"""Imbalance strategies touch training rows only, and the tuned threshold earns its keep."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mleng.card import ImbalanceSettings
from mleng.training.ensembles import BalancedChunkEnsemble
from mleng.training.imbalance import (
    AdaptiveSMOTE,
    build_imbalance_pipeline,
    find_categorical_columns,
    imbalance_fit_params,
)
from mleng.training.threshold import (
    freeze_with_threshold,
    predict_with_threshold,
    score_thresholds,
    tune_threshold,
)


def make_imbalanced(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A 95/5 binary problem whose minority class is learnable but rare."""
    return make_classification(
        n, n_features=8, n_informative=4, weights=[0.95, 0.05], flip_y=0.01, random_state=seed
    )


class RecordingClassifier(ClassifierMixin, BaseEstimator):
    """Remembers the rows it was fitted on and asked about; predicts the majority class."""

    def fit(self, X: Any, y: Any) -> RecordingClassifier:
        self.fitted_X_, self.fitted_y_ = np.asarray(X).copy(), np.asarray(y).copy()
        self.classes_ = np.unique(y)
        return self

    def predict(self, X: Any) -> np.ndarray:
        self.predicted_X_ = np.asarray(X).copy()
        return np.full(len(X), self.classes_[0])


@pytest.mark.parametrize("sampler", ["under", "over", "smote"])
def test_resampling_balances_training_rows_but_never_touches_validation_rows(sampler: str) -> None:
    X, y = make_imbalanced()
    X_train, X_valid, y_train, _ = train_test_split(X, y, stratify=y, random_state=0)
    pipeline = Pipeline([("scale", StandardScaler()), ("model", RecordingClassifier())])
    settings = ImbalanceSettings(strategy="resample", sampler=sampler)

    model = build_imbalance_pipeline(pipeline, settings, seed=0).fit(X_train, y_train)
    model.predict(X_valid)

    recorder = model.named_steps["model"]
    assert np.bincount(recorder.fitted_y_).tolist() == [np.bincount(recorder.fitted_y_)[0]] * 2
    assert len(recorder.fitted_y_) != len(y_train)
    expected = model.named_steps["scale"].transform(X_valid)
    np.testing.assert_array_equal(recorder.predicted_X_, expected)


def test_smote_keeps_one_hot_columns_categorical_and_original_rows_first() -> None:
    X, y = make_imbalanced(1000)
    colour = np.where(X[:, 0] > 0, "red", "blue")
    frame = pd.DataFrame({"x": X[:, 1], "z": X[:, 2], "colour": colour})
    encoder = ColumnTransformer(
        [("num", StandardScaler(), ["x", "z"]), ("cat", OneHotEncoder(), ["colour"])]
    )
    encoded = encoder.fit_transform(frame)

    X_new, y_new = AdaptiveSMOTE(random_state=0).fit_resample(encoded, y)

    assert np.bincount(y_new)[0] == np.bincount(y_new)[1]
    np.testing.assert_array_equal(X_new[: len(y)], encoded)
    synthetic = X_new[len(y) :]
    assert set(np.unique(synthetic[:, 2:])) <= {0.0, 1.0}
    assert not np.isin(synthetic[:, 0], encoded[:, 0]).all()  # numerics are interpolated


def test_smote_duplicates_a_class_of_one_row_instead_of_failing() -> None:
    X = np.column_stack([np.arange(10.0), np.arange(10.0) ** 2])
    y = np.array([0] * 9 + [1])

    _, y_new = AdaptiveSMOTE(random_state=0).fit_resample(X, y)

    assert np.bincount(y_new).tolist() == [9, 9]


def test_categorical_columns_found_alike_in_dense_and_sparse_matrices() -> None:
    matrix = np.array([[0.0, 1.0, 0.3, 0.0], [1.0, 0.0, 2.0, 0.0], [0.0, 1.0, -1.0, 0.0]])

    dense = find_categorical_columns(matrix)
    sparse_found = find_categorical_columns(sparse.csr_matrix(matrix))

    assert dense.tolist() == [True, True, False, True]
    assert sparse_found.tolist() == dense.tolist()
    frame = pd.DataFrame({"a": ["x", "y", "x"], "b": [0.5, 1.0, 2.0]})
    assert find_categorical_columns(frame).tolist() == [True, False]


def test_class_weight_sets_balanced_on_a_model_that_takes_it() -> None:
    pipeline = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())])
    settings = ImbalanceSettings(strategy="class_weight")

    model = build_imbalance_pipeline(pipeline, settings, seed=0)

    assert model.named_steps["model"].class_weight == "balanced"
    assert pipeline.named_steps["model"].class_weight is None  # the original is left alone
    assert imbalance_fit_params(model, [0, 0, 1], settings) == {}


def test_class_weight_falls_back_to_balanced_sample_weights() -> None:
    pipeline = Pipeline([("scale", StandardScaler()), ("model", GaussianNB())])
    y = np.array([0] * 9 + [1])

    params = imbalance_fit_params(pipeline, y, ImbalanceSettings(strategy="class_weight"))

    weights = params["model__sample_weight"]
    assert weights[y == 0].sum() == pytest.approx(weights[y == 1].sum())


def test_class_weight_refuses_a_model_without_weights() -> None:
    with pytest.raises(ValueError, match="neither class_weight nor sample_weight"):
        imbalance_fit_params(
            KNeighborsClassifier(), [0, 1], ImbalanceSettings(strategy="class_weight")
        )


def test_balanced_ensemble_replaces_only_the_model_step() -> None:
    pipeline = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())])
    settings = ImbalanceSettings(strategy="balanced_ensemble", voting="hard", max_chunks=4)

    model = build_imbalance_pipeline(pipeline, settings, seed=3)

    assert isinstance(model.named_steps["scale"], StandardScaler)
    ensemble = model.named_steps["model"]
    assert isinstance(ensemble, BalancedChunkEnsemble)
    assert (ensemble.voting, ensemble.random_state, ensemble.max_chunks) == ("hard", 3, 4)
    assert isinstance(ensemble.estimator, LogisticRegression)


def test_settings_demand_a_sampler_for_resampling_only() -> None:
    with pytest.raises(ValidationError, match="needs a sampler"):
        ImbalanceSettings(strategy="resample")
    with pytest.raises(ValidationError, match="only applies to strategy 'resample'"):
        ImbalanceSettings(strategy="class_weight", sampler="smote")
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        ImbalanceSettings(strategy="none", treshold_metric="f1")
    assert ImbalanceSettings(strategy="resample", sampler="smote").label == "resample:smote"


def test_tuned_threshold_beats_half_on_imbalanced_held_out_rows() -> None:
    X, y = make_imbalanced(6000)
    X_rest, X_test, y_rest, y_test = train_test_split(X, y, stratify=y, random_state=0)
    X_fit, X_valid, y_fit, y_valid = train_test_split(
        X_rest, y_rest, stratify=y_rest, random_state=0
    )
    model = LogisticRegression().fit(X_fit, y_fit)

    choice = tune_threshold(y_valid, model.predict_proba(X_valid)[:, 1])

    assert choice.threshold < 0.5
    assert choice.score > choice.score_at_half
    test_proba = model.predict_proba(X_test)[:, 1]
    tuned = balanced_accuracy_score(y_test, predict_with_threshold(test_proba, choice.threshold))
    at_half = balanced_accuracy_score(y_test, predict_with_threshold(test_proba, 0.5))
    assert tuned > at_half + 0.05


def test_a_frozen_model_predicts_with_its_tuned_threshold_without_refitting() -> None:
    X, y = make_imbalanced(1000)
    labels = np.where(y == 1, "rare", "common")
    model = LogisticRegression().fit(X, labels)
    coefficients = model.coef_.copy()

    frozen = freeze_with_threshold(model, 0.2, "rare", X[:50], labels[:50])

    expected = np.where(model.predict_proba(X)[:, 1] >= 0.2, "rare", "common")
    np.testing.assert_array_equal(frozen.predict(X), expected)
    np.testing.assert_array_equal(model.coef_, coefficients)
    assert (frozen.predict(X) == "rare").sum() > (model.predict(X) == "rare").sum()


@pytest.mark.parametrize(
    ("metric", "function"), [("balanced_accuracy", balanced_accuracy_score), ("f1", f1_score)]
)
def test_threshold_scores_equal_scikit_learn_at_every_cut(metric: str, function: Any) -> None:
    rng = np.random.default_rng(0)
    positives = rng.random(300) < 0.1
    proba = np.round(np.clip(0.3 * positives + rng.random(300) * 0.7, 0, 1), 2)  # with ties

    cuts, values = score_thresholds(positives, proba, metric)

    expected = [function(positives, proba >= cut) for cut in cuts]
    np.testing.assert_allclose(values, expected)


def test_tuned_threshold_reads_string_labels_with_a_positive_label() -> None:
    y = np.array(["ok"] * 8 + ["fraud"] * 2)
    proba = np.array([0.1, 0.2, 0.1, 0.3, 0.2, 0.1, 0.25, 0.15, 0.35, 0.4])

    choice = tune_threshold(y, proba, "f1", positive_label="fraud")

    assert choice.score == 1.0
    assert 0.3 < choice.threshold <= 0.35


def test_tuning_refuses_validation_rows_of_one_class() -> None:
    with pytest.raises(ValueError, match="needs both classes"):
        tune_threshold([1, 1, 1], [0.2, 0.5, 0.9])


def test_resampling_works_with_the_cards_configured_feature_pipeline(adult_frame) -> None:
    """The card's features are a Pipeline, which imbalanced-learn refuses as a step unless it is
    spliced in; the fitted model must still score raw rows."""
    from mleng.card import load_card
    from mleng.features.pipeline import build_feature_pipeline, build_model_pipeline
    from tests.helpers import ADULT_CATEGORICAL, ADULT_NUMERIC, ROOT

    settings = load_card(ROOT / "configs" / "adult.yaml").features
    features = build_feature_pipeline(
        ADULT_NUMERIC, ADULT_CATEGORICAL, settings, "binary", ">50K", 0
    )
    model = build_model_pipeline(
        features, LogisticRegression(max_iter=500), ADULT_NUMERIC, ADULT_CATEGORICAL
    )
    balanced = build_imbalance_pipeline(
        model, ImbalanceSettings(strategy="resample", sampler="under"), seed=0
    )
    target = adult_frame["class"].str.strip(" .")
    balanced.fit(adult_frame, target)
    predicted = balanced.predict(adult_frame)
    assert set(predicted) == {"<=50K", ">50K"}
    assert (predicted == ">50K").mean() > (target == ">50K").mean()  # undersampling shifts it
