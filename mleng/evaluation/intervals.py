"""Confidence intervals from a bootstrap distribution: percentile and BCa."""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr, ndtri


def percentile_interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    """The central `confidence` share of the resampled values, ignoring undefined (NaN)
    resamples."""
    finite = values[~np.isnan(values)]
    if finite.size == 0:
        return np.nan, np.nan
    tail = (1.0 - confidence) / 2.0
    low, high = np.percentile(finite, [100 * tail, 100 * (1 - tail)])
    return float(low), float(high)


def jackknife_acceleration(jackknife_values: np.ndarray) -> float:
    """BCa's acceleration: the skewness of the jackknife influence values over six."""
    finite = jackknife_values[~np.isnan(jackknife_values)]
    deviations = finite.mean() - finite if finite.size else finite
    spread = np.sum(deviations**2)
    if finite.size < 3 or spread == 0:
        return 0.0
    return float(np.sum(deviations**3) / (6.0 * spread**1.5))


def bca_interval(
    values: np.ndarray, estimate: float, acceleration: float, confidence: float
) -> tuple[float, float]:
    """Bias-corrected and accelerated interval (Efron 1987): percentile levels shifted for bias
    and skew.

    The bias correction counts ties with the estimate as half below, as scipy does; when the
    estimate lies outside every resample the share is held half a resample inside the range
    rather than sending the correction to infinity.
    """
    finite = values[~np.isnan(values)]
    if finite.size == 0 or np.isnan(estimate):
        return np.nan, np.nan
    if finite.min() == finite.max():
        return float(finite[0]), float(finite[0])
    below = (np.sum(finite < estimate) + np.sum(finite <= estimate)) / (2.0 * finite.size)
    below = np.clip(below, 0.5 / finite.size, 1 - 0.5 / finite.size)
    bias = ndtri(below)
    tail = (1.0 - confidence) / 2.0
    normal = ndtri(np.array([tail, 1.0 - tail]))
    levels = ndtr(bias + (bias + normal) / (1.0 - acceleration * (bias + normal)))
    low, high = np.percentile(finite, 100 * levels)
    return float(low), float(high)
