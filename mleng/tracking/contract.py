"""The registered model's contract: raw rows in, a decision and its probabilities out.

One logged model carries two flavours over one cloudpickled scikit-learn estimator (`model.pkl`):

- `sklearn`: native use, `mlflow.sklearn.load_model(uri)` gives the fitted estimator (a
  `Pipeline` starting with `RawInputCoercer`, or a `FixedThresholdClassifier` or, for a
  multiclass card with a cost matrix, a `CostDecisionClassifier` around one) with
  `predict_proba`; the flow scores the champion with it. With `promotion.prefer_simple` the
  pipeline may be `RawInputCoercer` then a simple rule (`LookupTable`, `RuleBaseline`): the
  same contract, decided the same way.
- `python_function`: loader `mleng.tracking.contract` (this module, shipped with the model in
  `code/mleng`), used by `mlflow.pyfunc.load_model(uri)` and `mlflow models serve`.

Output of the pyfunc model, a DataFrame with one row per input row:

- `prediction`: classifiers, the decided label, i.e. what the registered estimator's `predict`
  returns (a `FixedThresholdClassifier` decides with its tuned threshold, so the label is the
  positive class exactly when its probability reaches the threshold; a `CostDecisionClassifier`
  the class of least expected cost under its probabilities); regressors, the value.
- `probability_<class>`: classifiers with `predict_proba` only, one float column per class in
  the order of `classes_`, named `probability_` + `str(label)` verbatim: `probability_>50K`,
  `probability_<=50K`, `probability_0`, `probability_True`. Each row sums to 1.

The signature declares that output only. It has no input schema: the model enforces its input
contract itself (`validate_rows`, run by `ContractModel.predict` before the pipeline sees a
row), recorded in the `python_function` flavour under `mleng_contract` (numeric and categorical
columns, training dtypes, output columns) next to the input example. Why not MLflow's schema,
as measured with MLflow 3.17.2 and pandas 3.1:

- `double` refuses an int64 column in-process (`PyFuncModel.predict` -> `_enforce_mlflow_datatype`:
  "Can not safely convert int64 to float64"; int32 and object columns pass), so
  `mlflow.pyfunc.load_model(uri).predict(pd.read_csv(path))` failed on every integer column,
  although the scoring server, which casts requests to float64 first, took the same rows.
- `long` refuses NaN ("Can not safely convert float64 to int64"); MLflow has no nullable
  integer type, so no type takes int64, float64 and NaN in one column.
- `Any` takes everything in-process, but `Schema.pandas_types()` then fails ("some of the
  inputs types are not DataType"), and the scoring server calls it for every `text/csv` request.

Input contract, the same in-process, for JSON (`dataframe_split`, `dataframe_records`) and CSV:

- every contract column is required (a missing one is an error naming it); nulls are allowed;
  columns outside the contract are ignored.
- numeric columns: ints, floats (any width, nullable `Int64`/`Float64` too) and nulls (None,
  NaN, pd.NA, JSON null, CSV empty cell), made float64 with NaN for missing. Refused, never
  imputed: any text, even "40" (a client that quotes numbers has a bug worth surfacing; CSV
  never sends it, as pandas parses a column of numbers as numbers and leaves a column as text
  only when some cell is not a number, which is the value the error names), booleans (pandas
  would make `true` a 1), inf and -inf (the native pipeline would impute them as missing, hiding a
  division by zero upstream), integers beyond 2**53 (float64 would change them) and any other
  object.
- text columns (free text the pipeline vectorizes) follow the categorical rule and are listed
  among `categorical_columns` (the string inputs) in the recorded contract, so every reader of
  it (the pyfunc, the service's request typing) takes them as text; `text_columns` names them.
  They are read from the model's `RawInputCoercer` when it is saved (`model_text_columns`).
- categorical columns: any value becomes its `str` (`3` -> "3"), every null becomes NaN, the
  missing value training imputed (None would be an unseen category). A column empty in the first
  training rows is a categorical column like any other; an all-null one, which `pd.read_csv`
  reads as float64, is all missing. CSV requests are parsed by pandas without types, so a
  category that looks like a number arrives as pandas parsed it ("007" -> "7"): send JSON then.

A refusal is `MlflowException.invalid_parameter_value` naming the column, the offending value
and how many rows hold such a value: HTTP 400 with that message from the scoring server.
"""

from __future__ import annotations

import math
import numbers
import os
import pickle
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import Model, ModelSignature
from mlflow.types.schema import ColSpec, DataType, Schema

PREDICTION = "prediction"
PROBABILITY_PREFIX = "probability_"
CONTRACT_VERSION = 2
_FLAVOR_KEY = "mleng_contract"
# Integers beyond 2**53 are not exact as float64: refuse them rather than change their value.
_EXACT_INT = 2**53
_SKLEARN_OPTIONS = {"signature", "input_example", "pip_requirements", "code_paths"}

# What a numeric column may not hold, most telling first: a request is refused for the first
# kind any of its rows holds (a CSV column with one bad cell arrives as text throughout: the
# cell that is not a number is the one to name, not the numbers beside it).
_NOT_A_NUMBER = "text that is not a number"
_NUMBER_AS_TEXT = "a number sent as text (send it unquoted)"
_BOOLEAN = "a boolean, which is not a number here"
_OTHER = "a value that is not a number"
_INFINITE = "an infinite number (send a finite number or null)"
_TOO_BIG = "an integer beyond 2**53, which float64 cannot represent exactly"
_PROBLEMS = (_NOT_A_NUMBER, _NUMBER_AS_TEXT, _BOOLEAN, _OTHER, _INFINITE, _TOO_BIG)


def probability_column(label: Any) -> str:
    """The output column holding the probability of class `label`."""
    return f"{PROBABILITY_PREFIX}{label}"


def has_probabilities(model: Any) -> bool:
    """True for a fitted classifier that gives class probabilities."""
    return hasattr(model, "predict_proba") and hasattr(model, "classes_")


def output_columns(model: Any) -> list[str]:
    """The pyfunc output columns of a fitted estimator, in order."""
    if not has_probabilities(model):
        return [PREDICTION]
    return [PREDICTION, *(probability_column(label) for label in model.classes_)]


def build_signature(model: Any) -> ModelSignature:
    """The contract's signature: the output columns only, no input schema (see the module doc).

    Without an input schema MLflow neither enforces nor parses requests by one; `ContractModel`
    checks and types them itself.
    """
    if has_probabilities(model):
        outputs = [ColSpec(_label_type(np.asarray(model.classes_)), PREDICTION)]
        outputs += [ColSpec(DataType.double, probability_column(c)) for c in model.classes_]
    else:
        outputs = [ColSpec(DataType.double, PREDICTION)]
    return ModelSignature(inputs=None, outputs=Schema(outputs))


def check_columns(
    frame: pd.DataFrame, numeric_columns: list[str], categorical_columns: list[str]
) -> None:
    """Refuse column lists that overlap or name columns the training frame lacks."""
    overlap = sorted(set(numeric_columns) & set(categorical_columns))
    if overlap:
        raise ValueError(f"columns {overlap} are listed as both numeric and categorical")
    missing = [c for c in [*numeric_columns, *categorical_columns] if c not in frame.columns]
    if missing:
        raise ValueError(f"the training features lack the model's input columns {missing}")


def model_text_columns(model: Any) -> list[str]:
    """The text columns a fitted model's first step (`RawInputCoercer`) keeps as text; [] when
    it has none, or starts otherwise. Looks inside a thresholded (and frozen) classifier."""
    inner = model
    for _ in range(3):  # FixedThresholdClassifier -> FrozenEstimator -> the pipeline
        if hasattr(inner, "steps"):
            break
        wrapped = getattr(inner, "estimator_", None)
        inner = getattr(inner, "estimator", None) if wrapped is None else wrapped
    steps = getattr(inner, "steps", None)
    if not steps:
        return []
    return [str(column) for column in getattr(steps[0][1], "text_columns", ())]


def example_rows(
    train_features: pd.DataFrame,
    numeric_columns: list[str],
    categorical_columns: list[str],
    n_rows: int = 5,
) -> pd.DataFrame:
    """The first training rows as the contract types them, for the input example.

    Columns of `train_features` outside both lists (text columns, which the caller need not
    list) travel as text too, so the example is complete; the contract ignores extra columns.
    """
    check_columns(train_features, numeric_columns, categorical_columns)
    rows = train_features.head(n_rows)
    frame = {c: pd.to_numeric(rows[c], errors="coerce").astype("float64") for c in numeric_columns}
    listed = {*numeric_columns, *categorical_columns}
    others = [c for c in rows.columns if c not in listed and not is_numeric_frame_column(rows[c])]
    for column in [*categorical_columns, *others]:
        values = rows[column]
        frame[column] = values.astype(str).astype(object).where(values.notna(), None)
    return pd.DataFrame(frame, index=rows.index).reset_index(drop=True)


def is_numeric_frame_column(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def validate_rows(
    rows: Any, numeric_columns: list[str], categorical_columns: list[str]
) -> pd.DataFrame:
    """The contract columns of `rows`, checked and typed: numeric float64, categorical text.

    Numeric columns hold floats with NaN for every null, categorical columns `str` values with
    NaN for every null; columns outside the contract are dropped, the index is kept. Anything
    the contract refuses (see the module doc) raises `MlflowException.invalid_parameter_value`
    naming the column, the value and how many of the rows hold such a value.
    """
    frame = _as_frame(rows)
    n_rows = len(frame)
    columns = [*numeric_columns, *categorical_columns]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise MlflowException.invalid_parameter_value(
            f"the {n_rows} input row(s) lack the model's column(s) {missing}; every contract "
            f"column is required (nulls are allowed): numeric {list(numeric_columns)}, "
            f"categorical {list(categorical_columns)}"
        )
    repeated = [c for c in columns if int((frame.columns == c).sum()) > 1]
    if repeated:
        raise MlflowException.invalid_parameter_value(
            f"the {n_rows} input row(s) hold the column(s) {repeated} more than once"
        )
    if n_rows == 0:
        raise MlflowException.invalid_parameter_value("no input rows to score")
    typed = {column: _numeric_values(column, frame[column]) for column in numeric_columns}
    for column in categorical_columns:
        values = frame[column]
        typed[column] = values.astype(str).astype(object).where(values.notna(), np.nan)
    return pd.DataFrame(typed, index=frame.index)[columns]


def predict_frame(model: Any, rows: pd.DataFrame) -> pd.DataFrame:
    """The contract's output for `rows`: `prediction`, then `probability_<class>` columns."""
    out = pd.DataFrame({PREDICTION: np.asarray(model.predict(rows))}, index=rows.index)
    if has_probabilities(model):
        proba = np.asarray(model.predict_proba(rows), dtype="float64")
        for position, label in enumerate(model.classes_):
            out[probability_column(label)] = proba[:, position]
    return out


class ContractModel:
    """The pyfunc implementation: the fitted estimator behind the documented input checks and
    output columns."""

    def __init__(self, model: Any, numeric_columns: list[str], categorical_columns: list[str]):
        self.model = model
        self.numeric_columns = list(numeric_columns)
        self.categorical_columns = list(categorical_columns)

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """`prediction` and `probability_<class>` columns, for rows the contract accepts."""
        rows = validate_rows(model_input, self.numeric_columns, self.categorical_columns)
        return predict_frame(self.model, rows)

    def get_raw_model(self) -> Any:
        """The fitted scikit-learn estimator (`PyFuncModel.get_raw_model()` returns it)."""
        return self.model


@dataclass(frozen=True)
class ContractSpec:
    """What the pyfunc flavour records about the contract (in MLmodel, key `mleng_contract`)."""

    numeric_columns: tuple[str, ...]
    categorical_columns: tuple[str, ...]
    training_dtypes: dict[str, str] = field(default_factory=dict)
    text_columns: tuple[str, ...] = ()

    @classmethod
    def from_training(
        cls,
        train_features: pd.DataFrame,
        numeric_columns: list[str],
        categorical_columns: list[str],
    ) -> ContractSpec:
        check_columns(train_features, numeric_columns, categorical_columns)
        columns = [*numeric_columns, *categorical_columns]
        dtypes = {column: str(train_features[column].dtype) for column in columns}
        return cls(tuple(numeric_columns), tuple(categorical_columns), dtypes)

    def with_model_text(self, model: Any) -> ContractSpec:
        """The spec with the model's text columns among its string (categorical) columns."""
        text = [c for c in model_text_columns(model) if c not in self.numeric_columns]
        if not text:
            return self
        extra = [c for c in text if c not in self.categorical_columns]
        categorical = [*self.categorical_columns, *extra]
        return ContractSpec(
            self.numeric_columns, tuple(categorical), dict(self.training_dtypes), tuple(text)
        )

    def flavor_conf(self, model: Any) -> dict[str, Any]:
        conf = {
            "version": CONTRACT_VERSION,
            "numeric_columns": list(self.numeric_columns),
            "categorical_columns": list(self.categorical_columns),
            "training_dtypes": dict(self.training_dtypes),
            "output_columns": output_columns(model),
        }
        if self.text_columns:
            conf["text_columns"] = list(self.text_columns)
        return conf


def save_model(
    path: str,
    mlflow_model: Model,
    sk_model: Any,
    spec: ContractSpec,
    source_run_id: str | None = None,
    **sklearn_options: Any,
) -> None:
    """Save `sk_model` with both flavours: the flavour function `Model.log(flavor=contract)` calls.

    `source_run_id` is recorded in MLmodel (`get_model_info(uri).run_id`) when the model is
    logged for a run that is not the active one.

    `mlflow.sklearn.save_model` (given `sklearn_options`: signature, input_example,
    pip_requirements, code_paths) writes the cloudpickle, the environment files, the code and the
    `sklearn` flavour; the `python_function` flavour is then pointed at this module's loader.
    """
    import mlflow.sklearn
    from mlflow import pyfunc

    options = {k: v for k, v in sklearn_options.items() if k in _SKLEARN_OPTIONS}
    if source_run_id is not None:
        mlflow_model.run_id = source_run_id
    spec = spec.with_model_text(sk_model)
    mlflow.sklearn.save_model(
        sk_model,
        path,
        mlflow_model=mlflow_model,
        serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
        **options,
    )
    sklearn_flavor = mlflow_model.flavors["sklearn"]
    environment = mlflow_model.flavors[pyfunc.FLAVOR_NAME].get("env", {})
    pyfunc.add_to_model(
        mlflow_model,
        loader_module=__name__,
        code=sklearn_flavor.get("code"),
        conda_env=environment.get("conda"),
        python_env=environment.get("virtualenv"),
        **{_FLAVOR_KEY: spec.flavor_conf(sk_model)},
    )
    mlflow_model.save(os.path.join(path, "MLmodel"))


def _load_pyfunc(path: str, model_config: Any = None) -> ContractModel:
    """Called by `mlflow.pyfunc.load_model` with the model folder (the flavour has no `data`)."""
    flavors = Model.load(os.path.join(path, "MLmodel")).flavors
    conf, sklearn_conf = flavors["python_function"][_FLAVOR_KEY], flavors["sklearn"]
    if sklearn_conf.get("serialization_format") != "cloudpickle":
        raise MlflowException(f"expected a cloudpickled scikit-learn model in {path}")
    with open(os.path.join(path, sklearn_conf["pickled_model"]), "rb") as file:
        model = pickle.load(file)  # our own cloudpickle artifact, loaded as mlflow.sklearn does
    return ContractModel(model, conf["numeric_columns"], conf["categorical_columns"])


def _as_frame(rows: Any) -> pd.DataFrame:
    if isinstance(rows, pd.DataFrame):
        return rows
    try:
        return pd.DataFrame(rows)
    except (TypeError, ValueError) as error:
        raise MlflowException.invalid_parameter_value(
            f"the model takes a table of rows with named columns, got {type(rows).__name__}: "
            f"{error}"
        ) from error


def _numeric_values(column: str, values: pd.Series) -> pd.Series:
    """`values` as float64 with NaN for nulls, or the contract's refusal naming `column`."""
    if pd.api.types.is_bool_dtype(values):
        problems = pd.Series(_BOOLEAN, index=values.index).where(values.notna())
    elif pd.api.types.is_integer_dtype(values):
        too_big = (values.abs() > _EXACT_INT).fillna(False).astype(bool)
        problems = pd.Series(_TOO_BIG, index=values.index).where(too_big)
    elif pd.api.types.is_float_dtype(values):
        floats = values.to_numpy(dtype="float64", na_value=np.nan)
        problems = pd.Series(_INFINITE, index=values.index).where(np.isinf(floats))
    else:  # object, string, categorical, dates...: one value at a time
        problems = pd.Series([_problem(v) for v in values.astype(object)], index=values.index)
    _refuse(column, values, problems)
    if pd.api.types.is_numeric_dtype(values):
        floats = values.to_numpy(dtype="float64", na_value=np.nan)
    else:
        floats = np.array([np.nan if _is_null(v) else float(v) for v in values.astype(object)])
    return pd.Series(floats, index=values.index, dtype="float64")


def _problem(value: Any) -> str | None:
    """Why a numeric column cannot hold `value`, or None when it can."""
    if _is_null(value):
        return None
    if isinstance(value, (bool, np.bool_)):
        return _BOOLEAN
    if isinstance(value, (str, bytes)):
        try:
            float(value)
        except ValueError:
            return _NOT_A_NUMBER
        return _NUMBER_AS_TEXT
    if isinstance(value, numbers.Integral):
        return _TOO_BIG if abs(int(value)) > _EXACT_INT else None
    if isinstance(value, numbers.Real):
        return _INFINITE if math.isinf(float(value)) else None
    return _OTHER


def _is_null(value: Any) -> bool:
    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def _refuse(column: str, values: pd.Series, problems: pd.Series) -> None:
    """Raise for the most telling problem any row of `column` has, if any."""
    for problem in _PROBLEMS:
        positions = np.flatnonzero((problems == problem).to_numpy())
        if len(positions):
            first = positions[0]
            value, row = _plain(values.iloc[first]), _plain(values.index[first])
            raise MlflowException.invalid_parameter_value(
                f"column {column!r} must hold numbers or nulls; got {value!r}, "
                f"{problem}, in {len(positions)} of {len(values)} row(s) (first at row {row!r})"
            )


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds, so messages show `inf`, not `np.float64`."""
    return value.item() if isinstance(value, np.generic) else value


def _label_type(labels: np.ndarray) -> DataType:
    if labels.dtype.kind == "b":
        return DataType.boolean
    if labels.dtype.kind in "iu":
        return DataType.long
    if labels.dtype.kind == "f":
        return DataType.double
    return DataType.string
