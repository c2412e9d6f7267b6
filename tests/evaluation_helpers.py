"""Predictions with known truths for the evaluation tests: binormal scores, multiclass,
regression."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn import metrics as skm

from mleng.evaluation import Predictions

CLASSES = np.array(["<=50K", ">50K"])


def binormal_predictions(
    n: int, separation: float = 1.0, seed: int = 0, decimals: int | None = None
):
    """String labels and probabilities from a binormal model whose true AUC is Phi(d / sqrt(2))."""
    rng = np.random.default_rng(seed)
    positive = rng.random(n) < 0.4
    score = rng.normal(size=n) + separation * positive
    probability = 1.0 / (1.0 + np.exp(-(score - 0.5 * separation)))
    if decimals is not None:  # few distinct scores, like a shallow tree: ties everywhere
        probability = np.round(probability, decimals)
    proba = np.column_stack([1.0 - probability, probability])
    return np.where(positive, ">50K", "<=50K"), Predictions(
        CLASSES[(probability > 0.5).astype(int)], proba, CLASSES
    )


def multiclass_predictions(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    classes = np.array(["cat", "dog", "eel"])
    truth = rng.integers(0, 3, n)
    logits = rng.normal(size=(n, 3)) + 1.5 * np.eye(3)[truth]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return classes[truth], Predictions(classes[proba.argmax(axis=1)], proba, classes)


def regression_predictions(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = 1000.0 + 5.0 * rng.normal(size=n)
    return y, Predictions(y + rng.normal(size=n) * 2.0 + 0.3)


def sklearn_metrics(
    task: str, y_true, predictions: Predictions, positive_label=None
) -> dict[str, float]:
    """The reference: scikit-learn's own metric functions, one call per metric."""
    y_pred, proba, classes = predictions.y_pred, predictions.proba, predictions.classes
    if task == "regression":
        return {
            "rmse": skm.root_mean_squared_error(y_true, y_pred),
            "mae": skm.mean_absolute_error(y_true, y_pred),
            "r2": skm.r2_score(y_true, y_pred),
        }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = {
            "accuracy": skm.accuracy_score(y_true, y_pred),
            "balanced_accuracy": skm.balanced_accuracy_score(y_true, y_pred),
            "log_loss": skm.log_loss(y_true, proba, labels=classes),
        }
        if task == "binary":
            positive = list(classes).index(positive_label)
            results["f1"] = skm.f1_score(y_true, y_pred, pos_label=positive_label)
            results["roc_auc"] = skm.roc_auc_score(
                np.asarray(y_true) == positive_label, proba[:, positive]
            )
        else:
            results["f1"] = skm.f1_score(y_true, y_pred, average="macro")
            results["roc_auc"] = skm.roc_auc_score(y_true, proba, multi_class="ovr", labels=classes)
    return results


def assert_metrics_close(
    ours: dict[str, float], reference: dict[str, float], tolerance: float = 1e-9
) -> None:
    assert set(ours) == set(reference)
    for name, value in reference.items():
        if np.isnan(value):
            assert np.isnan(ours[name]), name
        else:
            assert ours[name] == pytest.approx(value, abs=tolerance), name


# --- point estimates ---------------------------------------------------------------------------
