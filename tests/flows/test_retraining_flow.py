"""Retraining runs stay honest: fair rows for the champion, nothing registered twice, warnings
gated. The real `train` flow on a real sqlite MLflow store and the Prefect engine."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient

from mleng.card import load_card
from mleng.data.loading import infer_feature_columns, load_dataset
from mleng.data.split import format_row_keys, split_dataset
from mleng.tracking.datasets import load_row_keys
from tests.helpers import ADULT, LOGISTIC_FAMILIES, write_card_with_suite

pytestmark = pytest.mark.slow

DEEP_FOREST = {
    "budget": 2,
    "cv_folds": 2,
    "max_rows": 2000,
    "families": {
        "random_forest": {
            "n_estimators": {"type": "int", "low": 60, "high": 60},
            "max_depth": {"type": "int", "low": 40, "high": 40},
            "min_samples_leaf": {"type": "int", "low": 1, "high": 1},
            "max_features": {"type": "float", "low": 0.5, "high": 0.5},
        }
    },
}
LOGISTIC = {
    "budget": 2,
    "cv_folds": 2,
    "families": LOGISTIC_FAMILIES,
}


def write_variant(card_path: Path, data_path: Path) -> Path:
    """The same card over another version of the data file."""
    card = yaml.safe_load(card_path.read_text())
    card["path"] = str(data_path)
    variant = card_path.with_name(f"{data_path.stem}.yaml")
    variant.write_text(yaml.safe_dump(card, sort_keys=False))
    return variant


def test_a_retrained_copy_is_compared_only_on_rows_the_champion_never_saw(
    prefect_server, isolated_store
):
    from flows.train import train

    adult = pd.read_csv(ADULT).sample(n=5000, random_state=3).reset_index(drop=True)
    full, first = isolated_store / "adult_all.csv", isolated_store / "adult_first.csv"
    adult.to_csv(full, index=False)
    adult.iloc[:3500].to_csv(first, index=False)
    card_all = write_card_with_suite(
        isolated_store,
        full,
        search=DEEP_FOREST,
        evaluation={"shift_permutations": 0},
    )
    card_first = write_variant(card_all, first)

    one = train(card_path=str(card_first), seed=1, bootstrap_resamples=300)
    two = train(card_path=str(card_all), seed=1, bootstrap_resamples=300)

    client = MlflowClient()
    champion_keys = load_row_keys(client, one.parent_run_id)
    card = load_card(card_all)
    frame = load_dataset(card)
    split = split_dataset(frame, card, infer_feature_columns(frame, card))
    test_keys = set(format_row_keys(split.test_keys))
    assert champion_keys and not champion_keys & test_keys  # no paired row trained the champion
    tags = client.get_model_version("adult-test", two.model_version).tags
    assert int(tags["promotion.paired_rows"]) == len(split.test_keys) == two.rows["test"]
    # A memorising forest wins by a wide margin on rows it saw; here its gain interval is honest.
    low, high = float(tags["promotion.gain_ci_low"]), float(tags["promotion.gain_ci_high"])
    assert low < high and high > 0, (low, high)


def test_the_same_data_card_and_code_twice_register_one_version(prefect_server, isolated_store):
    from flows.train import train

    data_path = isolated_store / "adult.csv"
    pd.read_csv(ADULT).sample(n=2500, random_state=5).to_csv(data_path, index=False)
    card = write_card_with_suite(isolated_store, data_path, search=LOGISTIC)

    first = train(card_path=str(card), seed=1, bootstrap_resamples=200)
    again = train(card_path=str(card), seed=7, bootstrap_resamples=200)

    client = MlflowClient()
    assert first.decision == "promoted"
    assert again.decision == "unchanged" and again.model_version == first.model_version
    assert again.aliases == ("challenger", "champion")
    assert f"unchanged since version {first.model_version}" in again.reason
    versions = client.search_model_versions("name='adult-test'")
    assert [v.version for v in versions] == [int(first.model_version)]
    run = client.get_run(again.parent_run_id)
    assert run.data.tags["promotion.decision"] == "unchanged"


def test_a_warn_level_leak_is_registered_but_not_promoted_naming_the_column(
    prefect_server, isolated_store
):
    from flows.train import train

    frame = pd.read_csv(ADULT).sample(n=2500, random_state=9).reset_index(drop=True)
    frame["label_copy"] = frame["class"]
    data_path = isolated_store / "adult_leaky.csv"
    frame.to_csv(data_path, index=False)
    card = write_card_with_suite(
        isolated_store, data_path, search=LOGISTIC,
        categorical_columns=None, numeric_columns=None,
        data_checks={"policies": {"target_copy": "warn"}},
    )  # fmt: skip

    summary = train(card_path=str(card), seed=1, bootstrap_resamples=200)

    client = MlflowClient()
    assert summary.decision == "kept_champion" and summary.aliases == ("challenger",)
    assert "target_copy on label_copy" in summary.reason
    aliases = client.get_registered_model("adult-test").aliases
    assert {alias: str(version) for alias, version in aliases.items()} == {
        "challenger": summary.model_version
    }
