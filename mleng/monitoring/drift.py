"""Input and prediction drift: calibrated tests per feature, effect sizes to read alongside.

The decision is a test whose false-alarm rate is known, not a distance against a rule of thumb:
numeric values are compared by the two-sample Kolmogorov-Smirnov test, their missing share by
Fisher's exact test, categorical level counts by a chi-square test of homogeneity. A window is
judged as a whole: every test runs at alpha / (number of tests) (Bonferroni), so an unshifted
stream raises at most `alpha` false alarms per window over all features together.

At 5,000 rows a side this catches a 0.1 standard-deviation mean shift in one of ten features in
about nine windows of ten, where the normalised Wasserstein >= 0.1 rule catches about half and
PSI >= 0.1 none (see bench/drift.py). Distances are still recorded, as information only: a
drifted feature with a tiny effect size is real but may not matter. Every test compares the
windows as samples of independent rows; strongly autocorrelated rows (one user's burst of
requests) make the tests, like any distance rule, see more drift than there is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mleng.reports.formatting import format_number, render_table

MISSING = "<missing>"  # categorical: missing values are a level of their own
UNSEEN = "<unseen>"  # categorical: current levels the reference never had, pooled
RARE = "<rare>"  # categorical: levels too small for the chi-square approximation, pooled
SIDES = ["reference", "current"]
MIN_EXPECTED = 5.0  # Cochran's rule: every expected count of the tested table at least this
EXACT_KS_ROWS = 1_000
PSI_BINS = 10
PSI_FLOOR = 1e-4
NUMERIC_KINDS = frozenset({"numeric", "probability", "value"})
CATEGORICAL_KINDS = frozenset({"categorical", "label"})
PREDICTION_KINDS = ("probability", "label", "value")


@dataclass(frozen=True)
class FeatureDrift:
    """One drift test of one column: its statistic, p-value and decision at `threshold`.

    `kind` is what was compared: the values of a numeric column ("numeric", or for predictions
    "probability"/"value"), the levels of a categorical one ("categorical"/"label"), or the
    share of missing (NaN or infinite) values of a numeric one ("missing"). `detail` holds
    effect sizes and counts for reading; they do not enter the decision.
    """

    column: str
    kind: str
    test: str  # "ks", "chi_square" or "fisher_exact"
    statistic: float  # KS distance, chi-square statistic, or current minus reference share
    p_value: float
    threshold: float  # the Bonferroni level every test of the report was held to
    drifted: bool
    reference_rows: int  # rows the test compared (finite values only for "ks")
    current_rows: int
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DriftReport:
    """Every drift test of a window; a column has drifted when any of its tests rejects."""

    tests: tuple[FeatureDrift, ...]
    alpha: float  # family-wise false-alarm rate of the whole window

    @property
    def threshold(self) -> float:
        return self.alpha / max(len(self.tests), 1)

    @property
    def drifted_columns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(test.column for test in self.tests if test.drifted))

    @property
    def any_drift(self) -> bool:
        return any(test.drifted for test in self.tests)

    def for_column(self, column: str) -> tuple[FeatureDrift, ...]:
        """The tests run on `column` (one, or two for a numeric column with missing values)."""
        return tuple(test for test in self.tests if test.column == column)

    def to_markdown(self) -> str:
        """A markdown table: one line per test, drifted ones first, with their effect sizes."""
        ordered = sorted(self.tests, key=lambda test: (not test.drifted, test.p_value))
        rows = [
            (
                test.column,
                test.kind,
                test.test,
                test.statistic,
                test.p_value,
                "yes" if test.drifted else "no",
                describe_effect(test),
            )
            for test in ordered
        ]
        header = ("column", "kind", "test", "statistic", "p-value", "drifted", "effect size")
        summary = (
            f"{len(self.drifted_columns)} of {len({t.column for t in self.tests})} columns "
            f"drifted; {len(self.tests)} tests, each at alpha {format_number(self.alpha)} / "
            f"{len(self.tests)} = {format_number(self.threshold)} (Bonferroni)"
        )
        return summary + "\n\n" + render_table(header, rows, ("statistic", "p-value"))


def describe_effect(test: FeatureDrift) -> str:
    """The effect sizes of a test in words a reader can weigh."""
    detail = test.detail
    if test.kind == "missing":
        return (
            f"missing {format_number(detail['reference_share'])} -> "
            f"{format_number(detail['current_share'])}"
        )
    if test.kind in NUMERIC_KINDS:
        return (
            f"mean shift {format_number(detail['mean_shift_sd'])} sd, "
            f"Wasserstein {format_number(detail['wasserstein_sd'])} sd, "
            f"PSI {format_number(detail['psi'])}"
        )
    return (
        f"TVD {format_number(detail['total_variation'])}, most moved {detail['most_moved_level']!r}"
    )


@dataclass(frozen=True)
class PlannedTest:
    """A test to run: which column, what it compares, and the values of both sides."""

    column: str
    kind: str
    reference: pd.Series
    current: pd.Series


def measure_feature_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numeric: list[str],
    categorical: list[str],
    alpha: float = 0.05,
) -> DriftReport:
    """Drift of every listed feature of `current` against `reference`, family-wise at `alpha`.

    Numeric columns get a KS test on their finite values and, when either side holds NaN or
    infinite values, Fisher's exact test on the missing share (so a column gone all-NaN is
    drift). Categorical columns get a chi-square test on level counts with missing values as a
    level (see `compare_levels` for unseen and rare levels). The number of tests behind the
    Bonferroni threshold is therefore known before any p-value is looked at.
    """
    check_alpha(alpha)
    check_frames(reference, current, numeric, categorical)
    kinds = {**dict.fromkeys(numeric, "numeric"), **dict.fromkeys(categorical, "categorical")}
    plan = [
        test
        for column, kind in kinds.items()
        for test in plan_tests(column, kind, reference[column], current[column])
    ]
    return run_tests(plan, alpha)


def measure_prediction_drift(
    reference_scores: Any, current_scores: Any, kind: str = "probability", alpha: float = 0.05
) -> DriftReport:
    """Drift of a model's outputs: probabilities or regression values by KS (plus the missing
    share when outputs hold NaN or inf), predicted labels by chi-square, family-wise at `alpha`.

    For several probability columns (multiclass), pass each column separately or the top-class
    probability; the report's column is named "prediction".
    """
    if kind not in PREDICTION_KINDS:
        raise ValueError(f"unknown prediction kind '{kind}'; use one of {list(PREDICTION_KINDS)}")
    sides = [pd.Series(np.asarray(s).reshape(-1)) for s in (reference_scores, current_scores)]
    for name, side in zip(("reference", "current"), sides, strict=True):
        if side.empty:
            raise ValueError(f"the {name} predictions are empty; there is nothing to compare")
    check_alpha(alpha)
    return run_tests(plan_tests("prediction", kind, *sides), alpha)


def check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha}")


def check_frames(
    reference: pd.DataFrame, current: pd.DataFrame, numeric: list[str], categorical: list[str]
) -> None:
    """Errors that name what is wrong: empty windows, absent or doubly listed columns."""
    for name, frame in (("reference", reference), ("current", current)):
        if len(frame) == 0:
            raise ValueError(f"the {name} window is empty (0 rows); drift needs rows on both sides")
        absent = [c for c in [*numeric, *categorical] if c not in frame.columns]
        if absent:
            raise ValueError(f"columns {absent} are missing from the {name} window")
    both = sorted(set(numeric) & set(categorical))
    if both:
        raise ValueError(f"columns {both} are listed as both numeric and categorical")
    if not numeric and not categorical:
        raise ValueError("no columns to compare: list numeric or categorical columns")


def as_numbers(column: str, values: pd.Series) -> np.ndarray:
    """A numeric column as floats, missing values as NaN, or an error naming the column."""
    try:
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"numeric column '{column}' holds values that are not numbers ({error}); "
            "list it as categorical or fix its type"
        ) from error


def plan_tests(
    column: str, kind: str, reference: pd.Series, current: pd.Series
) -> list[PlannedTest]:
    """The tests a column needs: the value test where both sides have finite values, and the
    missing-share test where either side has non-finite ones."""
    if kind in CATEGORICAL_KINDS:
        return [PlannedTest(column, kind, reference, current)]
    sides = [as_numbers(column, values) for values in (reference, current)]
    finite = [np.isfinite(values) for values in sides]
    plan = []
    if all(mask.any() for mask in finite):
        plan.append(PlannedTest(column, kind, pd.Series(sides[0]), pd.Series(sides[1])))
    if not all(mask.all() for mask in finite):
        plan.append(PlannedTest(column, "missing", pd.Series(sides[0]), pd.Series(sides[1])))
    return plan


def run_tests(plan: list[PlannedTest], alpha: float) -> DriftReport:
    """Run every planned test at the Bonferroni threshold alpha / len(plan)."""
    check_alpha(alpha)
    threshold = alpha / max(len(plan), 1)
    results = []
    for planned in plan:
        if planned.kind == "missing":
            test, statistic, p_value, rows, detail = compare_missing_share(planned)
        elif planned.kind in NUMERIC_KINDS:
            test, statistic, p_value, rows, detail = compare_values(planned)
        else:
            test, statistic, p_value, rows, detail = compare_levels(planned)
        results.append(
            FeatureDrift(
                column=planned.column,
                kind=planned.kind,
                test=test,
                statistic=statistic,
                p_value=p_value,
                threshold=threshold,
                drifted=bool(p_value <= threshold),
                reference_rows=rows[0],
                current_rows=rows[1],
                detail=detail,
            )
        )
    return DriftReport(tuple(results), alpha)


Outcome = tuple[str, float, float, tuple[int, int], dict[str, Any]]


def compare_values(planned: PlannedTest) -> Outcome:
    """Two-sample KS on the finite values; as information, the mean shift and the Wasserstein
    distance in reference standard deviations, and the PSI.

    Ties (integer features) make KS conservative, never liberal, so the false-alarm bound holds.
    """
    reference, current = (
        s.to_numpy()[np.isfinite(s.to_numpy())] for s in (planned.reference, planned.current)
    )
    # Exact p-values for small windows; beyond them the asymptotic ones are as good and faster.
    method = "asymp" if max(len(reference), len(current)) > EXACT_KS_ROWS else "auto"
    result = stats.ks_2samp(reference, current, method=method)
    scale = float(np.std(reference))
    with np.errstate(divide="ignore", invalid="ignore"):
        detail = {
            "reference_mean": float(np.mean(reference)),
            "current_mean": float(np.mean(current)),
            "reference_sd": scale,
            "mean_shift_sd": float((np.mean(current) - np.mean(reference)) / scale),
            "wasserstein_sd": float(stats.wasserstein_distance(reference, current) / scale),
            "psi": population_stability_index(reference, current),
        }
    return (
        "ks",
        float(result.statistic),
        float(result.pvalue),
        (len(reference), len(current)),
        detail,
    )


def population_stability_index(
    reference: np.ndarray, current: np.ndarray, bins: int = PSI_BINS
) -> float:
    """PSI over `bins` reference-quantile bins (tied quantiles merged), shares floored at
    PSI_FLOOR so an empty bin does not make it infinite.

    Information only: at 5,000 rows a 0.1 sd mean shift gives PSI near 0.01, far below the
    customary 0.1 alarm, although KS detects it in most windows.
    """
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
    shares = [
        np.maximum(
            np.bincount(np.searchsorted(edges, x, side="right"), minlength=len(edges) + 1) / len(x),
            PSI_FLOOR,
        )
        for x in (reference, current)
    ]
    return float(np.sum((shares[1] - shares[0]) * np.log(shares[1] / shares[0])))


def compare_missing_share(planned: PlannedTest) -> Outcome:
    """Fisher's exact test on missing (NaN or infinite) against finite counts: exact, so a few
    missing values in a large window neither break the test nor fake drift."""
    missing = [
        int((~np.isfinite(s.to_numpy())).sum()) for s in (planned.reference, planned.current)
    ]
    rows = (len(planned.reference), len(planned.current))
    table = [[missing[0], rows[0] - missing[0]], [missing[1], rows[1] - missing[1]]]
    p_value = float(stats.fisher_exact(table).pvalue)
    shares = (missing[0] / rows[0], missing[1] / rows[1])
    detail = {
        "reference_missing": missing[0],
        "current_missing": missing[1],
        "reference_share": shares[0],
        "current_share": shares[1],
    }
    return "fisher_exact", shares[1] - shares[0], min(p_value, 1.0), rows, detail


def level_counts(reference: pd.Series, current: pd.Series) -> pd.DataFrame:
    """Counts per level on each side (columns "reference", "current"): missing values (None,
    NaN, NA) as the level MISSING, current levels unseen in the reference pooled as UNSEEN."""
    codes, uniques = pd.factorize(pd.concat([reference, current], ignore_index=True))
    codes = np.where(codes < 0, len(uniques), codes)  # the last slot counts missing values
    sides = [
        np.bincount(part, minlength=len(uniques) + 1)
        for part in (codes[: len(reference)], codes[len(reference) :])
    ]
    labels = np.array([*uniques, MISSING], dtype=object)
    seen, unseen = sides[0] > 0, (sides[0] == 0) & (sides[1] > 0)
    counts = np.column_stack([sides[0][seen], sides[1][seen]])
    if unseen.any():
        counts = np.vstack([counts, [0, sides[1][unseen].sum()]])
        labels = np.append(labels[seen], UNSEEN)
    else:
        labels = labels[seen]
    return pd.DataFrame(counts, index=pd.Index(labels, dtype=object), columns=SIDES)


def pool_rare_levels(counts: pd.DataFrame) -> pd.DataFrame:
    """Pool levels whose smaller expected count is below MIN_EXPECTED into RARE; if the pool is
    itself too small, merge it into the smallest other level.

    Pooling depends on the levels' totals only, which carry no information about drift under
    homogeneity, so the test keeps its level; it loses only power on the pooled levels.
    """
    values = counts.to_numpy()
    sides = values.sum(axis=0)
    totals = values.sum(axis=1)
    rare = totals * sides.min() / sides.sum() < MIN_EXPECTED
    if not rare.any():
        return counts
    if (~rare).any() and totals[rare].sum() * sides.min() / sides.sum() < MIN_EXPECTED:
        rare[np.flatnonzero(~rare)[np.argmin(totals[~rare])]] = True
    labels = [*counts.index[~rare], RARE]
    pooled = np.vstack([values[~rare], values[rare].sum(axis=0)])
    return pd.DataFrame(pooled, index=pd.Index(labels, dtype=object), columns=SIDES)


def compare_levels(planned: PlannedTest) -> Outcome:
    """Chi-square test of homogeneity of the level counts, with the total variation distance
    between the level shares (before pooling) as the effect size.

    Without Yates' correction: with every expected count >= 5 the approximation holds and the
    correction would only cost power. A table that pools down to one level has nothing to test
    (statistic 0, p-value 1).
    """
    counts = level_counts(planned.reference, planned.current)
    shares = counts / counts.sum(axis=0)
    change = shares["current"] - shares["reference"]
    tested = pool_rare_levels(counts)
    if len(tested) < 2:
        statistic, p_value = 0.0, 1.0
    else:
        result = stats.chi2_contingency(tested.to_numpy().T, correction=False)
        statistic, p_value = float(result.statistic), float(result.pvalue)
    detail = {
        "levels": len(counts),
        "levels_tested": len(tested),
        "total_variation": float(0.5 * change.abs().sum()),
        "most_moved_level": change.abs().idxmax(),
        "most_moved_change": float(change[change.abs().idxmax()]),
        "current_unseen_share": float(shares["current"].get(UNSEEN, 0.0)),
    }
    rows = (int(counts["reference"].sum()), int(counts["current"].sum()))
    return "chi_square", statistic, p_value, rows, detail
