"""tasks.registry: registering versions with their aliases and tags, and finding a champion that
retraining would only copy."""

from __future__ import annotations

import numpy as np
from mlflow import MlflowClient

from mleng.promotion import ChampionComparison, GateCheck, PromotionDecision
from mleng.tracking import versions
from mleng.tracking.lineage import describe_lineage
from tasks.registry import find_unchanged_champion, register_model
from tests.tasks.task_helpers import SEED

PROMOTE = PromotionDecision(
    promote=True,
    checks=[GateCheck("beat_champion", True, "no champion yet: nothing to compare against")],
    comparison=ChampionComparison(champion_version=None),
)
KEEP = PromotionDecision(
    promote=False,
    checks=[GateCheck("beat_baselines", False, "interval does not clear baselines")],
    comparison=ChampionComparison(champion_version=None),
)


def aliases_of(client: MlflowClient, name: str) -> dict[str, str]:
    return {
        alias: str(version) for alias, version in client.get_registered_model(name).aliases.items()
    }


def test_register_model_registers_a_promoted_version_as_challenger_and_champion(
    context, client: MlflowClient, split, fitted_model
):
    facts = {"metric.roc_auc": "0.9", **describe_lineage(context.card, "d1", SEED).as_tags()}

    registered = register_model.fn(context, fitted_model, split, PROMOTE, facts)

    assert (registered.name, registered.version) == ("adult-test", "1")
    assert registered.model_uri == "models:/adult-test/1"
    assert registered.aliases == ("challenger", "champion")
    assert aliases_of(client, "adult-test") == {"challenger": "1", "champion": "1"}
    version = client.get_model_version("adult-test", "1")
    assert version.run_id == context.run_id
    assert version.tags["promotion.decision"] == "promoted"
    assert version.tags["promotion.reason"].startswith("all gate checks passed")
    assert version.tags["promotion.check.beat_champion"].startswith("passed: ")
    assert version.tags["mleng.run_id"] == context.run_id
    assert version.tags["mleng.metric"] == "roc_auc"
    assert {key: version.tags[key] for key in facts} == facts
    run_tags = client.get_run(context.run_id).data.tags
    assert run_tags["promotion.decision"] == "promoted"
    assert (run_tags["model.name"], run_tags["model.version"]) == ("adult-test", "1")
    # The registered model is the fitted one: it predicts the same probabilities.
    loaded = versions.load_version_model("adult-test", "1")
    rows = split.test_x.head(50)
    np.testing.assert_allclose(loaded.predict_proba(rows), fitted_model.predict_proba(rows))


def test_register_model_leaves_the_champion_where_it_was_when_not_promoted(
    card, open_context, client: MlflowClient, split, fitted_model
):
    first = open_context(card, run_name="first")
    register_model.fn(first, fitted_model, split, PROMOTE, {})
    second = open_context(card, run_name="second")

    registered = register_model.fn(second, fitted_model, split, KEEP, {})

    assert registered.version == "2" and registered.aliases == ("challenger",)
    assert aliases_of(client, "adult-test") == {"challenger": "2", "champion": "1"}
    version = client.get_model_version("adult-test", "2")
    assert version.tags["promotion.decision"] == "kept_champion"
    assert version.tags["promotion.check.beat_baselines"].startswith("failed: ")
    assert client.get_run(second.run_id).data.tags["promotion.decision"] == "kept_champion"


def test_a_run_that_compared_against_an_older_champion_never_moves_the_alias_past_a_newer_one(
    card, open_context, client: MlflowClient, split, fitted_model
):
    """Two runs start with no champion; the first promotes; the second, whose gate saw no
    champion, is registered as challenger only, its reason naming the move."""
    first, second = open_context(card, run_name="first"), open_context(card, run_name="second")
    register_model.fn(first, fitted_model, split, PROMOTE, {})

    late = register_model.fn(second, fitted_model, split, PROMOTE, {})

    assert late.aliases == ("challenger",)
    assert aliases_of(client, "adult-test") == {"challenger": "2", "champion": "1"}
    version = client.get_model_version("adult-test", "2")
    assert version.tags["promotion.decision"] == "kept_champion"
    assert "champion moved from none to v1" in version.tags["promotion.check.champion_unchanged"]
    assert version.description.startswith("kept_champion: failed gate checks")


def test_find_unchanged_champion_returns_none_without_a_champion(context):
    lineage = describe_lineage(context.card, "d1", SEED)
    assert find_unchanged_champion.fn(context, lineage) is None


def test_find_unchanged_champion_returns_the_champion_with_the_same_lineage_whatever_the_seed(
    card, open_context, split, fitted_model
):
    first = open_context(card, run_name="first")
    lineage = describe_lineage(card, "d1", SEED)
    register_model.fn(first, fitted_model, split, PROMOTE, lineage.as_tags())
    again = open_context(card, run_name="again")

    assert find_unchanged_champion.fn(again, lineage) == "1"
    assert find_unchanged_champion.fn(again, describe_lineage(card, "d1", SEED + 1)) == "1"


def test_find_unchanged_champion_returns_none_when_the_data_or_card_changed(
    card, make_card, open_context, split, fitted_model
):
    first = open_context(card, run_name="first")
    register_model.fn(
        first, fitted_model, split, PROMOTE, describe_lineage(card, "d1", SEED).as_tags()
    )
    again = open_context(card, run_name="again")
    changed_card = make_card(test_size=0.3)

    assert find_unchanged_champion.fn(again, describe_lineage(card, "d2", SEED)) is None
    assert find_unchanged_champion.fn(again, describe_lineage(changed_card, "d1", SEED)) is None


def test_find_unchanged_champion_ignores_a_challenger_with_the_same_lineage(
    card, open_context, split, fitted_model
):
    lineage = describe_lineage(card, "d1", SEED)
    first = open_context(card, run_name="first")
    register_model.fn(first, fitted_model, split, KEEP, lineage.as_tags())

    assert find_unchanged_champion.fn(open_context(card, run_name="again"), lineage) is None
