"""Assessment tasks: what the test metrics alone do not say (figures, slices, robustness, shift,
neuron coverage) and the model card that gathers it all for a reviewer."""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
from mlflow import MlflowClient
from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from sklearn.base import BaseEstimator
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline

from mleng.assessment import coverage, robustness, shift, slices
from mleng.assessment import figures as plots
from mleng.card import DatasetCard
from mleng.data.loading import FeatureColumns
from mleng.evaluation import MetricInterval, Predictions
from mleng.promotion import PromotionDecision
from mleng.reports import model_card
from mleng.reports.summary import TrainSummary
from mleng.search.engine import TrialResult
from mleng.tracking import runs as tracking
from mleng.training.threshold import describe_decision_rule, read_threshold, unwrap_pipeline


@dataclass(frozen=True)
class Assessment:
    """The findings beyond test metrics, as numbers for the gate and markdown for the card."""

    stable_share: float | None
    robustness_markdown: str
    shift_markdown: str
    coverage_markdown: str
    slices: list[slices.SliceMetric]
    figures: dict[str, str]


def log_figures(
    client: MlflowClient, run_id: str, figures: dict[str, plt.Figure]
) -> dict[str, str]:
    """Save each figure as a PNG artifact under plots/ and return caption -> artifact path."""
    paths = {}
    for name, figure in figures.items():
        path = f"plots/{name}.png"
        client.log_figure(run_id, figure, path)
        plt.close(figure)
        paths[name.replace("_", " ")] = path
    return paths


@task(cache_policy=NO_CACHE)
def assess_model(
    card: DatasetCard,
    columns: FeatureColumns,
    pipeline: Pipeline,
    predictions: Predictions,
    intervals: dict[str, MetricInterval],
    results: list[TrialResult],
    train_rows: pd.DataFrame,
    test_rows: pd.DataFrame,
    seed: int,
    client: MlflowClient,
    run_id: str,
) -> Assessment:
    """Figures, per-slice metrics, epsilon-delta robustness, train/test shift and neuron coverage.

    Robustness (on probabilities) and coverage look inside the pipeline, so a tuned decision
    threshold wrapping it is set aside for them: it changes labels, not probabilities.
    """
    settings = card.evaluation
    pipeline = unwrap_pipeline(pipeline)
    test_y = test_rows[card.target]
    figures = plots.render_figures(
        card.task,
        test_y,
        predictions,
        results,
        card.positive_label,
        n_resamples=300,
        seed=seed,
        metric=card.metric,
        intervals=intervals,
    )
    figure_paths = log_figures(client, run_id, figures)

    slice_metrics = (
        slices.measure_slices(
            card.task,
            test_y,
            predictions,
            test_rows,
            settings.slice_columns,
            card.positive_label,
            n_resamples=300,
            seed=seed,
        )
        if settings.slice_columns
        else []
    )

    stable_share, robustness_markdown = None, "not measured: the model has no numeric features"
    if columns.numeric:
        sample = test_rows[columns.all].sample(
            n=min(settings.robustness_rows, len(test_rows)), random_state=seed
        )
        output = "prediction" if card.task == "regression" else "proba"
        report = robustness.measure_robustness(
            pipeline,
            sample,
            columns.numeric,
            settings.robustness_epsilon,
            settings.robustness_delta,
            settings.robustness_samples,
            seed,
            output,
        )
        stable_share = 1.0 - report.share_sensitive
        robustness_markdown = robustness.render_robustness_markdown(report)
        tracking.log_values(
            client,
            run_id,
            metrics={
                "robustness_stable_share": stable_share,
                "robustness_max_change": report.max_change,
            },
        )

    shift_markdown = "not measured (evaluation.shift_permutations is 0)"
    if settings.shift_permutations > 0:
        shift_report = shift.detect_shift(
            train_rows[columns.all],
            test_rows[columns.all],
            columns.numeric,
            columns.categorical,
            seed=seed,
            n_permutations=settings.shift_permutations,
            max_rows=settings.shift_rows,
        )
        shift_markdown = shift.render_shift_markdown(shift_report)
        tracking.log_values(
            client,
            run_id,
            metrics={"shift_auc": shift_report.auc, "shift_p_value": shift_report.p_value},
        )

    coverage_markdown = "not applicable: the model is not a neural network"
    if isinstance(pipeline[-1], (MLPClassifier, MLPRegressor)):
        tolerance = None if card.task != "regression" else float(test_y.std() * 0.1)
        coverage_report = coverage.measure_neuron_coverage(
            pipeline, test_rows[columns.all], test_y.to_numpy(), tolerance=tolerance
        )
        coverage_markdown = coverage.render_coverage_markdown(coverage_report)
        figure_paths.update(
            log_figures(
                client, run_id, {"neuron_coverage": coverage.plot_coverage_curve(coverage_report)}
            )
        )
        tracking.log_values(client, run_id, metrics={"neuron_coverage": coverage_report.coverage})
    return Assessment(
        stable_share,
        robustness_markdown,
        shift_markdown,
        coverage_markdown,
        slice_metrics,
        figure_paths,
    )


def describe_decision(card: DatasetCard, model: BaseEstimator) -> list[str]:
    """The model card's line on how labels are decided, when a tuned threshold decides them."""
    if read_threshold(model) is None:
        return []
    return [f"- decision threshold: {describe_decision_rule(card, model)}"]


@task(cache_policy=NO_CACHE)
def publish_model_card(
    card: DatasetCard,
    summary: TrainSummary,
    pipeline: Pipeline,
    intervals: dict[str, MetricInterval],
    baselines: dict[str, dict[str, float]],
    assessment: Assessment,
    decision: PromotionDecision,
    client: MlflowClient,
    run_id: str,
) -> str:
    """The model card as a Prefect artifact `model-card` and an MLflow artifact `model_card.md`."""
    facts = model_card.ModelCardFacts(
        model_name=summary.model_name,
        version=summary.model_version,
        task=card.task,
        data=model_card.DataFacts(str(card.path), summary.rows, summary.validation),
        features=describe_decision(card, pipeline)
        + model_card.describe_pipeline(unwrap_pipeline(pipeline)),
        search=model_card.SearchFacts(
            card.search.strategy,
            card.search.budget,
            card.metric,
            summary.best_per_family,
            summary.best_family,
        ),
        metrics=intervals,
        baselines=baselines,
        slices=assessment.slices,
        robustness=assessment.robustness_markdown,
        shift=assessment.shift_markdown + "\n\n" + assessment.coverage_markdown,
        promotion=model_card.build_promotion_facts(decision),
        limits=[
            f"evaluated on {summary.rows.get('test', 0)} held-out rows from the same source; performance on other populations is unknown",
            "search trials were scored on at most search.max_rows training rows",
        ],
        figures=assessment.figures,
    )
    markdown = model_card.render_model_card(facts)
    create_markdown_artifact(
        markdown,
        key="model-card",
        description=f"Model card for {summary.model_name} v{summary.model_version}",
    )
    tracking.log_text(client, run_id, markdown, "model_card.md")
    return markdown
