"""How much would more accuracy cost in rows? A power law fitted to the learning curve.

Learning curves of most models on most data follow a power law in the training rows (Hestness
et al. 2017, "Deep learning scaling is predictable, empirically"; Cortes et al. 1994): the loss
falls as `loss(n) = floor + scale * n ** -exponent` towards a floor that more data of the same
kind cannot pass. Fitting it to the curve the data stage already measures answers "how many rows
for a gain of g in the card's metric?" with a number of rows, or "not reachable": the gain would
take the loss below the fitted floor. The interval comes from a parametric bootstrap of the
curve's fold means (each drawn from its standard error), so a curve measured on few folds or
noisy points says so with a wide interval instead of a confident guess.

Scores bounded by 1 (ROC AUC, accuracy, balanced accuracy, F1, R2) become the loss `1 - score`;
errors (RMSE, MAE, log loss) are losses already. Every loss has a floor of 0.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

from mleng.reports.formatting import to_jsonable

BOUNDED_SCORES = ("roc_auc", "accuracy", "balanced_accuracy", "f1", "r2")
ERRORS = ("rmse", "mae", "log_loss")
DEFAULT_BOUNDED_GAIN = 0.01
DEFAULT_RELATIVE_ERROR_GAIN = 0.01  # 1% of today's error
BOOTSTRAP_DRAWS = 300
INTERVAL = 0.95
EXPONENT_BOUNDS = (0.01, 3.0)
MIN_POINTS = 4  # three parameters need at least one degree of freedom


@dataclass(frozen=True)
class PowerLaw:
    """`loss(n) = floor + scale * n ** -exponent`; n is training rows."""

    floor: float
    scale: float
    exponent: float

    def loss_at(self, rows: float) -> float:
        return self.floor + self.scale * rows**-self.exponent

    def rows_for_loss(self, loss: float) -> float:
        """Training rows at which the law reaches `loss`; inf at or below its floor."""
        if loss <= self.floor or self.scale <= 0:
            return math.inf
        return float((self.scale / (loss - self.floor)) ** (1.0 / self.exponent))


@dataclass(frozen=True)
class Extrapolation:
    """Rows needed for a stated gain in the card's metric, by extrapolating the power law."""

    metric: str
    gain: float
    current_rows: int  # training rows of the curve's largest point
    current_score: float  # the curve's fitted score there, in the metric's own units
    exponent: float
    exponent_interval: tuple[float, float]
    ceiling: float  # best score more rows of this kind can reach (the floor, in metric units)
    rows_needed: float  # inf: not reachable by more data of this kind
    rows_needed_interval: tuple[float, float]
    reachable_share: float  # share of bootstrap fits in which the gain is reachable
    explanation: str

    def to_dict(self) -> dict[str, object]:
        return to_jsonable(asdict(self))


def to_loss(metric: str, scores: np.ndarray) -> np.ndarray:
    """The metric as a loss with a floor of 0 (`1 - score` for bounded scores)."""
    if metric in BOUNDED_SCORES:
        return 1.0 - scores
    if metric in ERRORS:
        return scores
    raise ValueError(f"no loss form for metric '{metric}'; use one of {BOUNDED_SCORES + ERRORS}")


def from_loss(metric: str, loss: float) -> float:
    return 1.0 - loss if metric in BOUNDED_SCORES else loss


def default_gain(metric: str, current_score: float) -> float:
    """0.01 for scores bounded by 1; 1% of today's error for RMSE, MAE and log loss."""
    if metric in BOUNDED_SCORES:
        return DEFAULT_BOUNDED_GAIN
    return DEFAULT_RELATIVE_ERROR_GAIN * abs(current_score)


def fit_power_law(
    rows: np.ndarray,
    losses: np.ndarray,
    standard_errors: np.ndarray,
    start: PowerLaw | None = None,
) -> PowerLaw | None:
    """Weighted least squares of the three-parameter law; None when the fit fails.

    The floor stays between 0 and the smallest observed loss; the exponent within
    `EXPONENT_BOUNDS`, so a flat curve fits a floor rather than an absurd exponent. `start`
    (the point fit, for the bootstrap's redraws of the same curve) is where the search begins;
    without it, a floor of half the lowest loss and an exponent of 0.5.
    """
    rows, losses = np.asarray(rows, float), np.asarray(losses, float)
    sigma = np.maximum(np.asarray(standard_errors, float), 1e-4 * max(float(losses.max()), 1e-12))
    lowest = max(float(losses.min()), 0.0)
    start_floor = 0.5 * lowest
    start_scale = max(float(losses[0]) - start_floor, 1e-9) * rows[0] ** 0.5
    start_exponent = 0.5
    if start is not None:  # inside the bounds of this curve, whose lowest loss may differ
        start_floor = min(start.floor, lowest)
        start_scale, start_exponent = max(start.scale, 1e-9), start.exponent
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            (floor, scale, exponent), _ = curve_fit(
                lambda n, f, s, e: f + s * n**-e,
                rows,
                losses,
                p0=(start_floor, start_scale, start_exponent),
                sigma=sigma,
                absolute_sigma=True,
                bounds=(
                    [0.0, 0.0, EXPONENT_BOUNDS[0]],
                    [lowest + 1e-12, np.inf, EXPONENT_BOUNDS[1]],
                ),
                maxfev=5000,
            )
    except (RuntimeError, ValueError):
        return None
    return PowerLaw(float(floor), float(scale), float(exponent))


def extrapolate_rows(
    metric: str,
    rows: list[int],
    mean_scores: list[float],
    standard_errors: list[float],
    gain: float | None = None,
    seed: int = 0,
) -> Extrapolation | None:
    """Rows for `gain` in `metric` (higher-is-better scores, or errors as positive numbers).

    `mean_scores` are the curve's means at `rows` and `standard_errors` their standard errors
    (fold spread / sqrt(folds)). None when the curve has too few points or the law cannot be fit.
    """
    if len(rows) < MIN_POINTS or not np.isfinite(mean_scores).all():
        return None
    sizes = np.asarray(rows, float)
    losses = to_loss(metric, np.asarray(mean_scores, float))
    errors = np.asarray(standard_errors, float)
    law = fit_power_law(sizes, losses, errors)
    if law is None:
        return None
    current_rows = int(sizes[-1])
    current_loss = law.loss_at(current_rows)
    current_score = from_loss(metric, current_loss)
    gain = default_gain(metric, current_score) if gain is None else gain
    rows_needed = law.rows_for_loss(current_loss - gain)
    rng = np.random.default_rng(seed)
    exponents, needed = [], []
    for _ in range(BOOTSTRAP_DRAWS):
        draw = fit_power_law(sizes, losses + rng.normal(0.0, errors), errors, start=law)
        if draw is None:
            continue
        exponents.append(draw.exponent)
        needed.append(draw.rows_for_loss(draw.loss_at(current_rows) - gain))
    if not needed:
        return None
    tail = (1 - INTERVAL) / 2
    # inverted_cdf picks drawn values, so an unreachable (infinite) bound stays infinite
    exponent_interval = np.quantile(exponents, [tail, 1 - tail], method="inverted_cdf")
    needed_interval = np.quantile(needed, [tail, 1 - tail], method="inverted_cdf")
    reachable = float(np.mean(np.isfinite(needed)))
    ceiling = from_loss(metric, law.floor)
    return Extrapolation(
        metric, gain, current_rows, current_score, law.exponent,
        (float(exponent_interval[0]), float(exponent_interval[1])), ceiling, rows_needed,
        (float(needed_interval[0]), float(needed_interval[1])), reachable,
        explain_extrapolation(
            metric, gain, current_rows, rows_needed, tuple(needed_interval), ceiling
        ),
    )  # fmt: skip


def explain_extrapolation(
    metric: str,
    gain: float,
    current_rows: int,
    rows_needed: float,
    interval: tuple[float, ...],
    ceiling: float,
) -> str:
    """One sentence a reader can weigh the cost of data against."""
    change = f"{'+' if metric in BOUNDED_SCORES else '-'}{gain:.4g} {metric}"
    bound = "ceiling" if metric in BOUNDED_SCORES else "floor"
    if not math.isfinite(rows_needed):
        return (
            f"{change} is not reachable by more data of this kind: the fitted power law levels "
            f"off at a {bound} of {ceiling:.4g}; better features or another model might"
        )
    low, high = interval
    high_text = "not reachable" if not math.isfinite(high) else f"{high:,.0f}"
    return (
        f"{change} needs about {rows_needed:,.0f} training rows "
        f"({rows_needed / current_rows:.1f}x today's {current_rows:,}; 95% interval "
        f"{low:,.0f} to {high_text}), by extrapolating the fitted power law"
    )
