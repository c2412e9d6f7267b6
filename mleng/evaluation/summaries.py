"""Turn weighted sums into metrics, for any number of resamples at once.

Each resample is summarised by the weighted sums of a few per-row columns (`sums`, shape
(b, columns)), its total weight and its ROC AUCs. The formulas follow scikit-learn's
conventions exactly, including how they treat a class that a resample happens to lack.
"""

from __future__ import annotations

import numpy as np


def classification_columns(n_classes: int, with_loss: bool) -> dict[str, slice | int]:
    """Where each block of per-row columns sits: hits, true and predicted indicators, then loss."""
    layout: dict[str, slice | int] = {
        "hits": slice(0, n_classes),
        "true": slice(n_classes, 2 * n_classes),
        "predicted": slice(2 * n_classes, 3 * n_classes),
    }
    if with_loss:
        layout["loss"] = 3 * n_classes
    return layout


def summarize_classification(
    sums: np.ndarray,
    totals: np.ndarray,
    aucs: np.ndarray,
    *,
    n_classes: int,
    positive: int | None,
    metrics: tuple[str, ...],
) -> dict[str, np.ndarray]:
    """Classification metrics from per-class hit, true and predicted counts.

    `positive` is the positive class index for binary tasks and None for multiclass, which
    switches f1 to the macro average and ROC AUC to the one-vs-rest macro average.
    """
    layout = classification_columns(n_classes, with_loss="log_loss" in metrics)
    hits, true, predicted = (
        sums[:, layout["hits"]],
        sums[:, layout["true"]],
        sums[:, layout["predicted"]],
    )
    results: dict[str, np.ndarray] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        if "accuracy" in metrics:
            results["accuracy"] = hits.sum(axis=1) / totals
        if "balanced_accuracy" in metrics:
            # scikit-learn averages recall over the classes present in y_true only.
            present = true > 0
            recall = np.where(present, hits / np.where(present, true, 1.0), 0.0)
            results["balanced_accuracy"] = recall.sum(axis=1) / present.sum(axis=1)
        if "f1" in metrics:
            denominator = true + predicted  # 2TP + FP + FN
            f1 = np.where(
                denominator > 0, 2.0 * hits / np.where(denominator > 0, denominator, 1.0), 0.0
            )
            if positive is not None:
                results["f1"] = f1[:, positive]
            else:
                # Macro f1 averages over labels seen in y_true or y_pred, as scikit-learn does.
                included = denominator > 0
                results["f1"] = (f1 * included).sum(axis=1) / included.sum(axis=1)
        if "roc_auc" in metrics:
            results["roc_auc"] = aucs[:, 0] if positive is not None else aucs.mean(axis=1)
        if "log_loss" in metrics:
            results["log_loss"] = sums[:, layout["loss"]] / totals
    return results


REGRESSION_COLUMNS = ("centred_target", "centred_target_squared", "squared_error", "absolute_error")


def summarize_regression(
    sums: np.ndarray, totals: np.ndarray, aucs: np.ndarray, *, metrics: tuple[str, ...]
) -> dict[str, np.ndarray]:
    """RMSE, MAE and R² from weighted sums of the target, its square and the errors.

    The target is centred on its test-set mean before squaring so the total sum of squares
    does not lose precision to cancellation when the target sits far from zero.
    """
    target, target_squared, squared_error, absolute_error = (sums[:, j] for j in range(4))
    results: dict[str, np.ndarray] = {}
    if "rmse" in metrics:
        results["rmse"] = np.sqrt(squared_error / totals)
    if "mae" in metrics:
        results["mae"] = absolute_error / totals
    if "r2" in metrics:
        total_squares = target_squared - target**2 / totals
        constant = total_squares <= 1e-12 * np.maximum(target_squared, 1e-300)
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = 1.0 - squared_error / total_squares
        # scikit-learn's force_finite: a constant target scores 1 if predicted perfectly, else 0.
        results["r2"] = np.where(constant, np.where(squared_error == 0, 1.0, 0.0), r2)
    return results
