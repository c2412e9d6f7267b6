"""The logged model's contract in-process: a real Adult pipeline logged to a real sqlite store."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from sklearn.linear_model import Ridge
from sklearn.model_selection import FixedThresholdClassifier
from sklearn.pipeline import Pipeline

from mleng.features.pipeline import build_feature_pipeline, build_model_pipeline
from mleng.tracking import contract, registry
from tests.core.tracking.contract_helpers import (
    EMPTY_IN_FIRST_ROWS,
    POSITIVE,
    THRESHOLD,
    adult_rows,
    fit_pipeline,
    fit_thresholded,
    log_to_store,
    mixed_rows,
    store_uri,
)
from tests.helpers import ADULT_CATEGORICAL, ADULT_NUMERIC

PROBABILITIES = ["probability_<=50K", "probability_>50K"]


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """Three models logged with `log_model_contract`: plain, thresholded, a regressor."""
    folder = tmp_path_factory.mktemp("contract")
    features, target, requests = adult_rows()
    pipeline = fit_pipeline(features, target)
    regressor = build_model_pipeline(
        build_feature_pipeline(ADULT_NUMERIC, ADULT_CATEGORICAL),
        Ridge(),
        ADULT_NUMERIC,
        ADULT_CATEGORICAL,
    ).fit(features, (target == POSITIVE).astype(float))
    models = {
        "plain": pipeline,
        "thresholded": fit_thresholded(pipeline, features, target),
        "regressor": regressor,
    }
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", store_uri(folder))
        uris = log_to_store(folder, models, features)
        yield {
            "models": models,
            "uris": uris,
            "features": features,
            "requests": requests,
            "folder": folder,
        }


def _pyfunc(logged, name):
    return mlflow.pyfunc.load_model(logged["uris"][name])


def _native_frame(model, rows: pd.DataFrame) -> pd.DataFrame:
    """The native estimator's answer on `rows` with nulls as training held them (NaN)."""
    return contract.predict_frame(model, contract.missing_as_nan(rows, ADULT_CATEGORICAL))


def test_signature_is_declared_from_training_column_roles(logged):
    meta = _pyfunc(logged, "plain").metadata
    inputs = {spec.name: (spec.type.name, spec.required) for spec in meta.get_input_schema().inputs}
    assert inputs == {
        **{c: ("double", True) for c in ADULT_NUMERIC},
        **{c: ("string", True) for c in ADULT_CATEGORICAL},
    }
    # Empty in the first training rows (the input example), still a string column.
    assert logged["features"][EMPTY_IN_FIRST_ROWS].head(5).isna().all()
    assert inputs[EMPTY_IN_FIRST_ROWS] == ("string", True)
    outputs = [(spec.name, spec.type.name) for spec in meta.get_output_schema().inputs]
    assert outputs == [("prediction", "string"), *((name, "double") for name in PROBABILITIES)]


def test_mlmodel_has_both_flavours_pinned_requirements_and_the_package(logged):
    local = Path(mlflow.artifacts.download_artifacts(logged["uris"]["plain"]))
    flavors = Model.load(local).flavors
    assert flavors["python_function"]["loader_module"] == "mleng.tracking.contract"
    assert flavors["python_function"]["mleng_contract"]["output_columns"] == [
        "prediction",
        *PROBABILITIES,
    ]
    assert flavors["sklearn"]["serialization_format"] == "cloudpickle"
    assert (local / "code" / "mleng" / "features" / "raw.py").is_file()
    assert (local / "code" / "mleng" / "tracking" / "contract.py").is_file()
    requirements = (local / "requirements.txt").read_text().split()
    assert requirements == registry.pinned_requirements()


def test_pyfunc_accepts_ints_floats_and_nulls(logged):
    model, native = _pyfunc(logged, "plain"), logged["models"]["plain"]
    schema = model.metadata.get_input_schema()
    mixed = mixed_rows(logged["requests"])
    expected = _native_frame(native, mixed)
    floats = mixed.astype({c: "float64" for c in ADULT_NUMERIC})
    for rows in (floats, contract.conform_rows(mixed, schema)):
        out = model.predict(rows)
        assert list(out.columns) == ["prediction", *PROBABILITIES]
        pd.testing.assert_frame_equal(out, expected, check_exact=False, rtol=1e-12)
        np.testing.assert_allclose(out[PROBABILITIES].sum(axis=1), 1.0, rtol=1e-12)
    ints = logged["requests"]  # int64 numeric columns, as pandas reads a CSV
    out = model.predict(contract.conform_rows(ints, schema))
    pd.testing.assert_frame_equal(out, _native_frame(native, ints), check_exact=False, rtol=1e-12)


def test_int64_columns_are_refused_by_mlflow_without_conform_rows(logged):
    """MLflow 3.17 refuses int64 -> double in-process as lossy; `conform_rows` is the fix.

    If this starts passing, MLflow relaxed the rule and the docstring of contract can say so."""
    with pytest.raises(MlflowException, match=r"column age.*int64"):
        _pyfunc(logged, "plain").predict(logged["requests"])


@pytest.mark.parametrize(("column", "text"), [("age", "forty"), ("hours-per-week", "40h")])
def test_numeric_text_is_refused_never_imputed(logged, column, text):
    model = _pyfunc(logged, "plain")
    rows = mixed_rows(logged["requests"])
    rows.loc[2, column] = text
    # PyFuncModel.predict: MLflow's schema enforcement names the column.
    with pytest.raises(MlflowException, match=column):
        model.predict(rows)
    # conform_rows and the wrapper itself name the column and the value.
    with pytest.raises(MlflowException, match=rf"{column}.*{text}"):
        contract.conform_rows(rows, model.metadata.get_input_schema())
    wrapper = contract.ContractModel(model.get_raw_model(), ADULT_NUMERIC, ADULT_CATEGORICAL)
    with pytest.raises(MlflowException, match=rf"{column}.*{text}"):
        wrapper.predict(rows)


def test_categorical_empty_in_first_training_rows_accepts_strings_and_nulls(logged):
    model, native = _pyfunc(logged, "plain"), logged["models"]["plain"]
    rows = logged["requests"].astype({c: "float64" for c in ADULT_NUMERIC})
    rows[EMPTY_IN_FIRST_ROWS] = "Exec-managerial"
    out = model.predict(rows)
    pd.testing.assert_frame_equal(out, _native_frame(native, rows), check_exact=False, rtol=1e-12)
    # A column entirely null reads as float64 in pandas; conform_rows makes it a string column.
    rows[EMPTY_IN_FIRST_ROWS] = np.nan
    out = model.predict(contract.conform_rows(rows, model.metadata.get_input_schema()))
    pd.testing.assert_frame_equal(out, _native_frame(native, rows), check_exact=False, rtol=1e-12)


def test_a_categorical_null_is_the_missing_value_training_imputed(logged):
    """JSON nulls arrive as None; the pipeline's imputer takes only NaN as missing."""
    model, native = _pyfunc(logged, "plain"), logged["models"]["plain"]
    rows = logged["requests"].astype({c: "float64" for c in ADULT_NUMERIC})
    rows["workclass"] = pd.Series([None] * len(rows), dtype=object)
    as_none = model.predict(rows)["probability_>50K"].to_numpy()
    rows["workclass"] = pd.Series([np.nan] * len(rows), dtype=object)
    np.testing.assert_allclose(as_none, model.predict(rows)["probability_>50K"], rtol=1e-12)
    np.testing.assert_allclose(as_none, native.predict_proba(rows)[:, 1], rtol=1e-12)


def test_thresholded_label_is_the_thresholded_probability(logged):
    model = _pyfunc(logged, "thresholded")
    rows = logged["features"].head(400).astype({c: "float64" for c in ADULT_NUMERIC})
    out = model.predict(rows)
    positive = out["probability_>50K"]
    np.testing.assert_allclose(out[PROBABILITIES].sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(out["prediction"] == POSITIVE, positive >= THRESHOLD)
    # Rows between the tuned threshold and 0.5 are where the default rule would disagree.
    assert ((positive >= THRESHOLD) & (positive < 0.5)).any()
    native = logged["models"]["thresholded"]
    np.testing.assert_array_equal(out["prediction"], native.predict(rows))


def test_sklearn_flavour_still_gives_the_fitted_estimator(logged):
    rows = logged["requests"]
    for name, kind in (("plain", Pipeline), ("thresholded", FixedThresholdClassifier)):
        loaded = mlflow.sklearn.load_model(logged["uris"][name])
        assert isinstance(loaded, kind)
        np.testing.assert_allclose(
            loaded.predict_proba(rows), logged["models"][name].predict_proba(rows), rtol=1e-12
        )


def test_regressor_returns_the_prediction_only(logged):
    model = _pyfunc(logged, "regressor")
    rows = logged["requests"].astype({c: "float64" for c in ADULT_NUMERIC})
    out = model.predict(rows)
    assert list(out.columns) == ["prediction"]
    np.testing.assert_allclose(out["prediction"], logged["models"]["regressor"].predict(rows))
    outputs = model.metadata.get_output_schema().inputs
    assert [(s.name, s.type.name) for s in outputs] == [("prediction", "double")]


def test_champion_alias_resolves_to_the_native_estimator(logged):
    client = MlflowClient()
    name = "adult-contract"
    uri = logged["uris"]["thresholded"]
    run_id = mlflow.models.get_model_info(uri).run_id
    assert registry.find_alias_version(client, name, registry.CHAMPION) is None
    version = registry.register_version(client, uri, name, run_id, {"mleng.test": "1"})
    assert registry.find_alias_version(client, name, registry.CHAMPION) is None
    registry.set_alias(client, name, registry.CHAMPION, version)
    assert registry.find_alias_version(client, name, registry.CHAMPION) == version
    champion = registry.load_alias_model(name, registry.CHAMPION)
    assert isinstance(champion, FixedThresholdClassifier)
    rows = logged["requests"]
    np.testing.assert_allclose(
        champion.predict_proba(rows), logged["models"]["thresholded"].predict_proba(rows)
    )
    assert registry.register_version(client, uri, name, run_id, {}) == str(int(version) + 1)
