"""The logged model's contract in-process: a real Adult pipeline logged to a real sqlite store."""

from __future__ import annotations

import importlib
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.entities import LoggedModelStatus, Metric, Param
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from mlflow.types.schema import AnyType, ColSpec, DataType, Schema
from sklearn.linear_model import Ridge
from sklearn.model_selection import FixedThresholdClassifier
from sklearn.pipeline import Pipeline

from mleng.features.pipeline import build_feature_pipeline, build_model_pipeline
from mleng.tracking import registry
from tests.core.tracking.contract_helpers import (
    EMPTY_IN_FIRST_ROWS,
    POSITIVE,
    THRESHOLD,
    adult_rows,
    csv_rows,
    fit_pipeline,
    fit_thresholded,
    log_to_store,
    mixed_rows,
    native_frame,
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


def _assert_native(out: pd.DataFrame, model, rows: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(out, native_frame(model, rows), check_exact=False, rtol=1e-12)


def _refusal(model, rows: pd.DataFrame) -> str:
    with pytest.raises(MlflowException) as caught:
        model.predict(rows)
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
    return caught.value.message


def test_signature_declares_the_output_only_and_mlmodel_records_the_contract(logged):
    local = Path(mlflow.artifacts.download_artifacts(logged["uris"]["plain"]))
    meta = Model.load(local)
    assert meta.get_input_schema() is None
    outputs = [(spec.name, spec.type.name) for spec in meta.get_output_schema().inputs]
    assert outputs == [("prediction", "string"), *((name, "double") for name in PROBABILITIES)]
    conf = meta.flavors["python_function"]["mleng_contract"]
    features = logged["features"]
    assert conf == {
        "version": 2,
        "numeric_columns": ADULT_NUMERIC,
        "categorical_columns": ADULT_CATEGORICAL,
        "training_dtypes": {c: str(features[c].dtype) for c in ADULT_NUMERIC + ADULT_CATEGORICAL},
        "output_columns": ["prediction", *PROBABILITIES],
    }
    assert conf["training_dtypes"]["age"] == "int64"
    # The input example: the first training rows, the column empty there included.
    example = meta.load_input_example(local)
    assert list(example.columns) == [*ADULT_NUMERIC, *ADULT_CATEGORICAL]
    assert features[EMPTY_IN_FIRST_ROWS].head(len(example)).isna().all()
    assert example[EMPTY_IN_FIRST_ROWS].isna().all()
    out = _pyfunc(logged, "plain").predict(example)
    _assert_native(out, logged["models"]["plain"], example)


def test_mlmodel_has_both_flavours_pinned_requirements_and_the_package(logged):
    local = Path(mlflow.artifacts.download_artifacts(logged["uris"]["plain"]))
    flavors = Model.load(local).flavors
    assert flavors["python_function"]["loader_module"] == "mleng.tracking.contract"
    assert flavors["sklearn"]["serialization_format"] == "cloudpickle"
    assert (local / "code" / "mleng" / "features" / "raw.py").is_file()
    assert (local / "code" / "mleng" / "tracking" / "contract.py").is_file()
    requirements = (local / "requirements.txt").read_text().split()
    assert requirements == registry.pinned_requirements()


def test_the_logged_model_carries_its_runs_params_and_metrics_without_new_history(logged):
    client = MlflowClient()
    experiment = client.create_experiment(
        "contract-linked", artifact_location=str(logged["folder"] / "linked")
    )
    run_id = client.create_run(experiment, run_name="train").info.run_id
    client.log_batch(
        run_id,
        metrics=[Metric("test_roc_auc", 0.91, 1_000, 0), Metric("fit_seconds", 2.5, 1_001, 0)],
        params=[Param("seed", "7")],
    )
    client.log_metric(run_id, "later_step", 0.5, timestamp=1_002, step=3)
    uri = registry.log_model_contract(
        run_id, logged["models"]["plain"], logged["features"], ADULT_NUMERIC, ADULT_CATEGORICAL
    )
    model = client.get_logged_model(uri.removeprefix("models:/"))
    assert model.source_run_id == run_id and model.status == LoggedModelStatus.READY
    assert model.params == {"seed": "7"}
    assert {m.key: m.value for m in model.metrics} == {"test_roc_auc": 0.91, "fit_seconds": 2.5}
    outputs = client.get_run(run_id).outputs.model_outputs
    assert [(o.model_id, o.step) for o in outputs] == [(model.model_id, 0)]
    history = client.get_metric_history(run_id, "test_roc_auc")
    assert [(m.value, m.timestamp) for m in history] == [(0.91, 1_000)]
    assert mlflow.models.get_model_info(uri).run_id == run_id


def test_the_requirement_mismatch_check_is_off_only_inside_the_block_even_when_it_fails():
    from mlflow.utils import environment

    pyfunc = importlib.import_module("mlflow.pyfunc")  # the module, not the lazy proxy
    modules = (environment, pyfunc)  # logging the model, then serving its example back
    originals = [module.warn_dependency_requirement_mismatches for module in modules]
    with pytest.raises(RuntimeError), registry.skip_requirement_mismatch_check():
        for module, original in zip(modules, originals, strict=True):
            assert module.warn_dependency_requirement_mismatches is not original
            assert module.warn_dependency_requirement_mismatches(["numpy==0.0.1"]) is None
        raise RuntimeError("logging failed")
    for module, original in zip(modules, originals, strict=True):
        assert module.warn_dependency_requirement_mismatches is original


@pytest.mark.parametrize("name", ["plain", "thresholded", "regressor"])
def test_rows_straight_from_read_csv_match_the_estimator(logged, tmp_path, name):
    """int64, float64 and NaN numeric columns, as `pd.read_csv` gives them: the README's use."""
    rows = csv_rows(logged["requests"], tmp_path)
    out = _pyfunc(logged, name).predict(rows)
    _assert_native(out, logged["models"][name], rows)
    if name != "regressor":
        assert list(out.columns) == ["prediction", *PROBABILITIES]
        np.testing.assert_allclose(out[PROBABILITIES].sum(axis=1), 1.0, rtol=1e-12)


def test_object_columns_of_ints_floats_and_every_null_match_the_estimator(logged):
    model, native = _pyfunc(logged, "plain"), logged["models"]["plain"]
    rows = mixed_rows(logged["requests"])  # object columns, as JSON gives them
    _assert_native(model.predict(rows), native, rows)
    # The same rows with pd.NA and NaN for nulls, as float64 and nullable Int64 columns, or as
    # a dict of columns: all one answer.
    as_na = rows.astype(object).where(rows.notna(), pd.NA)
    as_floats = rows.astype({c: "float64" for c in ADULT_NUMERIC})
    as_nullable = rows.astype({"age": "Float64", "education-num": "Int64"})
    expected = model.predict(rows)
    for variant in (as_na, as_floats, as_nullable, rows.to_dict("list")):
        pd.testing.assert_frame_equal(model.predict(variant), expected, rtol=1e-12)


def test_mlflow_types_cannot_carry_the_contract():
    """Why the signature has no input schema (the module doc's measurements, MLflow 3.17).

    If this fails, MLflow relaxed a rule: update the docstring of mleng.tracking.contract."""
    ints = pd.DataFrame({"x": np.array([39, 40], dtype="int64")})
    with pytest.raises(MlflowException, match="Can not safely convert int64 to float64"):
        mlflow.models.validate_schema(ints, Schema([ColSpec(DataType.double, "x")]))
    with_nan = pd.DataFrame({"x": [39.0, np.nan]})
    with pytest.raises(MlflowException, match="Can not safely convert float64 to int64"):
        mlflow.models.validate_schema(with_nan, Schema([ColSpec(DataType.long, "x")]))
    with pytest.raises(MlflowException, match="not DataType"):
        Schema([ColSpec(AnyType(), "x")]).pandas_types()


@pytest.mark.parametrize(
    ("column", "value", "why"),
    [
        ("age", "forty", "text that is not a number"),
        ("hours-per-week", "40h", "text that is not a number"),
        ("age", "40", "a number sent as text"),
        ("capital-gain", True, "a boolean"),
        ("fnlwgt", np.inf, "an infinite number"),
        ("fnlwgt", -np.inf, "an infinite number"),
        ("capital-loss", 2**60, "an integer beyond 2**53"),
        ("education-num", [9], "a value that is not a number"),
    ],
)
def test_numeric_columns_refuse_what_is_not_a_finite_number(logged, column, value, why):
    rows = mixed_rows(logged["requests"])  # object columns: any value fits
    rows.at[2, column] = value
    message = _refusal(_pyfunc(logged, "plain"), rows)
    assert f"column {column!r}" in message and f"got {value!r}" in message, message
    assert why in message and "in 1 of 8 row(s) (first at row 2)" in message, message


def test_a_csv_column_with_one_bad_cell_names_that_cell(logged, tmp_path):
    """pandas reads such a column as text throughout: the error names '40h', not the numbers."""
    rows = logged["requests"].astype({"hours-per-week": object})
    rows.loc[5, "hours-per-week"] = "40h"
    path = tmp_path / "bad.csv"
    rows.to_csv(path, index=False)
    read = pd.read_csv(path)
    assert isinstance(read.loc[0, "hours-per-week"], str)
    message = _refusal(_pyfunc(logged, "plain"), read)
    assert "column 'hours-per-week'" in message and "got '40h'" in message, message
    assert "in 1 of 8 row(s) (first at row 5)" in message, message


def test_a_missing_column_is_refused_naming_it_and_extra_columns_are_ignored(logged):
    model, rows = _pyfunc(logged, "plain"), logged["requests"]
    message = _refusal(model, rows.drop(columns=["education", "fnlwgt"]))
    assert "lack the model's column(s) ['fnlwgt', 'education']" in message, message
    assert "the 8 input row(s)" in message, message
    extra = rows.assign(id=range(len(rows)), **{"class": ">50K"})
    pd.testing.assert_frame_equal(model.predict(extra), model.predict(rows))


def test_categorical_empty_in_first_training_rows_accepts_strings_and_nulls(logged, tmp_path):
    model, native = _pyfunc(logged, "plain"), logged["models"]["plain"]
    assert logged["features"][EMPTY_IN_FIRST_ROWS].head(20).isna().all()
    rows = logged["requests"].copy()
    rows[EMPTY_IN_FIRST_ROWS] = ["Exec-managerial", None, "Sales", np.nan, pd.NA, *["Sales"] * 3]
    _assert_native(model.predict(rows), native, rows)
    # All null: pd.read_csv reads the column as float64; it is all missing.
    rows[EMPTY_IN_FIRST_ROWS] = None
    path = tmp_path / "empty.csv"
    rows.to_csv(path, index=False)
    read = pd.read_csv(path)
    assert read[EMPTY_IN_FIRST_ROWS].dtype == "float64"
    _assert_native(model.predict(read), native, read)
    np.testing.assert_allclose(
        model.predict(read)[PROBABILITIES], model.predict(rows)[PROBABILITIES], rtol=1e-12
    )


def test_a_categorical_null_is_the_missing_value_training_imputed(logged):
    """None, NaN and pd.NA are one missing value; a number is its text."""
    model, native = _pyfunc(logged, "plain"), logged["models"]["plain"]
    rows = logged["requests"].copy()
    answers = []
    for null in (None, np.nan, pd.NA):
        rows["workclass"] = pd.Series([null] * len(rows), dtype=object)
        answers.append(model.predict(rows)["probability_>50K"].to_numpy())
    rows["workclass"] = np.nan
    for answer in answers:
        np.testing.assert_allclose(answer, native.predict_proba(rows)[:, 1], rtol=1e-12)
    rows["education"] = 9
    as_text = rows.assign(education="9")
    pd.testing.assert_frame_equal(model.predict(rows), model.predict(as_text))


def test_thresholded_label_is_the_thresholded_probability(logged):
    model = _pyfunc(logged, "thresholded")
    rows = logged["features"].head(400)
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
    rows = logged["requests"]
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
