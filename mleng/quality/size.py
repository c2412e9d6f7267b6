"""Sizeable: are there enough rows, by rules of thumb and by a learning curve of a fast model?

Rules of thumb are cheap but blind to how hard the problem is; the learning curve measures it:
if the cross-validated score still climbs between half and all of the data by more than its
noise, more data would still help.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, replace
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.exceptions import FitFailedWarning
from sklearn.model_selection import BaseCrossValidator, KFold, StratifiedKFold, learning_curve
from threadpoolctl import threadpool_limits

from mleng.card import DatasetCard, Task
from mleng.card.data_checks import DataChecksSettings, ReportSettings
from mleng.data.loading import FeatureColumns
from mleng.data.sampling import sample_rows
from mleng.quality.columns import count_encoded_width, find_positive_label, to_float_array
from mleng.quality.extrapolation import Extrapolation, extrapolate_rows
from mleng.quality.findings import Finding
from mleng.reports.formatting import format_number, to_jsonable

# Five points so the power law of `extrapolation` (three parameters) keeps two degrees of freedom;
# the verdict reads the last step, from half to all of the training folds.
TRAIN_FRACTIONS = (0.1, 0.18, 0.3, 0.5, 1.0)
MAX_PROBE_LEVELS = 250  # histogram gradient boosting handles at most 255 categories per column
MIN_PRACTICAL_GAIN = 0.002

CurveVerdict = Literal["more_data_would_help", "plateau", "near_chance", "not_measured"]


@dataclass(frozen=True)
class SizeRules:
    """Rows against the rules of thumb: 10 per encoded feature, 100-1000 per class."""

    rows: int
    features: int
    encoded_features: int
    rows_needed_for_features: int
    classes: int | None
    smallest_class_rows: int | None
    rows_needed_for_classes: int | None
    rows_comfortable_for_classes: int | None
    enough: bool

    def to_dict(self) -> dict[str, object]:
        return to_jsonable(asdict(self))


@dataclass(frozen=True)
class LearningCurve:
    """Cross-validated score of a fast model at growing training sizes, and what it says."""

    metric: str
    train_sizes: list[int]
    mean_scores: list[float]
    std_scores: list[float]
    chance_score: float
    last_gain: float | None
    last_gain_noise: float | None
    verdict: CurveVerdict
    sampled_rows: int
    explanation: str
    extrapolation: Extrapolation | None = None  # rows for a stated gain in the card's metric

    def to_dict(self) -> dict[str, object]:
        return to_jsonable(asdict(self))


def measure_size_rules(
    frame: pd.DataFrame, card: DatasetCard, features: FeatureColumns, settings: DataChecksSettings
) -> SizeRules:
    """Compare the row count with the rules of thumb of `settings.report` (by default 10 rows per
    encoded feature and 100-1000 per class).

    Encoded features (one per kept one-hot level) count, not raw columns, because that is the
    width the model must fit.
    """
    options = settings.report
    target, task = card.target, card.task
    rows = len(frame)
    encoded = count_encoded_width(frame, features)
    needed_features = int(np.ceil(options.rows_per_feature * encoded))
    classes = smallest = needed_classes = comfortable = None
    enough = rows >= needed_features
    if task != "regression" and target in frame.columns:
        counts = frame[target].value_counts()
        classes = len(counts)
        smallest = int(counts.min()) if classes else 0
        needed_classes = int(options.rows_per_class * max(classes, 1))
        comfortable = int(options.comfortable_rows_per_class * max(classes, 1))
        enough = enough and rows >= needed_classes
    return SizeRules(
        rows,
        len(features.all),
        encoded,
        needed_features,
        classes,
        smallest,
        needed_classes,
        comfortable,
        enough,
    )


def build_probe_matrix(
    frame: pd.DataFrame, features: FeatureColumns
) -> tuple[np.ndarray, np.ndarray]:
    """A float matrix for a probe model: numbers as floats, categories as integer codes.

    The coding uses no label, so building it before cross-validation leaks nothing; rare
    levels beyond what histogram boosting accepts share one code.
    """
    columns = [to_float_array(frame[c]) for c in features.numeric]
    for column in features.categorical:
        codes, levels = pd.factorize(frame[column].astype("string"), sort=False)
        counts = np.bincount(codes[codes >= 0], minlength=len(levels))
        rank = np.empty(len(levels), dtype=int)
        rank[np.argsort(-counts, kind="stable")] = np.arange(len(levels))
        coded = np.where(
            codes >= 0, np.minimum(rank[np.maximum(codes, 0)], MAX_PROBE_LEVELS - 1), -1
        )
        columns.append(np.where(coded >= 0, coded, np.nan).astype(float))
    matrix = np.column_stack(columns) if columns else np.empty((len(frame), 0))
    mask = np.array(
        [False] * len(features.numeric) + [True] * len(features.categorical), dtype=bool
    )
    return matrix, mask


def encode_probe_target(target: pd.Series, task: Task, positive_label: object | None) -> np.ndarray:
    """1 for the positive class (binary), class codes (multiclass) or floats (regression)."""
    if task == "regression":
        return to_float_array(target)
    if task == "binary":
        return (target == find_positive_label(target, positive_label)).to_numpy(dtype=int)
    return pd.factorize(target, sort=True)[0]


def score_chance(task: Task, classes: int) -> tuple[str, float]:
    """The curve's metric and what guessing scores on it: AUC 0.5, balanced accuracy 1/k, R2 0."""
    if task == "binary":
        return "roc_auc", 0.5
    if task == "multiclass":
        return "balanced_accuracy", 1.0 / max(classes, 1)
    return "r2", 0.0


def build_probe_model(task: Task, categorical_mask: np.ndarray, seed: int) -> BaseEstimator:
    """A small boosted model: fast, handles NaN and categories natively, strong enough to probe."""
    options = {
        "max_iter": 30,
        "learning_rate": 0.25,
        "max_leaf_nodes": 15,
        "early_stopping": False,
        "categorical_features": categorical_mask if categorical_mask.any() else None,
        "random_state": seed,
    }
    if task == "regression":
        return HistGradientBoostingRegressor(**options)
    return HistGradientBoostingClassifier(**options)


@dataclass(frozen=True)
class CurveScores:
    """The probe model's cross-validated scores: mean and spread across folds per training size."""

    sizes: list[int]
    means: np.ndarray
    stds: np.ndarray


def not_measured(metric: str, chance: float, rows: int, reason: str) -> LearningCurve:
    """A learning curve that could not be measured, and why."""
    return LearningCurve(metric, [], [], [], chance, None, None, "not_measured", rows, reason)


def measure_learning_curve(
    frame: pd.DataFrame,
    card: DatasetCard,
    features: FeatureColumns,
    settings: DataChecksSettings,
    seed: int = 0,
) -> LearningCurve:
    """Score a fast model at 10, 25, 50 and 100% of the training folds and judge the last step.

    More data would help when the gain from 50% to 100% exceeds twice its standard error (from
    the spread across folds) and a practical minimum; a final score within
    `settings.report.chance_margin` of guessing means the features do not predict the target at
    all (e.g. shuffled labels). At most `learning_curve_max_rows` rows are sampled, and
    `learning_curve_folds` folds cross-validate.
    """
    options = settings.report
    target, task, folds = card.target, card.task, options.learning_curve_folds
    labelled = frame[frame[target].notna()] if target in frame.columns else frame.iloc[:0]
    if task == "regression" and len(labelled):
        labelled = labelled[np.isfinite(to_float_array(labelled[target]))]
    classes = int(labelled[target].nunique()) if len(labelled) else 0
    metric, chance = score_chance(task, classes)
    reason = check_curve_possible(labelled, features, task, classes, folds)
    if not reason and task != "regression":
        smallest = int(labelled[target].value_counts().min())
        if smallest < folds:
            reason = (
                f"the smallest class has {smallest} rows; {folds}-fold stratified "
                f"cross-validation needs {folds}"
            )
    if reason:
        return not_measured(metric, chance, len(labelled), reason)
    stratify = [target] if task != "regression" else None
    sample = sample_rows(
        labelled,
        options.learning_curve_max_rows,
        "stratified" if stratify else "random",
        seed,
        stratify,
    )
    matrix, mask = build_probe_matrix(sample, features)
    informative = ~np.isnan(matrix).all(axis=0)  # an all-missing column breaks histogram binning
    matrix, mask = matrix[:, informative], mask[informative]
    if matrix.shape[1] == 0:
        return not_measured(metric, chance, len(sample), "every feature column is empty")
    y = encode_probe_target(sample[target], task, card.positive_label)
    splitter = (KFold if task == "regression" else StratifiedKFold)(
        folds, shuffle=True, random_state=seed
    )
    try:
        sizes, test_scores = run_learning_curve(
            build_probe_model(task, mask, seed), matrix, y, splitter, metric, seed
        )
    except ValueError as error:  # every fit failed: report why instead of stopping the data stage
        first_line = str(error).strip().splitlines()[0]
        reason = f"the probe model could not be fitted: {first_line}"
        return not_measured(metric, chance, len(sample), reason)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a size where every fold failed stays NaN
        means, stds = np.nanmean(test_scores, axis=1), np.nanstd(test_scores, axis=1)
    scores = CurveScores([int(s) for s in sizes], means, stds)
    curve = judge_learning_curve(metric, chance, scores, options, len(sample), len(labelled))
    if curve.verdict not in ("plateau", "more_data_would_help"):
        return curve
    probe = ProbeData(build_probe_model(task, mask, seed), matrix, y, splitter)
    return replace(curve, extrapolation=extrapolate_card_metric(card, curve, probe, options, seed))


PROBE_SCORERS = {
    "log_loss": "neg_log_loss",
    "rmse": "neg_root_mean_squared_error",
    "mae": "neg_mean_absolute_error",
}


def probe_scorer(metric: str, task: Task) -> str:
    """The scikit-learn scorer of a card metric on the probe's target (binary coded 0/1)."""
    if task == "multiclass" and metric in ("roc_auc", "f1"):
        return {"roc_auc": "roc_auc_ovr", "f1": "f1_macro"}[metric]
    return PROBE_SCORERS.get(metric, metric)


@dataclass(frozen=True)
class ProbeData:
    """What the curve was measured with, to measure it again in another metric."""

    model: BaseEstimator
    matrix: np.ndarray
    target: np.ndarray
    splitter: BaseCrossValidator


def extrapolate_card_metric(
    card: DatasetCard, curve: LearningCurve, probe: ProbeData, options: ReportSettings, seed: int
) -> Extrapolation | None:
    """The rows needed for `options.extrapolation_gain` in the card's own metric.

    The verdict's curve is in a probe metric chosen for its chance level (ROC AUC, balanced
    accuracy, R2); when the card's metric differs, the same probe is scored again in it, so the
    gain a reader asks about is the one the gate measures.
    """
    metric = card.metric or curve.metric
    scorer = probe_scorer(metric, card.task)
    folds = options.learning_curve_folds
    if scorer == curve.metric:
        means, stds = np.asarray(curve.mean_scores), np.asarray(curve.std_scores)
    else:
        _, test_scores = run_learning_curve(
            probe.model, probe.matrix, probe.target, probe.splitter, scorer, seed
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            means, stds = np.nanmean(test_scores, axis=1), np.nanstd(test_scores, axis=1)
        if card.lower_is_better:  # scikit-learn negates errors; the law fits them as positives
            means = -means
    return extrapolate_rows(
        metric, curve.train_sizes, list(means), list(stds / np.sqrt(folds)),
        options.extrapolation_gain, seed,
    )  # fmt: skip


def run_learning_curve(
    model: BaseEstimator,
    matrix: np.ndarray,
    y: np.ndarray,
    splitter: BaseCrossValidator,
    metric: str,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Scores at each training fraction, on one thread and with failed fits as NaN."""
    # One thread: on a few shared cores, OpenMP threads spin against each other and run 10x slower.
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", FitFailedWarning)
        sizes, _, test_scores = learning_curve(
            model,
            matrix,
            y,
            train_sizes=np.array(TRAIN_FRACTIONS),
            cv=splitter,
            scoring=metric,
            shuffle=True,
            random_state=seed,
            error_score=np.nan,
        )
    return sizes, test_scores


def check_curve_possible(
    labelled: pd.DataFrame, features: FeatureColumns, task: Task, classes: int, folds: int
) -> str:
    """Why a learning curve cannot be measured on this data, or an empty string if it can."""
    if not features.numeric and not features.categorical:
        # The probe model reads numeric and categorical columns; text alone is not probed.
        return "no numeric or categorical feature columns to learn from"
    if len(labelled) < 10 * folds * len(TRAIN_FRACTIONS):
        needed = 10 * folds * len(TRAIN_FRACTIONS)
        return f"only {len(labelled)} labelled rows; a learning curve needs at least {needed}"
    if task != "regression" and classes < 2:
        return "the target has fewer than two classes"
    return ""


def judge_learning_curve(
    metric: str,
    chance: float,
    scores: CurveScores,
    options: ReportSettings,
    sampled_rows: int,
    total_rows: int,
) -> LearningCurve:
    """Turn the curve's numbers into a verdict with the reason spelled out; the gain's noise
    is its standard error over `options.learning_curve_folds` folds."""
    sizes, means, stds = scores.sizes, scores.means, scores.stds
    margin, folds = options.chance_margin, options.learning_curve_folds
    if not np.isfinite(means).all():
        return LearningCurve(
            metric,
            sizes,
            list(means),
            list(stds),
            chance,
            None,
            None,
            "not_measured",
            sampled_rows,
            "the probe model failed on some training sizes (too few rows of a class?)",
        )
    gain = float(means[-1] - means[-2])
    noise = float(np.sqrt((stds[-1] ** 2 + stds[-2] ** 2) / folds))
    sampled = (
        f" (on a sample of {sampled_rows:,} of {total_rows:,} rows)"
        if sampled_rows < total_rows
        else ""
    )
    steps = f"from {sizes[-2]:,} to {sizes[-1]:,} training rows"
    if means[-1] <= chance + margin:
        verdict: CurveVerdict = "near_chance"
        text = (
            f"{metric} {means[-1]:.3f} with {sizes[-1]:,} training rows is within {margin} of "
            f"chance ({chance:.3f}){sampled}: the features do not predict the target; check the "
            "labels are aligned with their rows (not shuffled) and that the target column is the "
            "right one"
        )
    elif gain > max(2 * noise, MIN_PRACTICAL_GAIN):
        verdict = "more_data_would_help"
        text = (
            f"{metric} still rises by {gain:.4f} {steps}, above twice its standard error "
            f"({noise:.4f}){sampled}: more data would still help"
        )
    else:
        verdict = "plateau"
        text = (
            f"{metric} changes by {gain:+.4f} {steps}, not above both twice its standard error "
            f"({noise:.4f}) and {MIN_PRACTICAL_GAIN}{sampled}: more rows alone are unlikely to "
            "help; better features might"
        )
    return LearningCurve(
        metric,
        sizes,
        [float(m) for m in means],
        [float(s) for s in stds],
        chance,
        gain,
        noise,
        verdict,
        sampled_rows,
        text,
    )


def build_size_findings(
    rules: SizeRules, curve: LearningCurve | None, settings: DataChecksSettings
) -> list[Finding]:
    """Findings for too few rows and for a learning curve that is near chance or still rising."""
    findings = []
    if not rules.enough:
        needs = [
            (
                f"{format_number(rules.rows_needed_for_features)} for {rules.encoded_features} "
                "encoded features"
            )
        ]
        if rules.rows_needed_for_classes is not None:
            needs.append(
                f"{format_number(rules.rows_needed_for_classes)} for {rules.classes} classes"
            )
        message = (
            f"Only {rules.rows:,} rows; rules of thumb ask for {' and '.join(needs)}. Collect "
            "more rows, or reduce the features (group rare categories, drop weak columns)."
        )
        evidence = {
            "rows": rules.rows,
            "encoded_features": rules.encoded_features,
            "classes": rules.classes,
        }
        findings.append(
            Finding("too_few_rows", (), evidence, settings.policy_for("too_few_rows"), message)
        )
    if curve is not None and curve.verdict in ("near_chance", "more_data_would_help"):
        evidence = {
            "metric": curve.metric,
            "final_score": curve.mean_scores[-1],
            "chance": curve.chance_score,
            "last_gain": curve.last_gain,
            "noise": curve.last_gain_noise,
            "verdict": curve.verdict,
        }
        message = f"Learning curve: {curve.explanation}."
        findings.append(
            Finding("learning_curve", (), evidence, settings.policy_for("learning_curve"), message)
        )
    return findings
