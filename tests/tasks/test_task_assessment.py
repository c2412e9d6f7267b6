"""tasks.assessment: figures and assessment metrics on the run, and the model card."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient

from mleng.assessment import assess  # its TestEvidence, imported bare, looks like a test class
from mleng.reports.summary import TrainSummary
from tasks.assessment import assess_model, publish_model_card
from tasks.evaluation import evaluate_baselines, evaluate_on_test, gate_promotion
from tests.tasks.task_helpers import (
    artifact_paths,
    gate_evidence,
    read_artifact_bytes,
    read_artifact_text,
)

CLASSIFICATION_FIGURES = {
    "roc_curve",
    "precision_recall_curve",
    "calibration_curve",
    "confusion_matrix",
    "bootstrap_distributions",
    "search_landscape",
}


@pytest.fixture
def evidence(context, split, fitted_model) -> assess.TestEvidence:
    """The fitted model's test evaluation and the baselines, as the flow passes them on."""
    predictions, intervals = evaluate_on_test.fn(context, fitted_model, split)
    return assess.TestEvidence(predictions, intervals, evaluate_baselines.fn(context, split))


def test_assess_model_logs_every_figure_under_plots_and_the_assessment_metrics(
    context, client: MlflowClient, split, fitted_model, evidence, trial_results
):
    assessment = assess_model.fn(context, fitted_model, evidence, trial_results, split)

    expected = {f"plots/{name}.png" for name in CLASSIFICATION_FIGURES}
    assert artifact_paths(client, context.run_id, "plots") == expected
    assert assessment.figure_paths == {
        name.replace("_", " "): f"plots/{name}.png" for name in CLASSIFICATION_FIGURES
    }
    for path in expected:
        assert read_artifact_bytes(client, context.run_id, path).startswith(b"\x89PNG")
    metrics = client.get_run(context.run_id).data.metrics
    assert metrics["robustness_stable_share"] == pytest.approx(assessment.stable_share)
    assert 0.0 <= assessment.stable_share <= 1.0
    assert 0.0 <= metrics["shift_p_value"] <= 1.0 and 0.0 <= metrics["shift_auc"] <= 1.0
    assert {key: metrics[key] for key in assessment.metrics} == pytest.approx(assessment.metrics)
    assert "neuron_coverage" not in metrics  # not an MLP


def test_assess_model_measures_the_card_slices(
    make_card, open_context, split, fitted_model, trial_results
):
    context = open_context(make_card(evaluation={"slice_columns": ["sex"]}))
    predictions, intervals = evaluate_on_test.fn(context, fitted_model, split)
    evidence = assess.TestEvidence(predictions, intervals, {})

    assessment = assess_model.fn(context, fitted_model, evidence, trial_results, split)

    assert {item.group for item in assessment.slices} == {"Female", "Male"}
    assert all(item.column == "sex" for item in assessment.slices)
    assert sum(item.rows for item in assessment.slices) == len(split.test_rows)
    assert all("roc_auc" in item.metrics for item in assessment.slices)


@pytest.fixture
def assessment(context, split, fitted_model, evidence, trial_results) -> assess.Assessment:
    return assess_model.fn(context, fitted_model, evidence, trial_results, split)


@pytest.mark.slow
def test_publish_model_card_logs_the_card_naming_the_version_metrics_and_decision(
    prefect_server, context, client: MlflowClient, fitted_model, evidence, assessment
):
    decision = gate_promotion.fn(
        context, gate_evidence(evidence.intervals, evidence.baselines, "roc_auc")
    )
    summary = TrainSummary(
        card_name="adult_test",
        metric="roc_auc",
        validation="passed",
        rows={"train": 981, "test": len(evidence.predictions.y_pred)},
        best_family="logistic_regression",
        model_name="adult-test",
        model_version="7",
        aliases=("challenger", "champion"),
        decision=decision.label,
        reason=decision.reason,
    )

    markdown = publish_model_card.fn(context, summary, fitted_model, evidence, assessment, decision)

    assert markdown.startswith("# Model card: adult-test v7\n")
    assert "**promoted to champion**" in markdown
    assert "roc_auc" in markdown and "zero_rule" in markdown
    # The card links the figures assess_model logged.
    for caption, path in assessment.figure_paths.items():
        assert f"![{caption}]({path})" in markdown
    assert read_artifact_text(client, context.run_id, "model_card.md") == markdown
