"""Benchmark: mleng's vectorised bootstrap against scipy.stats.bootstrap and a naive sklearn loop.

All methods bootstrap the same five binary metrics (accuracy, balanced accuracy, f1, ROC AUC,
log loss) with B = 1000 percentile resamples on the same binormal data (true AUC known).

- mleng: `bootstrap_metrics` (percentile, and BCa for reference), timed end to end including
  label encoding, sorting, grouping and its fidelity checks. `mleng_rows_unbinned` is the same
  vectorised engine forced to resample rows one by one (no grouping or binning): the exact
  reference that the binned intervals are checked against.
- scipy: `scipy.stats.bootstrap(paired=True, vectorized=True)` with a numpy statistic that
  computes all five metrics along the resample axis (ROC AUC from `rankdata` midranks), in
  batches that keep memory near mleng's. Where a full run would take minutes it runs fewer
  resamples and the time is extrapolated linearly (labelled `extrapolated`).
- naive: a Python loop drawing row indices and calling scikit-learn's five metric functions;
  always run on fewer resamples than B beyond the smallest size, and extrapolated.

Agreement: the largest difference of any interval endpoint (five metrics, two ends) from
mleng's, in units of mleng's interval width, for runs with at least 200 resamples. Independent
resamples disagree by Monte Carlo noise alone; mleng rerun with another seed shows its size.
On identical resamples, the largest difference between mleng's weighted metrics and
scikit-learn's is reported as well.

Run: python bench/bootstrap.py [--quick]; writes bench/results/bootstrap.json
(quick: bootstrap_quick.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import scipy
import sklearn
from scipy import stats
from sklearn import metrics as skm

from mleng.evaluation import Predictions, Resampling, Truth, bootstrap_metrics
from mleng.evaluation.compression import align_for_resampling, compress_tables
from mleng.evaluation.resampling import bootstrap_distributions, weights_from_indices
from mleng.evaluation.tables import build_table
from mleng.evaluation.weighted import evaluate_weights

ROOT = Path(__file__).resolve().parents[1]
METRICS = ("accuracy", "balanced_accuracy", "f1", "roc_auc", "log_loss")
N_RESAMPLES = 1000
SEPARATION = 1.0
SCIPY_SECONDS = 30.0  # time per size before scipy runs fewer resamples and extrapolates
NAIVE_SECONDS = 10.0  # same for the naive loop
MLENG_REPEATS = 3  # mleng is timed as the median of a few runs: it is quick, the machine is shared


def make_data(n: int, seed: int = 0) -> tuple[np.ndarray, Predictions]:
    """Binary labels 0/1 and logistic probabilities from a binormal model (AUC = Phi(d/sqrt 2))."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(np.int64)
    probability = 1.0 / (1.0 + np.exp(-(rng.normal(size=n) + SEPARATION * y - 1.0)))
    proba = np.column_stack([1.0 - probability, probability])
    return y, Predictions((probability > 0.5).astype(np.int64), proba, np.array([0, 1]))


def vectorised_statistic(
    y: np.ndarray, predicted: np.ndarray, probability: np.ndarray, axis: int = -1
) -> np.ndarray:
    """The five metrics along `axis` in plain numpy, for scipy.stats.bootstrap(vectorized=True)."""
    y, predicted, probability = (np.moveaxis(a, axis, -1) for a in (y, predicted, probability))
    positives = y.sum(axis=-1)
    negatives = y.shape[-1] - positives
    true_positive = (y * predicted).sum(axis=-1)
    true_negative = ((1 - y) * (1 - predicted)).sum(axis=-1)
    false_positive = ((1 - y) * predicted).sum(axis=-1)
    false_negative = positives - true_positive
    with np.errstate(divide="ignore", invalid="ignore"):
        accuracy = (true_positive + true_negative) / y.shape[-1]
        balanced = 0.5 * (true_positive / positives + true_negative / negatives)
        f1 = 2 * true_positive / (2 * true_positive + false_positive + false_negative)
        ranks = stats.rankdata(probability, axis=-1)
        auc = ((ranks * y).sum(axis=-1) - positives * (positives + 1) / 2) / (positives * negatives)
    eps = np.finfo(np.float64).eps
    clipped = np.clip(probability, eps, 1 - eps)
    log_loss = -(y * np.log(clipped) + (1 - y) * np.log1p(-clipped)).mean(axis=-1)
    return np.stack([accuracy, balanced, f1, auc, log_loss])


def naive_metrics(y: np.ndarray, predictions: Predictions) -> list[float]:
    """The five metrics from scikit-learn, one call each."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [
            skm.accuracy_score(y, predictions.y_pred),
            skm.balanced_accuracy_score(y, predictions.y_pred),
            skm.f1_score(y, predictions.y_pred),
            skm.roc_auc_score(y, predictions.proba[:, 1]),
            skm.log_loss(y, predictions.proba, labels=[0, 1]),
        ]


def intervals_from(values: np.ndarray) -> dict[str, list[float]]:
    """Percentile 95% intervals per metric from a (resamples, metrics) array."""
    low, high = np.nanpercentile(values, [2.5, 97.5], axis=0)
    return {name: [float(low[j]), float(high[j])] for j, name in enumerate(METRICS)}


def run_mleng(
    y: np.ndarray, predictions: Predictions, method: str, seed: int = 1
) -> dict[str, Any]:
    timings = []
    for _ in range(MLENG_REPEATS):
        start = time.perf_counter()
        result = bootstrap_metrics(
            Truth("binary", y, 1), predictions, Resampling(N_RESAMPLES, seed=seed), method=method
        )
        timings.append(time.perf_counter() - start)
    return {
        "seconds": float(np.median(timings)),
        "resamples_run": N_RESAMPLES,
        "extrapolated": False,
        "intervals": {name: [result[name].low, result[name].high] for name in METRICS},
    }


def run_mleng_rows(y: np.ndarray, predictions: Predictions) -> dict[str, Any]:
    """mleng's engine forced to resample rows one by one: the exact reference for its binning."""
    start = time.perf_counter()
    [table] = align_for_resampling([build_table("binary", y, predictions, 1)])
    distribution = bootstrap_distributions([table], N_RESAMPLES, seed=5)
    seconds = time.perf_counter() - start
    values = np.column_stack([distribution[0][name] for name in METRICS])
    return {
        "seconds": seconds,
        "resamples_run": N_RESAMPLES,
        "extrapolated": False,
        "intervals": intervals_from(values),
    }


def scipy_bootstrap(y: np.ndarray, predictions: Predictions, resamples: int) -> tuple[float, Any]:
    """Seconds and result of scipy.stats.bootstrap over `resamples` resamples."""
    start = time.perf_counter()
    result = stats.bootstrap(
        (y, predictions.y_pred, predictions.proba[:, 1]),
        vectorised_statistic,
        paired=True,
        vectorized=True,
        n_resamples=resamples,
        batch=max(1, int(2e6 // len(y))),
        method="percentile",
        rng=2,
    )
    return time.perf_counter() - start, result


def run_scipy(y: np.ndarray, predictions: Predictions) -> dict[str, Any]:
    pilot_seconds, _ = scipy_bootstrap(y, predictions, 10)
    resamples = int(min(N_RESAMPLES, max(20, SCIPY_SECONDS / (pilot_seconds / 10))))
    seconds, result = scipy_bootstrap(y, predictions, resamples)
    low, high = result.confidence_interval
    return {
        "seconds": seconds * N_RESAMPLES / resamples,
        "resamples_run": resamples,
        "extrapolated": resamples < N_RESAMPLES,
        "intervals": {name: [float(low[j]), float(high[j])] for j, name in enumerate(METRICS)}
        if resamples >= 200
        else None,
    }


def run_naive(y: np.ndarray, predictions: Predictions) -> dict[str, Any]:
    n = len(y)
    rng = np.random.default_rng(3)
    values = []
    start = time.perf_counter()
    while len(values) < N_RESAMPLES and (
        len(values) < 5 or time.perf_counter() - start < NAIVE_SECONDS
    ):
        rows = rng.integers(0, n, n)
        values.append(
            naive_metrics(
                y[rows], Predictions(predictions.y_pred[rows], predictions.proba[rows], None)
            )
        )
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds * N_RESAMPLES / len(values),
        "resamples_run": len(values),
        "extrapolated": len(values) < N_RESAMPLES,
        "intervals": intervals_from(np.array(values)) if len(values) >= 200 else None,
    }


def identical_resample_gap(y: np.ndarray, predictions: Predictions, resamples: int) -> float:
    """Largest |mleng - sklearn| over metrics on the same row resamples (ungrouped table)."""
    table = build_table("binary", y, predictions, 1)
    rng = np.random.default_rng(4)
    gap = 0.0
    for _ in range(resamples):
        rows = rng.integers(0, len(y), len(y))
        ours = evaluate_weights(
            table, weights_from_indices(rows[None, :], len(table.counts), table.inverse)
        )
        reference = naive_metrics(
            y[rows], Predictions(predictions.y_pred[rows], predictions.proba[rows], None)
        )
        gap = max(
            gap, max(abs(float(ours[name][0]) - value) for name, value in zip(METRICS, reference))
        )
    return gap


def agreement(
    reference: dict[str, list[float]], other: dict[str, list[float]] | None
) -> float | None:
    """Largest endpoint difference over metrics, in units of the reference interval's width."""
    if other is None:
        return None
    return max(
        max(abs(other[name][0] - reference[name][0]), abs(other[name][1] - reference[name][1]))
        / (reference[name][1] - reference[name][0])
        for name in METRICS
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes only (a few seconds)")
    args = parser.parse_args()
    sizes = (2_000, 10_000) if args.quick else (10_000, 100_000, 1_000_000)
    y, p = make_data(500)
    bootstrap_metrics(Truth("binary", y, 1), p, Resampling(50))  # warm imports and caches

    rows: list[dict[str, Any]] = []
    checks: list[dict[str, Any]] = []
    for n in sizes:
        y, predictions = make_data(n)
        [_], report = compress_tables([build_table("binary", y, predictions, 1)], N_RESAMPLES)
        runs = {
            "mleng_percentile": run_mleng(y, predictions, "percentile"),
            "mleng_percentile_other_seed": run_mleng(y, predictions, "percentile", seed=7),
            "mleng_bca": run_mleng(y, predictions, "bca"),
            "mleng_rows_unbinned": run_mleng_rows(y, predictions),
            "scipy_vectorized": run_scipy(y, predictions),
            "naive_sklearn_loop": run_naive(y, predictions),
        }
        reference = runs["mleng_percentile"]["intervals"]
        for method, run in runs.items():
            run["agreement_with_mleng"] = (
                agreement(reference, run["intervals"]) if method != "mleng_percentile" else 0.0
            )
            rows.append({"method": method, "n": n, **run})
        checks.append(
            {
                "n": n,
                "resampling": report.mode,
                "groups": report.n_groups,
                "bins": report.bins,
                "auc_shift_from_binning": report.auc_shift,
                "within_group_variance_share": report.within_share,
                "identical_resample_max_gap": identical_resample_gap(
                    y, predictions, 20 if n <= 100_000 else 3
                ),
            }
        )
        print_table([row for row in rows if row["n"] == n])

    print("\nGrouping and exactness checks:")
    for check in checks:
        print(
            "  "
            + ", ".join(
                f"{key}={value:.3g}" if isinstance(value, float) else f"{key}={value}"
                for key, value in check.items()
            )
        )
    # a smoke run must not overwrite the measured results kept in the repository
    output = (
        ROOT / "bench" / "results" / ("bootstrap_quick.json" if args.quick else "bootstrap.json")
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(
        json.dumps(
            {
                "settings": {
                    "n_resamples": N_RESAMPLES,
                    "confidence": 0.95,
                    "metrics": METRICS,
                    "quick": args.quick,
                },
                "true_auc": float(stats.norm.cdf(SEPARATION / np.sqrt(2))),
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "numpy": np.__version__,
                    "scipy": scipy.__version__,
                    "sklearn": sklearn.__version__,
                },
                "runs": rows,
                "checks": checks,
            },
            indent=2,
        )
    )
    print(f"\nwrote {output.relative_to(ROOT)}")


def print_table(rows: list[dict[str, Any]]) -> None:
    """One line per method: time for B resamples, its AUC interval and agreement with mleng."""
    print(
        f"\n{'method':<28}{'n':>10}{'seconds':>12}  {'run':<22}{'AUC interval':<22}{'vs mleng':>9}"
    )
    for row in rows:
        run = f"{row['resamples_run']} resamples" + (" (extrap.)" if row["extrapolated"] else "")
        auc = row["intervals"]["roc_auc"] if row["intervals"] else None
        interval = f"[{auc[0]:.4f}, {auc[1]:.4f}]" if auc else "n/a (too few)"
        agree = (
            f"{row['agreement_with_mleng']:.3f}"
            if row["agreement_with_mleng"] is not None
            else "n/a"
        )
        print(
            f"{row['method']:<28}{row['n']:>10}{row['seconds']:>12.2f}  "
            f"{run:<22}{interval:<22}{agree:>9}"
        )


if __name__ == "__main__":
    main()
