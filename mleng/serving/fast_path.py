"""At registration: export the model to ONNX for the service's fast path, if it is exact.

The check runs once, when the version is made, on up to 2,000 test rows and 1,000 training rows
(unseen levels and missing values included): labels must be identical and probabilities within
1e-6 of the scikit-learn pipeline's. The verdict becomes version tags, so the service never
decides on its own which path is safe, and the registry shows it.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow import MlflowClient

from mleng.data.split import SplitData
from mleng.reports.formatting import to_jsonable
from mleng.serving.onnx_support import find_unconvertible_estimator
from mleng.serving.served_model import (
    BASELINE_TAG,
    FAST_PATH_ARTIFACT,
    FAST_PATH_REASON_TAG,
    FAST_PATH_TAG,
)

CHECK_TEST_ROWS = 2000
CHECK_TRAIN_ROWS = 1000


@dataclass(frozen=True)
class FastPath:
    """The ONNX graph (None when the service must use scikit-learn) and the version tags."""

    onnx_bytes: bytes | None
    tags: dict[str, str]


def build_fast_path(
    model: Any,
    columns: tuple[list[str], list[str]],
    train_x: pd.DataFrame,
    test_x: pd.DataFrame,
) -> FastPath:
    """Convert `model` and check it on held-out and training rows; never raises for a model
    that cannot convert (the reason says why and the service falls back)."""
    gap = find_unconvertible_estimator(model)
    if gap is not None:  # known without importing ONNX
        return FastPath(None, fast_path_tags(None, f"not convertible: {gap}"))
    from mleng.serving.onnx_path import convert_to_onnx

    numeric, categorical = columns
    check_rows = pd.concat([test_x.head(CHECK_TEST_ROWS), train_x.head(CHECK_TRAIN_ROWS)])
    try:
        conversion = convert_to_onnx(model, numeric, categorical, check_rows)
    except Exception as error:  # noqa: BLE001 - the fast path is optional, the fallback is exact
        return FastPath(None, fast_path_tags(None, f"conversion failed: {error}"[:500]))
    return FastPath(conversion.onnx_bytes, fast_path_tags(conversion.onnx_bytes, conversion.reason))


def record_serving_facts(
    client: MlflowClient, run_id: str, model: Any, split: SplitData, task: str
) -> dict[str, str]:
    """The version's serving facts as tags to register it with: the ONNX fast path (its graph
    logged to the run when exact) and the holdout baseline. Written with the version, before any
    alias points at it, so a service never loads a version without them."""
    columns = split.columns
    fast = build_fast_path(
        model, (columns.numeric, columns.categorical), split.train_x, split.test_x
    )
    if fast.onnx_bytes is not None:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / Path(FAST_PATH_ARTIFACT).name
            path.write_bytes(fast.onnx_bytes)
            client.log_artifact(run_id, str(path), str(Path(FAST_PATH_ARTIFACT).parent))
    return {**fast.tags, **baseline_tags(compute_baseline(split.train_y, task))}


def compute_baseline(target: pd.Series, task: str) -> dict[str, Any]:
    """What a held-out caller gets: the majority class and the class shares, or the median."""
    if task == "regression":
        return {"prediction": float(np.nanmedian(target.to_numpy(dtype="float64")))}
    shares = target.value_counts(normalize=True, sort=False).sort_index()
    return {
        "prediction": to_jsonable(shares.idxmax()),
        "probabilities": {str(label): float(share) for label, share in shares.items()},
    }


def fast_path_tags(onnx_bytes: bytes | None, reason: str) -> dict[str, str]:
    return {
        FAST_PATH_TAG: "onnx" if onnx_bytes is not None else "sklearn",
        FAST_PATH_REASON_TAG: reason[:500],
    }


def baseline_tags(baseline: dict[str, Any]) -> dict[str, str]:
    return {BASELINE_TAG: json.dumps(baseline)}
