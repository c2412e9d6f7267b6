"""The corrupted-input corpus through the real `train` flow: each variant stops the flow with a
message naming the column and the evidence, and registers nothing; a warn-level defect trains
but its model cannot pass the promotion gate."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest
import yaml
from mlflow import MlflowClient

from mleng.data.loading import infer_feature_columns
from mleng.errors import MlengError
from mleng.validation import suites as validation
from tests.corpus import adult_card, build_case, load_adult_sample

pytestmark = pytest.mark.slow

STOPPING_CASES = {
    # case: words the message must contain (the column, and what was found)
    "missing_column": ["age"],
    "wrong_types": ["age"],
    "nan_and_inf": ["hours-per-week"],
    "unknown_categories": ["workclass"],
    "target_copy": ["high_earner", "the target under another name"],
    "id_encodes_target": ["record_ref"],
    "known_after_event": ["bonus_paid"],
    "recorded_after_prediction": ["last_review"],
}


def write_case(folder: Path, name: str) -> Path:
    """The case's data, a card with its changes and settings, and the suite of the clean data."""
    case = build_case(name)
    clean_card = adult_card()
    clean = load_adult_sample()
    suite_path = folder / "suite.json"
    if not suite_path.exists():
        columns = infer_feature_columns(clean, clean_card)
        validation.save_suite(
            validation.build_suite(clean, clean_card, columns.numeric, columns.categorical),
            suite_path,
        )
    case.frame.to_csv(folder / "data.csv", index=False)
    card = json.loads(case.card().model_dump_json())
    card.update(
        name="corpus",
        model_name="corpus-model",
        path=str(folder / "data.csv"),
        expectations=str(suite_path),
        data_checks=json.loads(case.settings.model_dump_json(exclude_defaults=True)),
        search={"budget": 3, "cv_folds": 3, "max_rows": 1500},
    )
    card["search"]["families"] = {
        "logistic_regression": {"C": {"type": "float", "low": 0.01, "high": 10.0, "log": True}},
        "random_forest": {"n_estimators": {"type": "int", "low": 10, "high": 30}},
        "hist_gradient_boosting": {"max_iter": {"type": "int", "low": 20, "high": 40}},
    }
    path = folder / "card.yaml"
    path.write_text(yaml.safe_dump(card, sort_keys=False))
    return path


def registered_versions() -> list:
    try:
        return MlflowClient().search_model_versions("name='corpus-model'")
    except mlflow.exceptions.MlflowException:
        return []


@pytest.mark.parametrize("name", list(STOPPING_CASES))
def test_corrupted_variant_stops_the_flow_naming_the_column_and_registers_nothing(
    prefect_server, isolated_store, name
):
    from flows.train import train

    card = write_case(isolated_store, name)
    with pytest.raises(MlengError) as raised:
        train(card_path=str(card), seed=0, bootstrap_resamples=100)
    message = str(raised.value)
    for word in STOPPING_CASES[name]:
        assert word in message, message
    assert "data.csv" in message and "rows" in message
    assert registered_versions() == []


def test_duplicated_rows_stay_on_one_side_of_the_split_and_hold_back_promotion(
    prefect_server, isolated_store
):
    """Copies of a row share its key, so they never straddle the split (the leak this case used
    to cause); the duplicates remain a data warning, which the gate does not let through."""
    from flows.train import train

    card = write_case(isolated_store, "duplicated_rows")
    summary = train(card_path=str(card), seed=0, bootstrap_resamples=100)
    assert summary.decision == "kept_champion" and summary.aliases == ("challenger",)
    assert "duplicate_rows on the table" in summary.reason, summary.reason
    run = MlflowClient().get_run(summary.parent_run_id)
    assert run.data.metrics["data_findings_warn"] >= 1


def test_shuffled_labels_train_but_fail_the_promotion_gate(prefect_server, isolated_store):
    from flows.train import train

    card = write_case(isolated_store, "shuffled_labels")
    load_adult_sample(2000, seed=99).to_csv(isolated_store / "reference.csv", index=False)
    settings = yaml.safe_load(card.read_text())
    settings["data_checks"].update(
        sensitive_columns=["sex"], reference_path=str(isolated_store / "reference.csv")
    )
    settings["evaluation"] = {"slice_columns": ["sex"]}
    card.write_text(yaml.safe_dump(settings))
    summary = train(card_path=str(card), seed=0, bootstrap_resamples=200)
    assert summary.decision == "kept_champion" and "champion" not in summary.aliases
    assert "beat_baselines" in summary.reason
    local = MlflowClient().download_artifacts(
        summary.parent_run_id, "data_report/report.json", str(isolated_store)
    )
    report = json.loads(Path(local).read_text())
    detectors = {finding["detector"] for finding in report["report"]["findings"]}
    assert "learning_curve" in detectors
    assert next(
        section["comparisons"] for section in report["bias"]
    )  # the reference sample was compared
    client = MlflowClient()
    artifacts = {item.path for item in client.list_artifacts(summary.parent_run_id, "evaluation")}
    assert "evaluation/group_fairness.json" in artifacts
    card_text = Path(
        client.download_artifacts(summary.parent_run_id, "model_card.md", str(isolated_store))
    ).read_text()
    assert (
        "## Slices" in card_text and "Female" in card_text and "FAILED beat_baselines" in card_text
    )
