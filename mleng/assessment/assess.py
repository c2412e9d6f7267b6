"""What the test metrics alone do not say, gathered for the gate and the model card: figures,
per-slice metrics, epsilon-delta robustness, train/test shift and neuron coverage."""

from __future__ import annotations

from dataclasses import dataclass, field

from matplotlib.figure import Figure
from sklearn.base import BaseEstimator
from sklearn.neural_network import MLPClassifier, MLPRegressor

from mleng.assessment import coverage, robustness, shift, slices
from mleng.assessment import figures as plots
from mleng.card import DatasetCard
from mleng.data.split import SplitData
from mleng.evaluation import MetricInterval, Predictions, Resampling, Truth
from mleng.search.engine import TrialResult
from mleng.training.threshold import unwrap_pipeline

# Resamples for the figures' and slices' intervals: enough for a picture, cheap on large tests.
FIGURE_RESAMPLES = 300


@dataclass(frozen=True)
class TestEvidence:
    """The refit model's test-set predictions, their bootstrap intervals, and every baseline's
    metrics on the same rows."""

    predictions: Predictions
    intervals: dict[str, MetricInterval]
    baselines: dict[str, dict[str, float]]


@dataclass
class Assessment:
    """The findings beyond test metrics: numbers for the gate, markdown for the card, figures
    to log (by name), the metrics to record, where the figures were logged (caption -> path) and
    their PNG bytes by path, for pages that carry their own figures."""

    stable_share: float | None = None
    robustness_markdown: str = "not measured: the model has no numeric features"
    shift_markdown: str = "not measured (evaluation.shift_permutations is 0)"
    coverage_markdown: str = "not applicable: the model is not a neural network"
    slices: list[slices.SliceMetric] = field(default_factory=list)
    figures: dict[str, Figure] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    figure_paths: dict[str, str] = field(default_factory=dict)
    figure_images: dict[str, bytes] = field(default_factory=dict)


def assess_model(
    card: DatasetCard,
    model: BaseEstimator,
    evidence: TestEvidence,
    results: list[TrialResult],
    split: SplitData,
    seed: int,
) -> Assessment:
    """Every assessment the card's `evaluation:` block asks for, on the test rows.

    Robustness (on probabilities) and coverage look inside the pipeline, so a tuned decision
    threshold wrapping it is set aside for them: it changes labels, not probabilities.
    """
    pipeline = unwrap_pipeline(model)
    assessment = Assessment()
    truth = Truth(card.task, split.test_y, card.positive_label)
    resampling = Resampling(FIGURE_RESAMPLES, seed=seed)
    assessment.figures = plots.render_figures(
        truth, evidence.predictions, results, resampling,
        metric=card.metric, intervals=evidence.intervals,
    )  # fmt: skip
    if card.evaluation.slice_columns:
        assessment.slices = slices.measure_slices(
            truth, evidence.predictions, split.test_rows, card.evaluation.slice_columns, resampling
        )
    if split.columns.numeric:
        measure_model_robustness(card, pipeline, split, seed, assessment)
    if card.evaluation.shift_permutations > 0:
        measure_train_test_shift(card, split, seed, assessment)
    if isinstance(pipeline[-1], (MLPClassifier, MLPRegressor)):
        measure_model_coverage(card, pipeline, split, assessment)
    return assessment


def measure_model_robustness(
    card: DatasetCard, pipeline: BaseEstimator, split: SplitData, seed: int, into: Assessment
) -> None:
    """Share of sampled test rows whose output stays within epsilon under delta-perturbations."""
    settings = card.evaluation
    rows = split.test_x.sample(
        n=min(settings.robustness_rows, len(split.test_x)), random_state=seed
    )
    output = "prediction" if card.task == "regression" else "proba"
    perturbation = robustness.Perturbation(
        settings.robustness_delta, settings.robustness_samples, seed
    )
    report = robustness.measure_robustness(
        pipeline, rows, split.columns.numeric, settings.robustness_epsilon, perturbation, output
    )
    into.stable_share = 1.0 - report.share_sensitive
    into.robustness_markdown = robustness.render_robustness_markdown(report)
    into.metrics |= {
        "robustness_stable_share": into.stable_share,
        "robustness_max_change": report.max_change,
    }


def measure_train_test_shift(
    card: DatasetCard, split: SplitData, seed: int, into: Assessment
) -> None:
    """Adversarial validation of train against test, with a permutation test."""
    test = shift.ShiftTest(
        n_permutations=card.evaluation.shift_permutations, max_rows=card.evaluation.shift_rows
    )
    report = shift.detect_shift(split.train_x, split.test_x, split.columns, test, seed=seed)
    into.shift_markdown = shift.render_shift_markdown(report)
    into.metrics |= {"shift_auc": report.auc, "shift_p_value": report.p_value}


def measure_model_coverage(
    card: DatasetCard, pipeline: BaseEstimator, split: SplitData, into: Assessment
) -> None:
    """Neuron coverage of an MLP on the test rows, with its curve."""
    tolerance = None if card.task != "regression" else float(split.test_y.std() * 0.1)
    report = coverage.measure_neuron_coverage(
        pipeline, split.test_x, split.test_y.to_numpy(), tolerance=tolerance
    )
    into.coverage_markdown = coverage.render_coverage_markdown(report)
    into.figures["neuron_coverage"] = coverage.plot_coverage_curve(report)
    into.metrics["neuron_coverage"] = report.coverage
