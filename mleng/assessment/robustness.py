"""Epsilon-delta robustness: how many rows change their output by more than epsilon under small
noise.

A row is delta-sensitive when some perturbation of its numeric features, each moved by at most
`delta` times that feature's spread (an L-infinity ball in units of standard deviations or IQRs),
changes the model's output by more than `epsilon`. Categorical features are never touched: a
category has no "small" change. Random sampling inside the ball gives a lower bound on the share of
sensitive rows; for a linear model it is computed exactly, because the decision function is then
affine in the raw numeric inputs and its extremes over the ball sit at known corners.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator, is_classifier
from sklearn.pipeline import Pipeline

from mleng.reports.formatting import format_number, render_table, to_jsonable

Output = Literal["proba", "prediction"]
Spread = Literal["std", "iqr"]
Sampling = Literal["uniform", "vertices"]
PROBE_ROWS = 32


@dataclass(frozen=True)
class Perturbation:
    """The noise tried on each row: numeric features moved by at most `delta` times their
    `spread` (an L-infinity ball), `n_samples` draws per row, uniform in the ball or on its
    corners (`sampling`), drawn from `seed`."""

    delta: float
    n_samples: int
    seed: int = 0
    spread: Spread = "std"
    sampling: Sampling = "uniform"

    def __post_init__(self) -> None:
        if self.delta < 0 or self.n_samples < 1:
            raise ValueError(
                f"need delta >= 0 and n_samples >= 1, got {self.delta} and {self.n_samples}"
            )


@dataclass(frozen=True)
class ExactWorstCase:
    """The largest output change each row can suffer inside the ball, computed in closed form."""

    change_per_row: np.ndarray
    share_sensitive: float
    max_change: float
    slopes: dict[str, float]  # change of the decision function per unit of each raw numeric feature


@dataclass(frozen=True)
class RobustnessReport:
    """Sampled sensitivity per row, its share, and the exact worst case when a closed form
    exists."""

    output: str
    epsilon: float
    delta: float
    spread: str
    sampling: str
    n_samples: int
    radii: dict[str, float]
    violations_per_row: np.ndarray
    max_change_per_row: np.ndarray
    share_sensitive: float
    max_change: float
    exact: ExactWorstCase | None
    exact_note: str

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict; per-row arrays become lists."""
        return to_jsonable(
            asdict(self)
            | {
                "violations_per_row": self.violations_per_row.tolist(),
                "max_change_per_row": self.max_change_per_row.tolist(),
                "exact": None
                if self.exact is None
                else asdict(self.exact) | {"change_per_row": self.exact.change_per_row.tolist()},
            }
        )


def compute_feature_radii(
    X: pd.DataFrame, numeric_columns: list[str], delta: float, spread: Spread = "std"
) -> dict[str, float]:
    """`delta` times each numeric feature's spread over the given rows (sample std, or IQR).

    A constant feature, or one with no values, gets radius 0 and is left alone: noise relative to
    a spread of zero has no meaning.
    """
    radii = {}
    for column in numeric_columns:
        values = to_float(X[column])
        finite = values[np.isfinite(values)]
        if finite.size < 2:
            radii[column] = 0.0
            continue
        if spread == "std":
            width = float(np.std(finite, ddof=1))
        else:
            width = float(np.subtract(*np.percentile(finite, [75, 25])))
        radii[column] = delta * width if np.isfinite(width) else 0.0
    return radii


def to_float(values: pd.Series) -> np.ndarray:
    """A column as float64, text that is not a number becoming NaN."""
    return pd.to_numeric(values, errors="coerce").astype("float64").to_numpy()


def draw_perturbation(
    rng: np.random.Generator, rows: int, radii: np.ndarray, sampling: Sampling
) -> np.ndarray:
    """Offsets inside the box |offset_j| <= radius_j: uniform in the box, or on its corners.

    Corners are where a model that is monotone in each feature moves furthest, so they find
    violations of such models with fewer samples; uniform samples also probe the interior.
    """
    if sampling == "vertices":
        return rng.choice([-1.0, 1.0], size=(rows, len(radii))) * radii
    return rng.uniform(-1.0, 1.0, size=(rows, len(radii))) * radii


def predict_output(model: BaseEstimator, X: pd.DataFrame, output: Output) -> np.ndarray:
    """Class probabilities (rows x classes) or predictions (labels or values)."""
    if output == "proba":
        return np.asarray(model.predict_proba(X), dtype=float)
    return np.asarray(model.predict(X))


def measure_output_change(
    base: np.ndarray, perturbed: np.ndarray, output: Output, classifier: bool
) -> np.ndarray:
    """Per row: the largest absolute probability change over classes, 1.0 for a flipped label, or
    the absolute change of a regression prediction (largest over outputs)."""
    if output == "prediction" and classifier:
        return (base != perturbed).astype(float).reshape(len(base), -1).max(axis=1)
    difference = np.abs(base.astype(float) - perturbed.astype(float))
    return difference.reshape(len(base), -1).max(axis=1)


def exceeds(change: np.ndarray, epsilon: float, output: Output, classifier: bool) -> np.ndarray:
    """Whether each change breaks the tolerance; for labels any flip does, whatever epsilon is."""
    if output == "prediction" and classifier:
        return change > 0
    return change > epsilon


def measure_robustness(
    model: BaseEstimator,
    X: pd.DataFrame,
    numeric_columns: list[str],
    epsilon: float,
    perturbation: Perturbation,
    output: Output = "proba",
) -> RobustnessReport:
    """Share of rows whose output moves by more than `epsilon` within the delta-ball, sampled
    and exact.

    Each row gets `perturbation.n_samples` random offsets on its numeric features (missing values
    stay missing, so a missing feature is never perturbed). A sample counts as a violation when
    the output changes by more than `epsilon`: the largest probability change over classes for
    "proba", any label flip for a classifier's "prediction", the absolute change for a
    regressor. The offsets of one seed are the same directions scaled by delta, so for models
    monotone along each direction (linear ones) a larger delta never lowers the share.
    """
    classifier = is_classifier(model)
    if output == "proba" and not hasattr(model, "predict_proba"):
        raise ValueError(
            f"{type(model).__name__} has no predict_proba; use output='prediction' for regressors "
            "and for classifiers without probabilities"
        )
    if epsilon < 0:
        raise ValueError(f"need epsilon >= 0, got {epsilon}")
    radii = compute_feature_radii(X, numeric_columns, perturbation.delta, perturbation.spread)
    radius_vector = np.array([radii[c] for c in numeric_columns])
    numeric = (
        np.column_stack([to_float(X[c]) for c in numeric_columns]) if numeric_columns else None
    )
    base = predict_output(model, X, output)
    violations = np.zeros(len(X), dtype=int)
    max_change = np.zeros(len(X))
    rng = np.random.default_rng(perturbation.seed)
    for _ in range(perturbation.n_samples):
        perturbed = X.copy()
        if numeric is not None:
            offsets = draw_perturbation(rng, len(X), radius_vector, perturbation.sampling)
            perturbed[numeric_columns] = pd.DataFrame(
                numeric + offsets, index=X.index, columns=numeric_columns
            )
        change = measure_output_change(
            base, predict_output(model, perturbed, output), output, classifier
        )
        violations += exceeds(change, epsilon, output, classifier)
        max_change = np.maximum(max_change, change)
    exact, note = compute_exact_worst_case(model, X, numeric_columns, radii, epsilon, output)
    return RobustnessReport(
        output=output,
        epsilon=epsilon,
        delta=perturbation.delta,
        spread=perturbation.spread,
        sampling=perturbation.sampling,
        n_samples=perturbation.n_samples,
        radii=radii,
        violations_per_row=violations,
        max_change_per_row=max_change,
        share_sensitive=float((violations > 0).mean()) if len(X) else 0.0,
        max_change=float(max_change.max()) if len(X) else 0.0,
        exact=exact,
        exact_note=note,
    )


def find_linear_estimator(model: BaseEstimator) -> BaseEstimator | None:
    """The model's final estimator when it is a fitted scikit-learn linear model, else None."""
    final = model[-1] if isinstance(model, Pipeline) else model
    linear = type(final).__module__.startswith("sklearn.linear_model") and hasattr(final, "coef_")
    return final if linear else None


def decision_values(model: BaseEstimator, X: pd.DataFrame, classifier: bool) -> np.ndarray:
    """The affine score the output derives from: the decision function, or a regressor's
    prediction."""
    return np.asarray(model.decision_function(X) if classifier else model.predict(X), dtype=float)


def estimate_decision_steps(
    model: BaseEstimator,
    X: pd.DataFrame,
    numeric_columns: list[str],
    radii: dict[str, float],
    classifier: bool,
) -> dict[str, float] | None:
    """How much the decision function moves when each numeric feature moves by its radius.

    Forward and backward differences on up to `PROBE_ROWS` rows spread over the frame, where the
    feature is present, must all agree: that is what an affine map gives (standardising, one-hot
    encoding and a linear model do; binning, clipping, splines or interactions do not), and None is
    returned when they disagree. Imputation does not bind on these rows as the feature is present.
    """
    steps = {}
    for column in numeric_columns:
        radius = radii[column]
        values = to_float(X[column])
        present = np.flatnonzero(np.isfinite(values))
        if radius == 0 or present.size == 0:
            steps[column] = 0.0
            continue
        present = present[np.unique(np.linspace(0, present.size - 1, PROBE_ROWS).astype(int))]
        probe = X.iloc[present].copy()
        probe[column] = values[present]
        centre = decision_values(model, probe, classifier)
        moved = []
        for sign in (1.0, -1.0):
            shifted = probe.copy()
            shifted[column] = values[present] + sign * radius
            moved.append(sign * (decision_values(model, shifted, classifier) - centre))
        differences = np.concatenate(moved)
        typical = float(np.median(differences))
        tolerance = 1e-6 * max(abs(typical), 1e-12) + 1e-9 * (1 + float(np.abs(centre).max()))
        if np.abs(differences - typical).max() > tolerance:
            return None
        steps[column] = typical
    return steps


def compute_exact_worst_case(
    model: BaseEstimator,
    X: pd.DataFrame,
    numeric_columns: list[str],
    radii: dict[str, float],
    epsilon: float,
    output: Output,
) -> tuple[ExactWorstCase | None, str]:
    """The exact largest output change per row inside the ball, for binary and regression linear
    models.

    With the decision function z affine in the raw numerics, z moves at most
    R = sum_j radius_j |w_j| over the features present in the row (w_j the slope per raw unit,
    found by `estimate_decision_steps`). A probability sigmoid(z) then changes by at most
    max(sigmoid(z+R) - sigmoid(z), sigmoid(z) - sigmoid(z-R)) as sigmoid is monotone; a label
    flips iff z - R <= 0 < z or z <= 0 < z + R; a regression prediction changes by at most R.
    Returns None and the reason when there is no form.
    """
    classifier = is_classifier(model)
    linear = find_linear_estimator(model)
    if linear is None:
        return None, "no closed form: the final estimator is not a scikit-learn linear model"
    if np.atleast_2d(linear.coef_).shape[0] != 1:
        return None, "no closed form here for multiclass or multi-output linear models"
    steps = estimate_decision_steps(model, X, numeric_columns, radii, classifier)
    if steps is None:
        return None, "no closed form: the decision function is not affine in the numeric inputs"
    reach = np.zeros(len(X))
    for column in numeric_columns:
        reach += np.isfinite(to_float(X[column])) * abs(steps[column])
    z = decision_values(model, X, classifier)
    if classifier and output == "proba":
        if not np.allclose(expit(z), np.asarray(model.predict_proba(X))[:, 1], rtol=0, atol=1e-9):
            return None, "no closed form: predict_proba is not the sigmoid of the decision function"
        change = np.maximum(expit(z + reach) - expit(z), expit(z) - expit(z - reach))
    elif classifier:
        flips = np.where(z > 0, z - reach <= 0, z + reach > 0)
        change = flips.astype(float)
    else:
        change = reach
    slopes = {c: (steps[c] / radii[c] if radii[c] else 0.0) for c in numeric_columns}
    note = (
        "exact: the decision function is affine in the numeric inputs (checked by finite "
        f"differences on up to {PROBE_ROWS} rows per feature), so its extremes lie on the corners "
        "of the ball"
    )
    share = float(exceeds(change, epsilon, output, classifier).mean()) if len(X) else 0.0
    return ExactWorstCase(change, share, float(change.max()) if len(X) else 0.0, slopes), note


def render_robustness_markdown(report: RobustnessReport) -> str:
    """The sampled and exact shares of sensitive rows, and each feature's noise radius."""
    what = {
        "proba": "largest class-probability change",
        "prediction": "prediction change (any flip for labels)",
    }[report.output]
    rows = [
        ("rows", len(report.violations_per_row)),
        (f"sampled share with {what} > epsilon", report.share_sensitive),
        ("largest sampled change", report.max_change),
    ]
    if report.exact is not None:
        rows += [
            ("exact share (worst case in the ball)", report.exact.share_sensitive),
            ("exact largest change", report.exact.max_change),
        ]
    parts = [
        (
            f"## Robustness: epsilon {format_number(report.epsilon)}, "
            f"delta {format_number(report.delta)}"
        ),
        (
            f"Numeric features moved by at most delta x {report.spread} each (L-infinity ball), "
            f"{report.n_samples} {report.sampling} samples per row; categorical features untouched."
        ),
        render_table(["measure", "value"], rows),
        f"_{report.exact_note}_",
        "### Noise radius per feature",
        render_table(["feature", "radius"], list(report.radii.items())),
    ]
    return "\n\n".join(parts) + "\n"
