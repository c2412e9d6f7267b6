"""Distribution shift by adversarial validation: can a classifier tell reference rows from
current ones?

A gradient-boosted classifier learns to separate the reference rows (e.g. training data) from the
current rows (test data or recent production traffic). Its out-of-fold AUC measures the shift:
0.5 when the two are exchangeable, 1.0 when every row betrays its origin. Whether an AUC above 0.5
is more than noise is decided by a permutation test, not a rule of thumb: the rows are shuffled
between the two groups and the whole cross-validation is rerun, so the p-value is exact for the
statistic actually computed. The same out-of-fold probabilities pick the training rows that look
most like the current data, the classic way to build a validation set that resembles the test set
(`mleng.assessment.validation_rows`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from mleng.data.loading import FeatureColumns
from mleng.reports.formatting import format_number, render_table, to_jsonable
from mleng.training.parallel import map_side_by_side

# Categories beyond this many per column share one code: the boosting model's native categorical
# support takes at most 255 bins, one of which is reserved for missing values.
MAX_CATEGORY_CODES = 250
IMPORTANCE_REPEATS = 1


@dataclass(frozen=True)
class ShiftTest:
    """How hard `detect_shift` looks for a shift and how much it may spend doing so.

    `n_permutations` label shuffles give the null AUCs and at most `max_rows` rows are used
    (sampled in proportion); both have no default, as the card's `evaluation` block sets them.
    The classifier's out-of-fold AUC comes from `folds` folds of a boosting model with `max_iter`
    rounds; the `top_k` strongest drivers are kept, and a shift is declared at level `alpha`.
    """

    n_permutations: int
    max_rows: int
    folds: int = 3
    max_iter: int = 20
    top_k: int = 10
    alpha: float = 0.05

    def __post_init__(self) -> None:
        problems = [
            f"{name} must be {rule}, got {value}"
            for name, value, rule, ok in [
                ("n_permutations", self.n_permutations, ">= 0", self.n_permutations >= 0),
                ("max_rows", self.max_rows, ">= 20", self.max_rows >= 20),
                ("folds", self.folds, ">= 2", self.folds >= 2),
                ("max_iter", self.max_iter, ">= 1", self.max_iter >= 1),
                ("top_k", self.top_k, ">= 1", self.top_k >= 1),
                ("alpha", self.alpha, "between 0 and 1", 0 < self.alpha < 1),
            ]
            if not ok
        ]
        if problems:
            raise ValueError("; ".join(problems))


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


@dataclass(frozen=True)
class AdversarialSetup:
    """Reference rows labelled 0 and current rows 1, as one encoded matrix with a fold per row,
    and the unfitted classifier that is to tell them apart."""

    features: np.ndarray
    labels: np.ndarray
    fold_ids: np.ndarray
    model: HistGradientBoostingClassifier


def encode_shift_features(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: FeatureColumns,
) -> tuple[np.ndarray, np.ndarray]:
    """Both frames as one float matrix (reference rows first) and its categorical-column mask.

    Numbers become floats (text that is not a number, and infinities, become missing). Categories
    become integer codes over both frames together, most frequent first, so a level seen only in
    the current rows still gets a code of its own; rare levels past `MAX_CATEGORY_CODES` share one.
    The codes ignore which frame a row came from, so shuffling rows between frames cannot change
    them.
    """
    missing = [c for c in columns.all if c not in reference or c not in current]
    if missing:
        raise ValueError(
            f"columns {missing} are not in both frames; compare the same feature columns"
        )
    if not columns.all:
        raise ValueError("give at least one numeric, categorical or text column to compare")
    both = pd.concat([reference, current], ignore_index=True)
    blocks = []
    for column in columns.numeric:
        values = pd.to_numeric(both[column], errors="coerce").astype("float64").to_numpy()
        blocks.append(np.where(np.isfinite(values), values, np.nan))
    for column in columns.categorical:
        text = both[column].astype(object).where(both[column].isna(), both[column].astype(str))
        counts = text.value_counts(dropna=True)
        codes = {level: min(i, MAX_CATEGORY_CODES) for i, level in enumerate(counts.index)}
        blocks.append(text.map(codes).astype("float64").to_numpy())
    for column in columns.text:
        # Free text as its word count: sentences are all distinct, so their codes would tell the
        # frames apart by chance alone; a change in how long texts are is a shift worth seeing.
        values = both[column].astype(object)
        blocks.append(
            np.array([len(str(v).split()) if pd.notna(v) else np.nan for v in values], dtype=float)
        )
    mask = np.array(
        [False] * len(columns.numeric)
        + [True] * len(columns.categorical)
        + [False] * len(columns.text)
    )
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
    """A fold id per row, stratified by group so every fold holds both reference and current
    rows."""
    fold_ids = np.empty(len(labels), dtype=int)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for fold, (_, held_out) in enumerate(splitter.split(np.zeros(len(labels)), labels)):
        fold_ids[held_out] = fold
    return fold_ids


def compute_permutation_null(setup: AdversarialSetup, n_permutations: int, seed: int) -> np.ndarray:
    """Out-of-fold AUCs after shuffling rows between the groups, the statistic's null distribution.

    Labels and fold ids move together, which is the same as shuffling the feature rows under fixed
    labels and folds: under "no shift" the rows are exchangeable, so the observed AUC is one more
    draw from this distribution and (1 + #null >= observed) / (1 + n) is an exact p-value.
    """
    rng = np.random.default_rng(seed)
    labels, fold_ids = setup.labels, setup.fold_ids
    orders = [rng.permutation(len(labels)) for _ in range(n_permutations)]

    def score_permutation(order: np.ndarray) -> float:
        probabilities, _ = predict_out_of_fold(
            setup.features, labels[order], fold_ids[order], setup.model
        )
        return float(roc_auc_score(labels[order], probabilities))

    # Permutations are independent single-threaded fits: side by side, the same draws (drawn
    # above, in order) and so the same null as one after another.
    scores = map_side_by_side(score_permutation, orders)
    return np.asarray(scores, dtype=float)


def compute_p_value(observed: float, null: np.ndarray) -> float:
    """The permutation p-value, counting the observed statistic as one of the draws (never 0)."""
    return float((1 + np.sum(null >= observed)) / (1 + len(null)))


def rank_shift_drivers(
    setup: AdversarialSetup,
    models: list[HistGradientBoostingClassifier],
    columns: list[str],
    seed: int,
) -> list[ShiftDriver]:
    """Columns by the mean drop in held-out AUC when shuffled within the held-out fold, largest
    first.

    Measured on held-out rows, so a column the model merely memorised does not look like a driver.
    """
    rng = np.random.default_rng(seed)
    features, labels, fold_ids = setup.features, setup.labels, setup.fold_ids
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


def set_up_adversarial(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: FeatureColumns,
    folds: int,
    max_iter: int,
    seed: int,
) -> AdversarialSetup:
    """Encode both frames, label them by origin and assign stratified folds."""
    check_group_sizes(reference, current, folds)
    features, mask = encode_shift_features(reference, current, columns)
    labels = np.r_[np.zeros(len(reference), dtype=int), np.ones(len(current), dtype=int)]
    return AdversarialSetup(
        features,
        labels,
        assign_folds(labels, folds, seed),
        build_shift_classifier(mask, max_iter, seed),
    )


def detect_shift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: FeatureColumns,
    test: ShiftTest,
    seed: int = 0,
) -> ShiftReport:
    """Adversarial validation with a permutation test of "no shift" and the columns behind a
    shift.

    Large frames are sampled down to `test.max_rows` (keeping their proportions) and the boosting
    model runs on one thread: the permutations refit it `folds * n_permutations` times, and one
    thread per fit avoids OpenMP threads fighting over shared cores.
    """
    check_group_sizes(reference, current, test.folds)
    reference, current = sample_in_proportion(reference, current, test.max_rows, seed)
    setup = set_up_adversarial(reference, current, columns, test.folds, test.max_iter, seed)
    n_permutations, alpha = test.n_permutations, test.alpha
    with threadpool_limits(limits=1, user_api="openmp"):
        probabilities, fitted = predict_out_of_fold(
            setup.features, setup.labels, setup.fold_ids, setup.model
        )
        auc = float(roc_auc_score(setup.labels, probabilities))
        null = compute_permutation_null(setup, n_permutations, seed)
        drivers = rank_shift_drivers(setup, fitted, columns.all, seed)
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
        drivers=drivers[: test.top_k],
        reference_rows=len(reference),
        current_rows=len(current),
        alpha=alpha,
        folds=test.folds,
        seed=seed,
        notes=notes,
    )


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
            f"A classifier tells {report.reference_rows:,} reference rows from "
            f"{report.current_rows:,} current rows with out-of-fold AUC "
            f"{format_number(report.auc)} ({null_text}); "
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
