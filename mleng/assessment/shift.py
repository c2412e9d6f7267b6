"""Distribution shift by adversarial validation: can a classifier tell reference rows from current ones?

A gradient-boosted classifier learns to separate the reference rows (e.g. training data) from the
current rows (test data or recent production traffic). Its out-of-fold AUC measures the shift:
0.5 when the two are exchangeable, 1.0 when every row betrays its origin. Whether an AUC above 0.5
is more than noise is decided by a permutation test, not a rule of thumb: the rows are shuffled
between the two groups and the whole cross-validation is rerun, so the p-value is exact for the
statistic actually computed. The same out-of-fold probabilities pick the training rows that look
most like the current data, the classic way to build a validation set that resembles the test set.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from pydantic import Field
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from mleng.card.base import StrictModel
from mleng.quality.findings import format_number, to_jsonable
from mleng.quality.markdown import render_table

# Categories beyond this many per column share one code: the boosting model's native categorical
# support takes at most 255 bins, one of which is reserved for missing values.
MAX_CATEGORY_CODES = 250
IMPORTANCE_REPEATS = 1


class ShiftSettings(StrictModel):
    """How hard `detect_shift` looks for a shift and how much it may spend doing so.

    The fields are `detect_shift`'s keyword arguments: `detect_shift(..., **settings.model_dump())`.
    """

    seed: int = 0
    n_permutations: int = Field(default=100, ge=0, description="label shuffles for the null AUCs")
    folds: int = Field(default=3, ge=2, description="cross-validation folds for out-of-fold AUC")
    max_rows: int = Field(default=20_000, ge=20, description="rows used, sampled in proportion")
    max_iter: int = Field(default=20, ge=1, description="boosting rounds of the shift classifier")
    top_k: int = Field(default=10, ge=1, description="drivers kept in the report")
    alpha: float = Field(default=0.05, gt=0, lt=1, description="level at which a shift is declared")


@dataclass(frozen=True)
class ShiftDriver:
    """A column and how much the held-out AUC drops when its values are shuffled."""

    column: str
    importance: float


@dataclass(frozen=True)
class ShiftReport:
    """The classifier's out-of-fold AUC, its permutation null, and the columns that drive it."""

    auc: float
    p_value: float
    n_permutations: int
    null_aucs: list[float]
    drivers: list[ShiftDriver]
    reference_rows: int
    current_rows: int
    alpha: float = 0.05
    folds: int = 3
    seed: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def shifted(self) -> bool:
        """True when the permutation test rejects "no shift" at level `alpha`."""
        return self.n_permutations > 0 and self.p_value <= self.alpha

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict, with the verdict and a summary of the null distribution."""
        null = np.asarray(self.null_aucs, dtype=float)
        summary = {
            "mean": float(null.mean()) if null.size else None,
            "q95": float(np.quantile(null, 0.95)) if null.size else None,
            "max": float(null.max()) if null.size else None,
        }
        return to_jsonable(asdict(self) | {"shifted": self.shifted, "null_summary": summary})


def encode_shift_features(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numeric_columns: list[str],
    categorical_columns: list[str],
) -> tuple[np.ndarray, np.ndarray]:
    """Both frames as one float matrix (reference rows first) and its categorical-column mask.

    Numbers become floats (text that is not a number, and infinities, become missing). Categories
    become integer codes over both frames together, most frequent first, so a level seen only in
    the current rows still gets a code of its own; rare levels past `MAX_CATEGORY_CODES` share one.
    The codes ignore which frame a row came from, so shuffling rows between frames cannot change them.
    """
    missing = [
        c
        for c in [*numeric_columns, *categorical_columns]
        if c not in reference or c not in current
    ]
    if missing:
        raise ValueError(
            f"columns {missing} are not in both frames; compare the same feature columns"
        )
    if not numeric_columns and not categorical_columns:
        raise ValueError("give at least one numeric or categorical column to compare")
    both = pd.concat([reference, current], ignore_index=True)
    blocks = []
    for column in numeric_columns:
        values = pd.to_numeric(both[column], errors="coerce").astype("float64").to_numpy()
        blocks.append(np.where(np.isfinite(values), values, np.nan))
    for column in categorical_columns:
        text = both[column].astype(object).where(both[column].isna(), both[column].astype(str))
        counts = text.value_counts(dropna=True)
        codes = {level: min(i, MAX_CATEGORY_CODES) for i, level in enumerate(counts.index)}
        blocks.append(text.map(codes).astype("float64").to_numpy())
    mask = np.array([False] * len(numeric_columns) + [True] * len(categorical_columns))
    return np.column_stack(blocks), mask


def build_shift_classifier(
    categorical_mask: np.ndarray, max_iter: int, seed: int
) -> HistGradientBoostingClassifier:
    """A small, fast boosting model: it is refit once per fold and per permutation."""
    return HistGradientBoostingClassifier(
        max_iter=max_iter,
        learning_rate=0.1,
        max_leaf_nodes=15,
        early_stopping=False,
        categorical_features=categorical_mask,
        random_state=seed,
    )


def predict_out_of_fold(
    features: np.ndarray,
    labels: np.ndarray,
    fold_ids: np.ndarray,
    model: HistGradientBoostingClassifier,
) -> tuple[np.ndarray, list[HistGradientBoostingClassifier]]:
    """Each row's probability of being current, from the model fitted without its fold."""
    probabilities = np.empty(len(labels))
    fitted = []
    for fold in np.unique(fold_ids):
        held_out = fold_ids == fold
        fold_model = clone(model).fit(features[~held_out], labels[~held_out])
        probabilities[held_out] = fold_model.predict_proba(features[held_out])[:, 1]
        fitted.append(fold_model)
    return probabilities, fitted


def assign_folds(labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """A fold id per row, stratified by group so every fold holds both reference and current rows."""
    fold_ids = np.empty(len(labels), dtype=int)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for fold, (_, held_out) in enumerate(splitter.split(np.zeros(len(labels)), labels)):
        fold_ids[held_out] = fold
    return fold_ids


def compute_permutation_null(
    features: np.ndarray,
    labels: np.ndarray,
    fold_ids: np.ndarray,
    model: HistGradientBoostingClassifier,
    n_permutations: int,
    seed: int,
) -> np.ndarray:
    """Out-of-fold AUCs after shuffling rows between the groups, the statistic's null distribution.

    Labels and fold ids move together, which is the same as shuffling the feature rows under fixed
    labels and folds: under "no shift" the rows are exchangeable, so the observed AUC is one more
    draw from this distribution and (1 + #null >= observed) / (1 + n) is an exact p-value.
    """
    rng = np.random.default_rng(seed)
    null = np.empty(n_permutations)
    for i in range(n_permutations):
        order = rng.permutation(len(labels))
        probabilities, _ = predict_out_of_fold(features, labels[order], fold_ids[order], model)
        null[i] = roc_auc_score(labels[order], probabilities)
    return null


def compute_p_value(observed: float, null: np.ndarray) -> float:
    """The permutation p-value, counting the observed statistic as one of the draws (never 0)."""
    return float((1 + np.sum(null >= observed)) / (1 + len(null)))


def rank_shift_drivers(
    features: np.ndarray,
    labels: np.ndarray,
    fold_ids: np.ndarray,
    models: list[HistGradientBoostingClassifier],
    columns: list[str],
    seed: int,
) -> list[ShiftDriver]:
    """Columns by the mean drop in held-out AUC when shuffled within the held-out fold, largest first.

    Measured on held-out rows, so a column the model merely memorised does not look like a driver.
    """
    rng = np.random.default_rng(seed)
    drops = np.zeros(len(columns))
    for fold, model in zip(np.unique(fold_ids), models, strict=True):
        held_x, held_y = features[fold_ids == fold], labels[fold_ids == fold]
        base = roc_auc_score(held_y, model.predict_proba(held_x)[:, 1])
        for j in range(len(columns)):
            for _ in range(IMPORTANCE_REPEATS):
                shuffled = held_x.copy()
                shuffled[:, j] = rng.permutation(shuffled[:, j])
                drop = base - roc_auc_score(held_y, model.predict_proba(shuffled)[:, 1])
                drops[j] += drop / (IMPORTANCE_REPEATS * len(models))
    order = np.argsort(-drops, kind="stable")
    return [ShiftDriver(columns[j], float(drops[j])) for j in order]


def sample_in_proportion(
    reference: pd.DataFrame, current: pd.DataFrame, max_rows: int, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """At most `max_rows` rows in all, each frame keeping its share (at least 10 rows each)."""
    total = len(reference) + len(current)
    if total <= max_rows:
        return reference, current
    keep_reference = max(10, round(max_rows * len(reference) / total))
    keep_current = max(10, max_rows - keep_reference)
    return (
        reference.sample(n=min(keep_reference, len(reference)), random_state=seed),
        current.sample(n=min(keep_current, len(current)), random_state=seed + 1),
    )


def check_group_sizes(reference: pd.DataFrame, current: pd.DataFrame, folds: int) -> None:
    """Fail early when a frame has too few rows to appear in every fold."""
    if min(len(reference), len(current)) < folds:
        raise ValueError(
            f"need at least {folds} reference and current rows for {folds}-fold adversarial "
            f"validation, got {len(reference)} and {len(current)}"
        )


def detect_shift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numeric_columns: list[str],
    categorical_columns: list[str],
    seed: int = 0,
    n_permutations: int = 100,
    folds: int = 3,
    max_rows: int = 20_000,
    max_iter: int = 20,
    top_k: int = 10,
    alpha: float = 0.05,
) -> ShiftReport:
    """Adversarial validation with a permutation test of "no shift" and the columns behind a shift.

    Large frames are sampled down to `max_rows` (keeping their proportions) and the boosting model
    runs on one thread: the permutations refit it `folds * n_permutations` times, and one thread
    per fit avoids OpenMP threads fighting over shared cores.
    """
    check_group_sizes(reference, current, folds)
    reference, current = sample_in_proportion(reference, current, max_rows, seed)
    features, mask = encode_shift_features(reference, current, numeric_columns, categorical_columns)
    labels = np.r_[np.zeros(len(reference), dtype=int), np.ones(len(current), dtype=int)]
    fold_ids = assign_folds(labels, folds, seed)
    model = build_shift_classifier(mask, max_iter, seed)
    with threadpool_limits(limits=1, user_api="openmp"):
        probabilities, fitted = predict_out_of_fold(features, labels, fold_ids, model)
        auc = float(roc_auc_score(labels, probabilities))
        null = compute_permutation_null(features, labels, fold_ids, model, n_permutations, seed)
        columns = [*numeric_columns, *categorical_columns]
        drivers = rank_shift_drivers(features, labels, fold_ids, fitted, columns, seed)
    notes = []
    if n_permutations == 0:
        notes.append("no permutations were run, so the p-value is 1 and carries no evidence")
    elif 1 / (1 + n_permutations) > alpha:
        notes.append(
            f"with {n_permutations} permutations the smallest possible p-value is "
            f"{1 / (1 + n_permutations):.3g}, above alpha={alpha}; run more permutations"
        )
    return ShiftReport(
        auc=auc,
        p_value=compute_p_value(auc, null),
        n_permutations=n_permutations,
        null_aucs=[float(v) for v in null],
        drivers=drivers[:top_k],
        reference_rows=len(reference),
        current_rows=len(current),
        alpha=alpha,
        folds=folds,
        seed=seed,
        notes=notes,
    )


def score_similarity_to_current(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numeric_columns: list[str],
    categorical_columns: list[str],
    seed: int = 0,
    folds: int = 5,
    max_iter: int = 20,
) -> pd.Series:
    """Each reference row's out-of-fold probability of being a current row, indexed like `reference`.

    Out of fold, so the score of a row never comes from a model that saw it with its label.
    """
    if not reference.index.is_unique:
        raise ValueError("the reference frame's index has duplicates; reset it to identify rows")
    check_group_sizes(reference, current, folds)
    features, mask = encode_shift_features(reference, current, numeric_columns, categorical_columns)
    labels = np.r_[np.zeros(len(reference), dtype=int), np.ones(len(current), dtype=int)]
    model = build_shift_classifier(mask, max_iter, seed)
    with threadpool_limits(limits=1, user_api="openmp"):
        probabilities, _ = predict_out_of_fold(
            features, labels, assign_folds(labels, folds, seed), model
        )
    return pd.Series(
        probabilities[: len(reference)], index=reference.index, name="current_probability"
    )


def select_validation_rows(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numeric_columns: list[str],
    categorical_columns: list[str],
    fraction: float | None = None,
    n: int | None = None,
    seed: int = 0,
    folds: int = 5,
    max_iter: int = 20,
) -> pd.Index:
    """The index of the `n` (or `fraction` of) reference rows that look most like the current rows.

    Training on the rest and validating on these gives a validation score that speaks for the
    current data rather than for the training distribution. The index keeps the reference order;
    ties in the score go to the earlier row.
    """
    if (fraction is None) == (n is None):
        raise ValueError("give exactly one of fraction (e.g. 0.2) or n (a number of rows)")
    if fraction is not None and not 0 < fraction < 1:
        raise ValueError(f"fraction must be between 0 and 1, got {fraction}")
    count = round(fraction * len(reference)) if fraction is not None else int(n or 0)
    if not 1 <= count <= len(reference):
        raise ValueError(f"cannot select {count} rows from {len(reference)} reference rows")
    scores = score_similarity_to_current(
        reference, current, numeric_columns, categorical_columns, seed, folds, max_iter
    )
    chosen = np.argsort(-scores.to_numpy(), kind="stable")[:count]
    return reference.index[np.sort(chosen)]


def render_shift_markdown(report: ShiftReport) -> str:
    """The verdict, the AUC against its null distribution, and the top drivers as a table."""
    verdict = "Shift detected" if report.shifted else "No significant shift"
    null = np.asarray(report.null_aucs, dtype=float)
    null_text = (
        f"null AUC mean {format_number(float(null.mean()))}, 95th percentile "
        f"{format_number(float(np.quantile(null, 0.95)))} over {report.n_permutations} permutations"
        if null.size
        else "no permutations run"
    )
    parts = [
        f"## Distribution shift: {verdict}",
        (
            f"A classifier tells {report.reference_rows:,} reference rows from {report.current_rows:,} "
            f"current rows with out-of-fold AUC {format_number(report.auc)} ({null_text}); "
            f"permutation p-value {format_number(report.p_value)} (alpha {report.alpha})."
        ),
        "### Columns that drive the shift",
        render_table(
            ["column", "AUC drop when shuffled"],
            [(d.column, d.importance) for d in report.drivers],
        ),
    ]
    parts += [f"- {note}" for note in report.notes]
    return "\n\n".join(parts) + "\n"
