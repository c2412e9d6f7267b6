"""Algorithm choice follows the card's requirements and says why."""

import pytest

from mleng.card import DatasetCard
from mleng.errors import CardError
from mleng.search.families import choose_families


def card(**requirements) -> DatasetCard:
    return DatasetCard.model_validate(
        {
            "name": "toy",
            "path": "toy.csv",
            "target": "y",
            "task": "binary",
            "model_name": "toy",
            "requirements": requirements,
        }
    )


def test_no_requirement_keeps_every_family():
    choice = choose_families(card(), n_rows=1000, n_features=10)
    assert set(choice.spaces) == {"logistic_regression", "random_forest", "lightgbm"}
    assert choice.reasons == ["no requirement narrowed the card's families"]


def test_explainability_keeps_linear_models_and_records_the_reason():
    choice = choose_families(card(explainability=True), 1000, 10)
    assert set(choice.spaces) == {"logistic_regression"}
    assert "explainability" in choice.reasons[0] and "random_forest" in choice.reasons[0]


def test_larger_than_memory_uses_an_incremental_learner():
    choice = choose_families(card(larger_than_memory=True), 1000, 10)
    assert set(choice.spaces) == {"sgd"}
    assert set(choice.spaces["sgd"]) == {"alpha", "penalty"}


def test_tight_latency_drops_forests():
    choice = choose_families(card(max_latency_ms=10), 1000, 10)
    assert "random_forest" not in choice.spaces and "lightgbm" in choice.spaces


def test_expected_nonlinearity_drops_linear_models():
    choice = choose_families(card(nonlinearity="expected"), 1000, 10)
    assert "logistic_regression" not in choice.spaces


def test_wide_data_favours_linear_models():
    assert set(choose_families(card(), n_rows=50, n_features=500).spaces) == {"logistic_regression"}


def test_explainability_wins_over_expected_nonlinearity_and_says_so():
    choice = choose_families(card(explainability=True, nonlinearity="expected"), 1000, 10)
    assert (
        set(choice.spaces) == {"logistic_regression"}
        and "only linear families remain" in choice.reasons[-1]
    )


def test_requirements_that_leave_nothing_name_the_conflict():
    forests_only = card(max_latency_ms=5)
    forests_only.search.families = {"random_forest": forests_only.search.families["random_forest"]}
    with pytest.raises(CardError, match="leave no model family"):
        choose_families(forests_only, 1000, 10)
