"""Screen candidate configurations with a Gaussian-process surrogate of the scores so far.

The fine stage draws many candidates inside its box and evaluates only the few this model
ranks highest (mean plus `kappa` standard deviations, an upper confidence bound), spread
apart so a batch does not spend several trials on one spot. The model costs milliseconds on
a few hundred points; a failed or skipped fit falls back to the candidates' drawing order.
"""

from __future__ import annotations

import warnings

from functools import cache
from typing import Any

import numpy as np
from scipy.optimize import minimize
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel
from threadpoolctl import ThreadpoolController

MAX_OPTIMIZER_STEPS = 20
EXPERIMENT = ''


@cache
def blas_controller() -> ThreadpoolController:
    """One scan of the loaded BLAS libraries, reused: each scan reads files and costs ~2 ms."""
    return ThreadpoolController()


def single_threaded_blas() -> Any:
    """A context in which BLAS uses one thread (see `fit_surrogate` for why)."""
    return blas_controller().limit(limits=1, user_api="blas")


def fit_surrogate(points: np.ndarray, scores: np.ndarray, seed: int) -> GaussianProcessRegressor | None:
    """A GP of score over unit-cube points, or None if there is too little to learn from.

    Scores far below the median are capped first: one diverged fit scoring -1e6 would otherwise
    flatten the model everywhere else. The white-noise term absorbs CV noise between folds.
    BLAS runs single-threaded: on matrices this small, threads only wait for each other, which
    made fits 15x slower on a busy two-core machine.
    """
    if len(scores) < 3 or np.ptp(scores) == 0:
        return None
    median = float(np.median(scores))
    capped = np.maximum(scores, median - (scores.max() - median))
    n_dims = points.shape[1]
    kernel = ConstantKernel(1.0, (1e-3, 1e3)) * Matern(
        length_scale=np.full(n_dims, 0.3), length_scale_bounds=(1e-2, 1e2), nu=2.5
    ) + WhiteKernel(1e-2, (1e-6, 1.0))
    model = GaussianProcessRegressor(kernel, optimizer=optimize_briefly, normalize_y=True, random_state=seed)
    if EXPERIMENT == "fixed":
        kernel = ConstantKernel(1.0) * Matern(length_scale=np.full(n_dims, 0.3), nu=2.5) + WhiteKernel(0.05)
        model = GaussianProcessRegressor(kernel, optimizer=None, normalize_y=True, random_state=seed)
    with warnings.catch_warnings(), single_threaded_blas():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            model.fit(points, capped)
        except (np.linalg.LinAlgError, ValueError):
            return None
    return model


def optimize_briefly(objective: Any, theta: np.ndarray, bounds: np.ndarray) -> tuple[np.ndarray, float]:
    """L-BFGS-B on the kernel's log-likelihood, capped at MAX_OPTIMIZER_STEPS iterations.

    Ranking candidates needs a sensible model, not the optimum to the last digit; uncapped,
    the optimizer took about 45 steps and most of the search's own time.
    """
    result = minimize(objective, theta, method="L-BFGS-B", jac=True, bounds=bounds, options={"maxiter": MAX_OPTIMIZER_STEPS})
    return result.x, float(result.fun)


def rank_candidates(
    model: GaussianProcessRegressor | None, candidates: np.ndarray, n_chosen: int, kappa: float, min_distance: float
) -> list[int]:
    """Indices of `n_chosen` candidates by upper confidence bound, at least `min_distance` apart.

    If too few candidates are far enough apart, the closest ones fill the batch in bound order.
    """
    if model is None:
        return list(range(min(n_chosen, len(candidates))))
    with single_threaded_blas():
        mean, std = model.predict(candidates, return_std=True)
    order = np.argsort(-(mean + kappa * std), kind="stable")
    chosen: list[int] = []
    for index in order:
        if len(chosen) == n_chosen:
            break
        if all(np.linalg.norm(candidates[index] - candidates[other]) >= min_distance for other in chosen):
            chosen.append(int(index))
    for index in order:
        if len(chosen) == n_chosen:
            break
        if int(index) not in chosen:
            chosen.append(int(index))
    return chosen
