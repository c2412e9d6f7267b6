"""What `mleng deploy` and `mleng rollback` write to a real MLflow registry, and what they
refuse without writing anything."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient

from mleng.card.serving import ServingSettings
from mleng.errors import RegistryError
from mleng.serving import deployment
from mleng.serving.strategy import ServingStrategy
from mleng.tracking import registry

NAME = "deployed"


@pytest.fixture
def client(isolated_store) -> MlflowClient:
    client = MlflowClient()
    client.create_registered_model(NAME)
    for _ in range(3):
        client.create_model_version(NAME, source=str(isolated_store / "unused"))
    return client


def aliases(client: MlflowClient) -> dict[str, str]:
    return {k: str(v) for k, v in client.get_registered_model(NAME).aliases.items()}


def test_rollback_follows_the_champion_history_back_one_move_at_a_time(client):
    for version in ("1", "2", "3"):
        registry.move_champion(client, NAME, version, f"test {version}")
    assert registry.roll_back_champion(client, NAME) == ("3", "2")
    assert aliases(client)["champion"] == "2"
    assert registry.roll_back_champion(client, NAME) == ("2", "1")
    with pytest.raises(RegistryError, match="no earlier champion"):
        registry.roll_back_champion(client, NAME)
    assert aliases(client)["champion"] == "1"


def test_a_champion_moved_outside_mleng_is_kept_in_the_history(client):
    registry.move_champion(client, NAME, "1", "first")
    client.set_registered_model_alias(NAME, "champion", "2")  # by hand, in the MLflow UI
    registry.move_champion(client, NAME, "3", "third")
    assert [e["version"] for e in registry.read_champion_history(client, NAME)] == ["1", "2", "3"]
    assert registry.roll_back_champion(client, NAME) == ("3", "2")


def test_single_moves_the_champion_to_the_challenger_and_records_the_move(client):
    registry.move_champion(client, NAME, "1", "first")
    registry.set_alias(client, NAME, "challenger", "3")
    state = deployment.deploy_strategy(client, NAME, ServingStrategy(kind="single"))
    assert (state.champion, state.strategy.kind) == ("3", "single")
    assert registry.read_champion_history(client, NAME)[-1]["reason"].startswith("mleng deploy")


def test_canary_without_a_distinct_challenger_is_refused_and_nothing_is_written(client):
    registry.move_champion(client, NAME, "2", "first")
    registry.set_alias(client, NAME, "challenger", "2")
    before = client.get_registered_model(NAME).tags
    with pytest.raises(deployment.DeploymentError, match="needs a challenger distinct"):
        deployment.deploy_strategy(client, NAME, ServingStrategy(kind="canary", fraction=0.2))
    assert client.get_registered_model(NAME).tags == before
    registry.set_alias(client, NAME, "challenger", "3")
    with pytest.raises(deployment.DeploymentError, match="needs a challenger distinct"):
        deployment.deploy_strategy(client, NAME, ServingStrategy(kind="shadow"), version="2")
    assert aliases(client) == {"champion": "2", "challenger": "3"}
    with pytest.raises(deployment.DeploymentError, match="no version '9'"):
        deployment.deploy_strategy(client, NAME, ServingStrategy(kind="single"), version="9")
    assert aliases(client)["champion"] == "2"


def test_the_strategy_round_trips_and_keeps_the_cards_holdout(client):
    registry.move_champion(client, NAME, "1", "first")
    registry.set_alias(client, NAME, "challenger", "2")
    deployment.apply_card_serving(client, NAME, ServingSettings(holdout_fraction=0.05))
    deployment.deploy_strategy(client, NAME, ServingStrategy(kind="canary", fraction=0.25))
    state = deployment.read_serving_state(client, NAME)
    assert (state.strategy.kind, state.strategy.fraction) == ("canary", 0.25)
    assert state.strategy.holdout_fraction == 0.05
    assert (state.champion, state.challenger) == ("1", "2")


def test_a_corrupt_strategy_tag_is_an_error_naming_the_tag_and_the_fix(client):
    client.set_registered_model_tag(NAME, deployment.STRATEGY_TAG, '{"kind": "sideways"}')
    with pytest.raises(deployment.DeploymentError, match="mleng deploy --model NAME"):
        deployment.read_serving_state(client, NAME)
