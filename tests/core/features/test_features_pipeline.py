"""The feature pipeline: unchanged without settings, configurable and tunable with them, robust on
Adult."""

from __future__ import annotations

from collections.abc import Iterator

import cloudpickle
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.preprocessing import OneHotEncoder
from sklearn.tree import DecisionTreeClassifier
from threadpoolctl import threadpool_limits

from mleng.card.features import FeatureSettings
from mleng.features.pipeline import build_feature_pipeline, build_model_pipeline
from tests.helpers import ADULT_CATEGORICAL, ADULT_NUMERIC

NUMERIC, CATEGORICAL = ADULT_NUMERIC, ADULT_CATEGORICAL


@pytest.fixture(autouse=True, scope="module")
def single_thread() -> Iterator[None]:
    """OpenMP models crawl when their threads fight other test processes for the two shared
    cores."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def adult(adult_frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    return adult_frame.drop(columns="class"), adult_frame["class"]


def configured_settings() -> FeatureSettings:
    return FeatureSettings.model_validate(
        {
            "numeric": {
                "columns": {
                    "age": {"strategy": "quantile", "n_bins": 8},
                    "fnlwgt": {"strategy": "kmeans"},
                }
            },
            "categorical": {
                "high_cardinality_threshold": 30,
                "high_cardinality_encoder": "target",
                "columns": {"sex": "log_odds_ratio", "occupation": "count"},
            },
            "selection": {
                "correlation_threshold": 0.95,
                "k_best": 40,
                "model_based": True,
                "model_threshold": "0.1*mean",
            },
        }
    )


def test_default_pipeline_is_the_original_column_transformer(
    adult: tuple[pd.DataFrame, pd.Series],
) -> None:
    X, y = adult
    features = build_feature_pipeline(NUMERIC, CATEGORICAL)
    assert isinstance(features, ColumnTransformer)
    assert [name for name, _, _ in features.transformers] == ["numeric", "categorical"]
    steps = {name: list(transformer.named_steps) for name, transformer, _ in features.transformers}
    assert steps == {"numeric": ["impute", "scale"], "categorical": ["impute", "one_hot"]}
    one_hot = features.get_params()["categorical__one_hot"]
    assert isinstance(one_hot, OneHotEncoder)
    assert (one_hot.min_frequency, one_hot.max_categories, one_hot.handle_unknown) == (
        0.01,
        50,
        "infrequent_if_exist",
    )
    encoded = features.fit_transform(X, y)
    assert encoded.shape[0] == len(X) and not np.isnan(encoded).any()


def test_empty_settings_reproduce_the_default_pipeline_output(
    adult: tuple[pd.DataFrame, pd.Series],
) -> None:
    X, y = adult
    X = X.copy()
    X.loc[X.index[:40], "age"] = np.nan
    default = build_feature_pipeline(NUMERIC, CATEGORICAL).fit(X, y)
    configured = build_feature_pipeline(
        NUMERIC, CATEGORICAL, settings=FeatureSettings(), task="binary"
    ).fit(X, y)
    assert list(configured.get_feature_names_out()) == list(default.get_feature_names_out())
    np.testing.assert_allclose(configured.transform(X), default.transform(X))


def rows_with_unseen_levels_and_missing_values(X: pd.DataFrame) -> pd.DataFrame:
    odd = X.head(6).copy()
    odd.loc[odd.index[0], CATEGORICAL] = "Atlantis"
    odd.loc[odd.index[1], CATEGORICAL] = np.nan
    odd.loc[odd.index[2], NUMERIC] = np.nan
    odd.loc[odd.index[3], [*NUMERIC, *CATEGORICAL]] = np.nan
    odd.loc[odd.index[4], "age"] = 500.0
    return odd


def test_configured_pipeline_fits_adult_and_predicts_on_unseen_levels_and_missing_values(
    adult: tuple[pd.DataFrame, pd.Series],
) -> None:
    X, y = adult
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y
    )
    features = build_feature_pipeline(
        NUMERIC, CATEGORICAL, settings=configured_settings(), task="binary", positive_label=">50K"
    )
    model = build_model_pipeline(
        features, HistGradientBoostingClassifier(max_iter=40, random_state=0)
    )
    model.fit(X_train, y_train)
    chosen = (
        model.named_steps["features"]
        .named_steps["columns"]
        .named_transformers_["categorical"]
        .encoders_
    )
    assert (
        chosen["native-country"] == "target"
        and chosen["sex"] == "log_odds_ratio"
        and chosen["occupation"] == "count"
    )
    assert roc_auc_score(y_test == ">50K", model.predict_proba(X_test)[:, 1]) > 0.85
    probabilities = model.predict_proba(rows_with_unseen_levels_and_missing_values(X_test))
    assert probabilities.shape == (6, 2) and np.isfinite(probabilities).all()


def test_encoder_choice_is_a_tunable_parameter(adult: tuple[pd.DataFrame, pd.Series]) -> None:
    X, y = adult
    features = build_feature_pipeline(
        NUMERIC, CATEGORICAL, settings=FeatureSettings(), task="binary"
    )
    model = build_model_pipeline(features, DecisionTreeClassifier(max_depth=4, random_state=0))
    search = GridSearchCV(
        model,
        {
            "features__columns__categorical__encoder": ["one_hot", "count"],
            "features__columns__numeric__binning": ["none", "uniform"],
        },
        cv=2,
        scoring="roc_auc",
    ).fit(X.head(1000), y.head(1000))
    assert set(search.best_params_) == {
        "features__columns__categorical__encoder",
        "features__columns__numeric__binning",
    }
    tuned = (
        clone(model)
        .set_params(features__columns__categorical__encoder="count")
        .fit(X.head(500), y.head(500))
    )
    encoders = (
        tuned.named_steps["features"]
        .named_steps["columns"]
        .named_transformers_["categorical"]
        .encoders_
    )
    assert set(encoders.values()) == {"count"}


def test_selection_steps_are_off_unless_configured_and_switch_on_by_settings() -> None:
    plain = build_feature_pipeline(NUMERIC, CATEGORICAL, settings=FeatureSettings(), task="binary")
    assert [plain.named_steps[s] for s in ("correlation", "k_best", "model_based")] == [
        "passthrough"
    ] * 3
    selecting = build_feature_pipeline(
        NUMERIC, CATEGORICAL, settings=configured_settings(), task="binary"
    )
    assert selecting.get_params()["correlation__threshold"] == 0.95
    assert selecting.get_params()["k_best__k"] == 40


def test_fitted_configured_pipeline_survives_pickling(
    adult: tuple[pd.DataFrame, pd.Series],
) -> None:
    X, y = adult
    features = build_feature_pipeline(
        NUMERIC, CATEGORICAL, settings=configured_settings(), task="binary"
    )
    model = build_model_pipeline(features, HistGradientBoostingClassifier(max_iter=20)).fit(
        X.head(1000), y.head(1000)
    )
    restored = cloudpickle.loads(cloudpickle.dumps(model))
    np.testing.assert_allclose(
        restored.predict_proba(X.tail(200)), model.predict_proba(X.tail(200))
    )


def test_settings_naming_an_unknown_column_fail_before_training() -> None:
    settings = FeatureSettings.model_validate({"categorical": {"columns": {"colour": "count"}}})
    with pytest.raises(ValueError, match="features.categorical.columns names \\['colour'\\]"):
        build_feature_pipeline(NUMERIC, CATEGORICAL, settings=settings, task="binary")


def test_odds_ratio_encoding_needs_a_binary_task() -> None:
    settings = FeatureSettings.model_validate({"categorical": {"encoder": "log_odds_ratio"}})
    with pytest.raises(ValueError, match="odds-ratio encodings need a binary task"):
        build_feature_pipeline(NUMERIC, CATEGORICAL, settings=settings, task="multiclass")


def test_selection_by_information_needs_the_task() -> None:
    settings = FeatureSettings.model_validate({"selection": {"k_best": 5}})
    with pytest.raises(ValueError, match="need the task"):
        build_feature_pipeline(NUMERIC, CATEGORICAL, settings=settings)
