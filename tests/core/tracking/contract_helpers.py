"""A small real Adult model logged with its contract, and request rows, for contract tests."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from mleng.features.pipeline import build_feature_pipeline, build_model_pipeline
from mleng.tracking import registry
from mleng.training.threshold import freeze_with_threshold
from tests.helpers import ADULT, ADULT_CATEGORICAL, ADULT_NUMERIC

POSITIVE = ">50K"
THRESHOLD = 0.3
# The first training rows have no occupation: an example-based signature would type it wrongly.
EMPTY_IN_FIRST_ROWS = "occupation"


def adult_rows(n_train: int = 2000, n_request: int = 8, seed: int = 11):
    """Training features and target, and request rows from other Adult rows (raw dtypes)."""
    frame = pd.read_csv(ADULT).sample(n=n_train + n_request, random_state=seed)
    frame = frame.reset_index(drop=True)
    target = frame.pop("class").str.strip(" .")
    features, requests = frame.iloc[:n_train].copy(), frame.iloc[n_train:].reset_index(drop=True)
    features.loc[:19, EMPTY_IN_FIRST_ROWS] = np.nan
    return features, target.iloc[:n_train], requests


def fit_pipeline(features: pd.DataFrame, target: pd.Series):
    """The registered shape: RawInputCoercer, the feature pipeline, a logistic regression."""
    features_step = build_feature_pipeline(ADULT_NUMERIC, ADULT_CATEGORICAL)
    pipeline = build_model_pipeline(
        features_step, LogisticRegression(max_iter=1000), ADULT_NUMERIC, ADULT_CATEGORICAL
    )
    return pipeline.fit(features, target)


def fit_thresholded(pipeline, features: pd.DataFrame, target: pd.Series):
    """The pipeline deciding `>50K` from probability 0.3, as a tuned threshold ships it."""
    return freeze_with_threshold(pipeline, THRESHOLD, POSITIVE, features, target)


def log_to_store(folder: Path, models: dict[str, Any], features: pd.DataFrame) -> dict[str, str]:
    """Log each model with `log_model_contract` to a sqlite store in `folder`; their URIs.

    The caller points MLFLOW_TRACKING_URI at `store_uri(folder)` first."""
    experiment = mlflow.MlflowClient().create_experiment(
        f"contract-{time.time_ns()}", artifact_location=str(folder / "artifacts")
    )
    uris = {}
    for name, model in models.items():
        run = mlflow.MlflowClient().create_run(experiment, run_name=name)
        uris[name] = registry.log_model_contract(
            run.info.run_id, model, features, ADULT_NUMERIC, ADULT_CATEGORICAL
        )
        mlflow.MlflowClient().set_terminated(run.info.run_id)
    return uris


def store_uri(folder: Path) -> str:
    return f"sqlite:///{folder / 'mlflow.db'}"


def mixed_rows(requests: pd.DataFrame) -> pd.DataFrame:
    """Request rows whose numeric columns mix ints, floats and nulls (object columns, as JSON
    or CSV carry them), and whose categoricals have a null and an unseen level."""
    rows = requests.astype({c: object for c in [*ADULT_NUMERIC, *ADULT_CATEGORICAL]})
    rows.loc[0, "age"] = None
    rows.loc[1, "age"] = 40.5
    rows.loc[1, "hours-per-week"] = 37.5
    rows.loc[2, "hours-per-week"] = None
    rows.loc[2, "capital-gain"] = None
    rows.loc[3, "fnlwgt"] = 123456.25
    rows.loc[3, "workclass"] = None
    rows.loc[4, "native-country"] = "Atlantis"
    rows.loc[5, EMPTY_IN_FIRST_ROWS] = "Tech-support"
    return rows


def csv_rows(requests: pd.DataFrame, folder: Path) -> pd.DataFrame:
    """Request rows written to CSV and read back with plain `pd.read_csv`, as a user scores a
    file: `age`, `fnlwgt`, `education-num` int64, `hours-per-week` float64 (a fraction),
    `capital-gain` float64 with NaN (an empty cell), `workclass` with a missing category."""
    rows = requests.copy()
    rows["hours-per-week"] = rows["hours-per-week"].astype("float64")
    rows.loc[1, "hours-per-week"] = 37.5
    rows["capital-gain"] = rows["capital-gain"].astype("float64")
    rows.loc[2, "capital-gain"] = np.nan
    rows.loc[3, "workclass"] = np.nan
    path = folder / f"rows-{time.time_ns()}.csv"
    rows.to_csv(path, index=False)
    read = pd.read_csv(path)
    assert {read[c].dtype.name for c in ("age", "fnlwgt", "education-num")} == {"int64"}
    assert read["hours-per-week"].dtype == "float64" and read["capital-gain"].isna().sum() == 1
    return read


def native_frame(model: Any, rows: pd.DataFrame) -> pd.DataFrame:
    """What the fitted estimator itself answers on `rows`, in the contract's output columns,
    built without the contract module."""
    out = pd.DataFrame({"prediction": np.asarray(model.predict(rows))}, index=rows.index)
    if hasattr(model, "predict_proba"):
        proba = model.predict_proba(rows)
        for position, label in enumerate(model.classes_):
            out[f"probability_{label}"] = proba[:, position]
    return out


def json_records(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready records: exact Python numbers (ints stay ints), None for nulls."""
    return [{k: _plain(v) for k, v in record.items()} for record in rows.to_dict("records")]


def json_split(rows: pd.DataFrame) -> dict[str, Any]:
    records = json_records(rows)
    return {"columns": list(rows.columns), "data": [list(r.values()) for r in records]}


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, np.generic):
        value = value.item()
        return None if isinstance(value, float) and math.isnan(value) else value
    return value
