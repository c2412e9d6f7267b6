"""MLflow model registry adapter: log the fitted pipeline, register it, move aliases, read the champion.

Aliases (`champion`, `challenger`) replace the deprecated stages. A version is only created once
every check before it has passed, so a failed run never leaves a partial model behind.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import cloudpickle
import mlflow
import numpy as np
import pandas as pd
import sklearn
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature, infer_signature
from mlflow.types.schema import AnyType, ColSpec, Schema
from sklearn.pipeline import Pipeline

CHAMPION = "champion"
CHALLENGER = "challenger"
_PACKAGE_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class RegisteredVersion:
    """A registered model version and the aliases it holds after registration."""

    name: str
    version: str
    model_uri: str
    aliases: tuple[str, ...]


def pinned_requirements() -> list[str]:
    """Exact versions of what the pickled pipeline needs: inferring them costs seconds per model."""
    return [
        f"mlflow=={mlflow.__version__}",
        f"scikit-learn=={sklearn.__version__}",
        f"pandas=={pd.__version__}",
        f"numpy=={np.__version__}",
        f"cloudpickle=={cloudpickle.__version__}",
        f"imbalanced-learn=={version('imbalanced-learn')}",
    ]


def build_signature(
    example: pd.DataFrame, predictions: Any, numeric_columns: list[str]
) -> ModelSignature:
    """A signature over the raw input columns, numeric columns typed `Any`.

    MLflow has no nullable integer: a column typed long rejects a row with a missing value, and
    one typed double rejects int64 input (it refuses the conversion as lossy). Raw CSV rows carry
    both, so numeric columns accept any value and the pipeline's first step coerces them exactly
    as in training; categorical columns keep their inferred string type.
    """
    with warnings.catch_warnings():  # its hint about integer columns is what the Any type resolves
        warnings.simplefilter("ignore", UserWarning)
        signature = infer_signature(example, predictions)
    numeric = set(numeric_columns)
    inputs = [
        ColSpec(AnyType(), spec.name, required=spec.required) if spec.name in numeric else spec
        for spec in signature.inputs.inputs
    ]
    return ModelSignature(inputs=Schema(inputs), outputs=signature.outputs)


def log_pipeline(
    run_id: str, pipeline: Pipeline, input_example: pd.DataFrame, numeric_columns: list[str]
) -> str:
    """Log the fitted pipeline under a run with a signature over the raw input columns; return its URI.

    cloudpickle, not skops: skops refuses common fitted pipelines (numpy dtypes, tree predictors).
    The `mleng` package travels with the model (`code_paths`) so custom transformers load anywhere.
    """
    example = input_example.head(5)
    signature = build_signature(example, pipeline.predict(example), numeric_columns)
    with mlflow.start_run(run_id=run_id):
        info = mlflow.sklearn.log_model(
            pipeline,
            name="model",
            signature=signature,
            input_example=example,
            pip_requirements=pinned_requirements(),
            serialization_format="cloudpickle",
            code_paths=[str(_PACKAGE_DIR)],
        )
    return info.model_uri


def register_version(
    client: MlflowClient, model_uri: str, name: str, run_id: str, tags: dict[str, str]
) -> str:
    """Create a new version of `name` from a logged model; return the version number."""
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(
            name,
            description="Registered by mleng; see the version tags for each promotion decision.",
        )
    version = client.create_model_version(name, model_uri, run_id=run_id, tags=tags)
    return str(version.version)


def find_alias_version(client: MlflowClient, name: str, alias: str) -> str | None:
    """The version holding `alias`, or None when the model or the alias does not exist yet."""
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def load_alias_model(name: str, alias: str) -> Any:
    """The scikit-learn pipeline behind `models:/name@alias` (probabilities need the native flavour)."""
    return mlflow.sklearn.load_model(f"models:/{name}@{alias}")


def set_alias(client: MlflowClient, name: str, alias: str, version: str) -> None:
    """Point `alias` at `version`."""
    client.set_registered_model_alias(name, alias, version)


def tag_version(client: MlflowClient, name: str, version: str, tags: dict[str, Any]) -> None:
    """Record facts (decision, reason, metrics) on a model version."""
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, str(value)[:5000])
