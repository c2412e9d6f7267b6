"""Dataset cards: strict, explicit about every bad field."""

from pathlib import Path

import pytest
import yaml

from mleng.card import DatasetCard, load_card, resolve_expectations_path, validate_card
from mleng.errors import CardError

ROOT = Path(__file__).resolve().parents[3]


def minimal(**overrides) -> dict:
    card = {
        "name": "toy",
        "path": "toy.csv",
        "target": "y",
        "task": "binary",
        "model_name": "toy-model",
    }
    card.update(overrides)
    return card


def write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "card.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_bundled_adult_card_loads_with_data_path_resolved_against_card_folder():
    card = load_card(ROOT / "configs" / "adult.yaml")
    assert card.path == ROOT / "data" / "adult.csv.gz"
    assert card.path.exists()
    assert set(card.search.families) == {
        "logistic_regression",
        "random_forest",
        "lightgbm",
    }


def test_unknown_field_is_an_error_naming_the_field(tmp_path):
    with pytest.raises(CardError, match=r"targte: unknown field"):
        load_card(write(tmp_path, minimal(targte="y")))


def test_wrong_type_is_an_error_naming_the_nested_field(tmp_path):
    with pytest.raises(CardError, match=r"search\.budget"):
        load_card(write(tmp_path, minimal(search={"budget": "many"})))


def test_missing_required_field_is_named(tmp_path):
    data = minimal()
    del data["target"]
    with pytest.raises(CardError, match=r"target: required field is missing"):
        load_card(write(tmp_path, data))


def test_budget_below_number_of_families_is_rejected_with_the_fix(tmp_path):
    with pytest.raises(CardError, match=r"budget 2 is below the number of model families \(3"):
        load_card(write(tmp_path, minimal(search={"budget": 2})))


def test_metric_must_fit_the_task(tmp_path):
    with pytest.raises(CardError, match=r"metric 'rmse' does not fit task 'binary'"):
        load_card(write(tmp_path, minimal(metric="rmse")))


def test_defaults_follow_the_task():
    regression = DatasetCard.model_validate(minimal(task="regression"))
    assert regression.metric == "rmse" and regression.lower_is_better
    assert "ridge" in regression.search.families
    binary = DatasetCard.model_validate(minimal())
    assert binary.metric == "roc_auc" and not binary.lower_is_better


def test_log_scale_range_must_be_positive(tmp_path):
    space = {"logistic_regression": {"C": {"type": "float", "low": 0, "high": 1, "log": True}}}
    with pytest.raises(CardError, match=r"log-scale parameter needs 'low' > 0"):
        load_card(write(tmp_path, minimal(search={"budget": 4, "families": space})))


def test_missing_card_file_names_the_path(tmp_path):
    with pytest.raises(CardError, match=r"nope\.yaml does not exist"):
        load_card(tmp_path / "nope.yaml")


def test_card_that_is_not_a_mapping_is_rejected(tmp_path):
    path = tmp_path / "card.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(CardError, match="must be a YAML mapping"):
        load_card(path)


def test_expectations_default_to_current_folder_and_explicit_paths_resolve_against_card(tmp_path):
    card = load_card(write(tmp_path, minimal()))
    assert resolve_expectations_path(card) == Path("expectations") / "toy.json"
    explicit = load_card(write(tmp_path, minimal(expectations="suites/toy.json")))
    assert resolve_expectations_path(explicit) == (tmp_path / "suites" / "toy.json").resolve()


def test_overrides_are_validated_like_the_file():
    card = DatasetCard.model_validate(minimal())
    assert card.with_overrides(budget=12).search.budget == 12
    with pytest.raises(CardError, match="--budget"):
        card.with_overrides(budget=1)
    assert card.with_overrides(strategy="random").search.strategy == "random"
    with pytest.raises(CardError, match="search.strategy"):
        card.with_overrides(strategy="annealing")


def test_a_card_without_a_suite_path_finds_its_project_suite_from_any_folder(tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "configs").mkdir(parents=True)
    (project / "expectations").mkdir()
    suite = project / "expectations" / "toy.json"
    suite.write_text("{}")
    card_path = project / "configs" / "card.yaml"
    card_path.write_text(yaml.safe_dump(minimal()))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert resolve_expectations_path(load_card(card_path)) == suite.resolve()
    # A suite in the current folder wins, as before; without any suite the default stays local.
    (elsewhere / "expectations").mkdir()
    (elsewhere / "expectations" / "toy.json").write_text("{}")
    assert (
        resolve_expectations_path(load_card(card_path))
        == (elsewhere / "expectations" / "toy.json").resolve()
    )
    suite.unlink()
    (elsewhere / "expectations" / "toy.json").unlink()
    assert resolve_expectations_path(load_card(card_path)) == Path("expectations") / "toy.json"


def test_a_decision_threshold_is_refused_for_tasks_that_are_not_binary():
    with pytest.raises(ValueError, match="remove imbalance.threshold_metric"):
        DatasetCard.model_validate(
            minimal(task="regression", metric="r2", imbalance={"threshold_metric": "f1"})
        )
    card = DatasetCard.model_validate(minimal(imbalance={"threshold_metric": "f1"}))
    assert card.imbalance.threshold_metric == "f1"


def test_the_card_has_no_seed_of_its_own_so_the_run_seed_is_the_only_one():
    for section in ("features", "data_checks"):
        with pytest.raises(CardError, match=f"{section}.seed: unknown field"):
            validate_card({**minimal(), section: {"seed": 3}})
