"""Screen candidate configurations with a small Gaussian-process surrogate of the scores so far.

The fine stage draws many candidates inside its box and evaluates only the few this model
ranks highest (mean plus a multiple of the standard deviation, an upper confidence bound),
spread apart so one batch does not spend several trials on one spot.

The model is deliberately plain: a Matern-5/2 kernel on the unit cube with one length scale,
picked with the noise level from a small grid by marginal likelihood. On bench/search.py this
ranked candidates as well as scikit-learn's GP with a length scale per parameter fitted by
L-BFGS, at a hundredth of the cost (a few Cholesky factorisations of at most budget x budget).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_solve, cholesky, solve_triangular

LENGTH_SCALES = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6)
NOISE_LEVELS = (1e-4, 1e-2, 0.1, 0.5)


@dataclass(frozen=True)
class Surrogate:
    """A fitted GP: enough to predict the mean and standard deviation of unseen points."""

    points: np.ndarray
    cholesky_factor: np.ndarray
    weights: np.ndarray
    length_scale: float
    score_mean: float
    score_scale: float

    def predict(self, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation of the score at each candidate."""
        cross = matern_kernel(candidates, self.points, self.length_scale)
        mean = cross @ self.weights
        reduced = solve_triangular(self.cholesky_factor, cross.T, lower=True)
        variance = np.maximum(1.0 - np.sum(reduced**2, axis=0), 0.0)
        return self.score_mean + self.score_scale * mean, self.score_scale * np.sqrt(variance)


def matern_kernel(left: np.ndarray, right: np.ndarray, length_scale: float) -> np.ndarray:
    """Matern-5/2 covariance (unit amplitude): smooth, yet less rigid than a squared exponential."""
    distance = np.sqrt(
        np.maximum(np.sum((left[:, None, :] - right[None, :, :]) ** 2, axis=-1), 0.0)
    )
    scaled = math.sqrt(5.0) * distance / length_scale
    return (1.0 + scaled + scaled**2 / 3.0) * np.exp(-scaled)


def fit_surrogate(points: np.ndarray, scores: np.ndarray) -> Surrogate | None:
    """The GP with the best marginal likelihood over the grid, or None if nothing can be learnt.

    Scores far below the median are capped first: one diverged fit scoring -1e6 would otherwise
    flatten the model everywhere else. The noise term absorbs CV noise between folds.
    """
    if len(scores) < 3 or np.ptp(scores) == 0:
        return None
    median = float(np.median(scores))
    capped = np.maximum(scores, median - (scores.max() - median))
    score_mean, score_scale = float(capped.mean()), float(capped.std()) or 1.0
    target = (capped - score_mean) / score_scale
    best: tuple[float, Surrogate] | None = None
    for length_scale in LENGTH_SCALES:
        covariance = matern_kernel(points, points, length_scale)
        for noise in NOISE_LEVELS:
            try:
                factor = cholesky(covariance + noise * np.eye(len(points)), lower=True)
            except np.linalg.LinAlgError:
                continue
            weights = cho_solve((factor, True), target)
            log_likelihood = -0.5 * float(target @ weights) - float(np.sum(np.log(np.diag(factor))))
            if best is None or log_likelihood > best[0]:
                best = (
                    log_likelihood,
                    Surrogate(points, factor, weights, length_scale, score_mean, score_scale),
                )
    return best[1] if best else None


def rank_candidates(
    model: Surrogate | None,
    candidates: np.ndarray,
    n_chosen: int,
    confidence_weight: float,
    min_distance: float,
) -> list[int]:
    """Indices of `n_chosen` candidates by upper confidence bound, at least `min_distance` apart.

    Without a model the candidates keep their drawing order (they are Sobol points already).
    If too few candidates are far enough apart, the closest ones fill the batch in bound order.
    """
    if model is None:
        return list(range(min(n_chosen, len(candidates))))
    mean, std = model.predict(candidates)
    order = [int(i) for i in np.argsort(-(mean + confidence_weight * std), kind="stable")]
    chosen: list[int] = []
    for index in order:
        if len(chosen) == n_chosen:
            break
        if all(
            np.linalg.norm(candidates[index] - candidates[other]) >= min_distance
            for other in chosen
        ):
            chosen.append(index)
    for index in order:
        if len(chosen) == n_chosen:
            break
        if index not in chosen:
            chosen.append(index)
    return chosen
