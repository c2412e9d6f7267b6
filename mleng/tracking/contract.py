"""The registered model's contract: raw rows in, a decision and its probabilities out.

One logged model carries two flavours over one cloudpickled scikit-learn estimator (`model.pkl`):

- `sklearn`: native use, `mlflow.sklearn.load_model(uri)` gives the fitted estimator (a
  `Pipeline` starting with `RawInputCoercer`, or a `FixedThresholdClassifier` around one) with
  `predict_proba`; the flow scores the champion with it.
- `python_function`: loader `mleng.tracking.contract` (this module, shipped with the model in
  `code/mleng`), used by `mlflow.pyfunc.load_model(uri)` and `mlflow models serve`.

Output of the pyfunc model, a DataFrame with one row per input row:

- `prediction`: classifiers, the decided label, i.e. what the registered estimator's `predict`
  returns (a `FixedThresholdClassifier` decides with its tuned threshold, so the label is the
  positive class exactly when its probability reaches the threshold); regressors, the value.
- `probability_<class>`: classifiers with `predict_proba` only, one float column per class in
  the order of `classes_`, named `probability_` + `str(label)` verbatim: `probability_>50K`,
  `probability_<=50K`, `probability_0`, `probability_True`. Each row sums to 1.

Input signature, declared from the training columns, never inferred from a few rows:

- numeric columns: `double`, required. It is the only MLflow type that takes floats and nulls
  (MLflow has no nullable integer; `long` refuses NaN). JSON and CSV requests carry integers
  fine: the scoring server casts each column to float64 before schema enforcement. In-process,
  MLflow 3.17 refuses an int64 column for `double` as lossy ("Can not safely convert int64 to
  float64"; it allows int8/16/32 and 0/1 columns): pass the rows through `conform_rows` first.
  Text that is not a number is refused, never imputed: JSON names the column and the value,
  CSV the value (pandas parses before MLflow), in-process MLflow names the column.
- categorical columns: `string`, required, nulls allowed, whatever the first training rows hold
  (a column empty there is still a string column). Every null (JSON null, CSV empty cell, None,
  NaN) reaches the pipeline as NaN, the missing value training imputed.

Columns outside the signature are ignored; a missing one is an error naming it.
"""

from __future__ import annotations

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
CONTRACT_VERSION = 1
_FLAVOR_KEY = "mleng_contract"
# Integers beyond 2**53 are not exact as float64: refuse them rather than change their value.
_EXACT_INT = 2**53
_SKLEARN_OPTIONS = {"signature", "input_example", "pip_requirements", "code_paths"}


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


def build_signature(
    model: Any,
    train_features: pd.DataFrame,
    numeric_columns: list[str],
    categorical_columns: list[str],
) -> ModelSignature:
    """The contract's signature: numeric columns `double`, categorical `string`, all required.

    The types come from the column roles of training, not from an example: a numeric column that
    held only integers in training still accepts floats and nulls, and a categorical column empty
    in its first rows is still a string column.
    """
    check_columns(train_features, numeric_columns, categorical_columns)
    inputs = [ColSpec(DataType.double, column) for column in numeric_columns]
    inputs += [ColSpec(DataType.string, column) for column in categorical_columns]
    if has_probabilities(model):
        outputs = [ColSpec(_label_type(np.asarray(model.classes_)), PREDICTION)]
        outputs += [ColSpec(DataType.double, probability_column(c)) for c in model.classes_]
    else:
        outputs = [ColSpec(DataType.double, PREDICTION)]
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs))


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


def example_rows(
    train_features: pd.DataFrame,
    numeric_columns: list[str],
    categorical_columns: list[str],
    n_rows: int = 5,
) -> pd.DataFrame:
    """The first training rows typed as the signature declares them, for the input example."""
    rows = train_features.head(n_rows)
    frame = {c: pd.to_numeric(rows[c], errors="coerce").astype("float64") for c in numeric_columns}
    for column in categorical_columns:
        values = rows[column]
        frame[column] = values.astype(str).astype(object).where(values.notna(), None)
    return pd.DataFrame(frame, index=rows.index).reset_index(drop=True)


def conform_rows(rows: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """`rows` typed for an in-process `PyFuncModel.predict`: numeric columns made float64.

    MLflow 3.17 refuses int64 (and object) columns for `double` in `PyFuncModel.predict`; the
    scoring server casts requests before it checks, so they need nothing. Integers, numeric text
    and nulls become float64; other text is refused naming the column and the value, as the
    served model does. An all-null categorical column, which pandas reads as float64, becomes an
    object column of None. Columns outside the signature are left for MLflow to drop.
    """
    conformed = rows.copy()
    for spec in schema.inputs:
        if spec.name not in conformed.columns or not isinstance(spec.type, DataType):
            continue
        values = conformed[spec.name]
        if spec.type == DataType.double and not pd.api.types.is_float_dtype(values):
            check_numeric_values(conformed, [spec.name])
            numbers = pd.to_numeric(values, errors="coerce").astype("float64")
            if (numbers.abs() > _EXACT_INT).any():
                raise MlflowException.invalid_parameter_value(
                    f"column {spec.name!r} holds integers beyond 2**53, which float64 cannot "
                    "represent exactly"
                )
            conformed[spec.name] = numbers
        elif spec.type == DataType.string and values.isna().all() and values.dtype != object:
            conformed[spec.name] = pd.Series([None] * len(values), index=values.index, dtype=object)
    return conformed


def check_numeric_values(rows: pd.DataFrame, numeric_columns: list[str]) -> None:
    """Refuse text in a numeric column, naming the column and the value; nulls are fine.

    Schema enforcement already stops such rows before `predict`; this keeps `ContractModel`
    honest when called without it, since the pipeline's own coercion makes such text missing.
    """
    for column in numeric_columns:
        values = rows[column]
        if pd.api.types.is_numeric_dtype(values):
            continue
        parsed = pd.to_numeric(values, errors="coerce")
        bad = values[values.notna() & parsed.isna()]
        if len(bad):
            raise MlflowException.invalid_parameter_value(
                f"column {column!r} must hold numbers or nulls; got {bad.iloc[0]!r} "
                f"({len(bad)} row(s)); send a number or null, never text"
            )


def missing_as_nan(rows: pd.DataFrame, categorical_columns: list[str]) -> pd.DataFrame:
    """`rows` with every null of a categorical column (None, pd.NA) as NaN, as training saw them.

    A JSON null arrives as None, a CSV empty cell as NaN; the pipeline's imputer treats only NaN
    as missing (None would be an unseen category), so both must become NaN.
    """
    null_columns = [c for c in categorical_columns if rows[c].isna().any()]
    if not null_columns:
        return rows
    rows = rows.copy()
    for column in null_columns:
        values = rows[column].astype(object)
        rows[column] = values.where(values.notna(), np.nan)
    return rows


def predict_frame(model: Any, rows: pd.DataFrame) -> pd.DataFrame:
    """The contract's output for `rows`: `prediction`, then `probability_<class>` columns."""
    out = pd.DataFrame({PREDICTION: np.asarray(model.predict(rows))}, index=rows.index)
    if has_probabilities(model):
        proba = np.asarray(model.predict_proba(rows), dtype="float64")
        for position, label in enumerate(model.classes_):
            out[probability_column(label)] = proba[:, position]
    return out


class ContractModel:
    """The pyfunc implementation: the fitted estimator behind the documented output columns."""

    def __init__(self, model: Any, numeric_columns: list[str], categorical_columns: list[str]):
        self.model = model
        self.numeric_columns = list(numeric_columns)
        self.categorical_columns = list(categorical_columns)

    def predict(self, model_input: pd.DataFrame, params: dict[str, Any] | None = None):
        """`prediction` and `probability_<class>` columns for rows MLflow checked and typed."""
        if not isinstance(model_input, pd.DataFrame):
            model_input = pd.DataFrame(model_input)
        check_numeric_values(model_input, self.numeric_columns)
        rows = missing_as_nan(model_input, self.categorical_columns)
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

    def flavor_conf(self, model: Any) -> dict[str, Any]:
        return {
            "version": CONTRACT_VERSION,
            "numeric_columns": list(self.numeric_columns),
            "categorical_columns": list(self.categorical_columns),
            "training_dtypes": dict(self.training_dtypes),
            "output_columns": output_columns(model),
        }


def save_model(
    path: str, mlflow_model: Model, sk_model: Any, spec: ContractSpec, **sklearn_options: Any
) -> None:
    """Save `sk_model` with both flavours: the flavour function `Model.log(flavor=contract)` calls.

    `mlflow.sklearn.save_model` (given `sklearn_options`: signature, input_example,
    pip_requirements, code_paths) writes the cloudpickle, the environment files, the code and the
    `sklearn` flavour; the `python_function` flavour is then pointed at this module's loader.
    """
    import mlflow.sklearn
    from mlflow import pyfunc

    options = {k: v for k, v in sklearn_options.items() if k in _SKLEARN_OPTIONS}
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


def _label_type(labels: np.ndarray) -> DataType:
    if labels.dtype.kind == "b":
        return DataType.boolean
    if labels.dtype.kind in "iu":
        return DataType.long
    if labels.dtype.kind == "f":
        return DataType.double
    return DataType.string
