"""The ONNX fast path: real Adult rows, real fitted pipelines, served only when exact."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import PowerTransformer
from threadpoolctl import threadpool_limits

from mleng.card import load_card
from mleng.card.features import FeatureSettings
from mleng.features.pipeline import build_feature_pipeline, build_model_pipeline
from mleng.serving.onnx_path import OnnxScorer, coerce_rows, convert_to_onnx
from mleng.training.estimators import build_estimator
from mleng.training.threshold import freeze_with_threshold
from tests.helpers import ADULT_CATEGORICAL, ADULT_NUMERIC, ROOT

NUMERIC, CATEGORICAL = ADULT_NUMERIC, ADULT_CATEGORICAL
POSITIVE = ">50K"
SMALL = {
    "hist_gradient_boosting": {"max_iter": 40, "max_leaf_nodes": 15},
    "logistic_regression": {},
    "random_forest": {"n_estimators": 20, "min_samples_leaf": 3, "n_jobs": 1},
}


@pytest.fixture(autouse=True, scope="module")
def single_thread() -> Iterator[None]:
    """OpenMP models crawl when their threads fight other test processes for shared cores."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def split(adult_frame: pd.DataFrame) -> dict[str, pd.DataFrame | pd.Series]:
    """2,000 training rows, 500 check rows, 500 held-out rows made harder: missing numerics and
    categories, and categories no training row had."""
    features = adult_frame.drop(columns="class")
    held_out = features.iloc[2500:].copy()
    held_out.iloc[::7, held_out.columns.get_loc("age")] = np.nan
    held_out.iloc[::11, held_out.columns.get_loc("hours-per-week")] = np.nan
    held_out.iloc[::5, held_out.columns.get_loc("occupation")] = np.nan
    held_out.iloc[::9, held_out.columns.get_loc("native-country")] = "Atlantis"
    held_out.iloc[::13, held_out.columns.get_loc("workclass")] = "Guild-of-thieves"
    return {
        "train": features.iloc[:2000],
        "target": adult_frame["class"].iloc[:2000],
        "check": features.iloc[2000:2500],
        "held_out": held_out,
    }


def fit_model(split, family: str, settings: FeatureSettings | None, task: str = "binary"):
    features = build_feature_pipeline(
        NUMERIC, CATEGORICAL, settings=settings, task=task, positive_label=POSITIVE
    )
    estimator = build_estimator(family, SMALL.get(family, {}), task, seed=0)
    model = build_model_pipeline(features, estimator, NUMERIC, CATEGORICAL)
    return model.fit(split["train"], split["target"])


def assert_served_as_sklearn(model, rows: pd.DataFrame, scorer: OnnxScorer) -> None:
    labels, probabilities = scorer.predict(*coerce_rows(rows, NUMERIC, CATEGORICAL))
    expected = model.predict(rows)
    assert labels.dtype == expected.dtype
    np.testing.assert_array_equal(labels, expected)
    np.testing.assert_allclose(probabilities, model.predict_proba(rows), rtol=0, atol=1e-6)


ADULT_SETTINGS = load_card(ROOT / "configs" / "adult.yaml").features


@pytest.mark.parametrize("family", sorted(SMALL))
@pytest.mark.parametrize("settings", [None, ADULT_SETTINGS], ids=["default", "adult_card"])
def test_pipelines_are_served_exactly_on_held_out_rows(split, family, settings):
    model = fit_model(split, family, settings)

    conversion = convert_to_onnx(model, NUMERIC, CATEGORICAL, split["check"])

    assert conversion.onnx_bytes is not None, conversion.reason
    assert conversion.reason.startswith("exact on 503 rows")
    assert conversion.max_abs_difference < 1e-12
    scorer = OnnxScorer(conversion.onnx_bytes, model)
    assert_served_as_sklearn(model, split["held_out"], scorer)
    assert_served_as_sklearn(model, split["held_out"].iloc[[3]], scorer)  # one row, missing age


@pytest.mark.filterwarnings("ignore:Bins whose width are too small")  # fewer bins: covered too
@pytest.mark.parametrize(
    "settings",
    [
        {"categorical": {"encoder": "target"}, "numeric": {"scaling": "robust"}},
        {"categorical": {"encoder": "count"}, "numeric": {"binning": "quantile"}},
        {
            "categorical": {"encoder": "log_odds_ratio", "columns": {"sex": "frequency"}},
            "numeric": {"scaling": "minmax", "columns": {"age": {"strategy": "kmeans"}}},
            "selection": {"correlation_threshold": 0.5, "k_best": 10},
        },
    ],
    ids=["target_robust", "count_binned", "odds_selected"],
)
def test_configured_encoders_binning_and_selection_are_exact(split, settings):
    model = fit_model(split, "hist_gradient_boosting", FeatureSettings.model_validate(settings))

    conversion = convert_to_onnx(model, NUMERIC, CATEGORICAL, split["check"])

    assert conversion.onnx_bytes is not None, conversion.reason
    assert_served_as_sklearn(model, split["held_out"], OnnxScorer(conversion.onnx_bytes, model))


@pytest.mark.parametrize("positive", [POSITIVE, "<=50K"])
def test_a_tuned_threshold_decides_as_sklearn_including_a_tie(split, positive):
    """FixedThresholdClassifier predicts the positive class when its probability is >= the
    threshold: a threshold equal to a row's probability makes that row positive."""
    pipeline = fit_model(split, "hist_gradient_boosting", ADULT_SETTINGS)
    rows = split["held_out"]
    column = list(pipeline.classes_).index(positive)
    sklearn_positive = pipeline.predict_proba(rows)[:, column]
    probe = OnnxScorer(
        convert_to_onnx(pipeline, NUMERIC, CATEGORICAL, split["check"]).onnx_bytes, pipeline
    )
    onnx_positive = probe.predict(*coerce_rows(rows, NUMERIC, CATEGORICAL))[1][:, column]
    tie = int(np.flatnonzero((onnx_positive == sklearn_positive) & (sklearn_positive > 0.2))[0])
    model = freeze_with_threshold(
        pipeline, float(sklearn_positive[tie]), positive, split["train"], split["target"]
    )

    conversion = convert_to_onnx(model, NUMERIC, CATEGORICAL, split["check"])

    assert conversion.onnx_bytes is not None, conversion.reason
    scorer = OnnxScorer(conversion.onnx_bytes, model)
    labels, _ = scorer.predict(*coerce_rows(rows, NUMERIC, CATEGORICAL))
    assert labels[tie] == positive
    assert_served_as_sklearn(model, rows, scorer)
    assert (labels != pipeline.predict(rows)).any()  # the threshold, not argmax, decided


@pytest.mark.parametrize("family", ["hist_gradient_boosting", "ridge"])
def test_a_regression_pipeline_is_served_exactly(split, family):
    numeric = [c for c in NUMERIC if c != "hours-per-week"]
    features = build_feature_pipeline(
        numeric, CATEGORICAL, settings=ADULT_SETTINGS, task="regression"
    )
    estimator = build_estimator(family, SMALL.get(family, {}), "regression", seed=0)
    model = build_model_pipeline(features, estimator, numeric, CATEGORICAL)
    model.fit(split["train"], split["train"]["hours-per-week"].astype(float))

    conversion = convert_to_onnx(model, numeric, CATEGORICAL, split["check"])

    assert conversion.onnx_bytes is not None, conversion.reason
    assert "max |dy|" in conversion.reason
    rows = split["held_out"]
    values, probabilities = OnnxScorer(conversion.onnx_bytes, model).predict(
        *coerce_rows(rows, numeric, CATEGORICAL)
    )
    assert probabilities is None
    assert values.dtype == np.float64
    np.testing.assert_allclose(values, model.predict(rows), rtol=0, atol=1e-6)


class MajorityClassifier(ClassifierMixin, BaseEstimator):
    """A custom estimator ONNX knows nothing about."""

    def fit(self, X, y):
        self.classes_, counts = np.unique(y, return_counts=True)
        self.majority_ = self.classes_[np.argmax(counts)]
        return self

    def predict(self, X):
        return np.full(len(X), self.majority_)


@pytest.mark.parametrize(
    ("estimator", "named"),
    [
        (KNeighborsClassifier(n_neighbors=5), "KNeighborsClassifier"),
        (MajorityClassifier(), "MajorityClassifier"),
    ],
)
def test_an_unsupported_estimator_is_refused_with_its_name(split, estimator, named):
    features = build_feature_pipeline(NUMERIC, CATEGORICAL)
    model = build_model_pipeline(features, estimator, NUMERIC, CATEGORICAL)
    model.fit(split["train"], split["target"])

    conversion = convert_to_onnx(model, NUMERIC, CATEGORICAL, split["check"])

    assert conversion.onnx_bytes is None
    assert conversion.max_abs_difference is None
    assert conversion.reason == f"not convertible: estimator {named} has no exact ONNX conversion"


def test_registration_knows_an_unconvertible_estimator_without_importing_onnx(split, tmp_path):
    features = build_feature_pipeline(NUMERIC, CATEGORICAL)
    model = build_model_pipeline(features, KNeighborsClassifier(), NUMERIC, CATEGORICAL)
    model.fit(split["train"], split["target"])
    frozen = freeze_with_threshold(model, 0.4, POSITIVE, split["train"], split["target"])
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(frozen))
    split["check"].to_pickle(tmp_path / "rows.pkl")
    script = textwrap.dedent(
        """
        import pickle, sys
        import pandas as pd
        from mleng.serving.fast_path import FAST_PATH_REASON_TAG, build_fast_path
        model = pickle.loads(open(sys.argv[1], "rb").read())
        rows = pd.read_pickle(sys.argv[2])
        fast = build_fast_path(model, (sys.argv[3].split(","), sys.argv[4].split(",")), rows, rows)
        loaded = sorted(m for m in ("onnx", "onnxruntime", "skl2onnx") if m in sys.modules)
        print(fast.onnx_bytes is None, fast.tags[FAST_PATH_REASON_TAG], loaded, sep="|")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "model.pkl"), str(tmp_path / "rows.pkl"),
         ",".join(NUMERIC), ",".join(CATEGORICAL)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    no_graph, reason, loaded = done.stdout.strip().split("|")
    full = convert_to_onnx(frozen, NUMERIC, CATEGORICAL, split["check"])
    assert no_graph == "True" and loaded == "[]"
    assert (
        reason
        == full.reason
        == ("not convertible: estimator KNeighborsClassifier has no exact ONNX conversion")
    )


def test_an_unsupported_feature_step_is_refused_with_its_name(split):
    model = fit_model(split, "logistic_regression", None)
    model.named_steps["features"].transformers_[0][1].steps[1] = (
        "scale",
        PowerTransformer().fit(split["train"][NUMERIC].fillna(0).to_numpy()),
    )

    conversion = convert_to_onnx(model, NUMERIC, CATEGORICAL, split["check"])

    assert conversion.onnx_bytes is None
    assert conversion.reason == "not convertible: numeric step PowerTransformer"


def test_a_graph_that_is_not_exact_is_refused(split):
    """Zero tolerance: double-precision sums in another order differ in the last bits."""
    model = fit_model(split, "logistic_regression", ADULT_SETTINGS)

    conversion = convert_to_onnx(model, NUMERIC, CATEGORICAL, split["check"], tolerance=0.0)

    assert conversion.onnx_bytes is None
    assert conversion.reason.startswith("not exact on 503 rows")
    assert "0 labels differ" in conversion.reason
    assert 0 < conversion.max_abs_difference < 1e-12


def test_the_session_runs_on_one_thread(split):
    model = fit_model(split, "logistic_regression", None)
    conversion = convert_to_onnx(model, NUMERIC, CATEGORICAL, split["check"])

    scorer = OnnxScorer(conversion.onnx_bytes, model)

    options = scorer._session.get_session_options()
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (1, 1)
    assert options.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
