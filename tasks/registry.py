"""Registry tasks: log the fitted model with its contract, register a version, move the aliases
as decided; and find the champion a run would only repeat."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE
from sklearn.base import BaseEstimator

from mleng.data.split import SplitData
from mleng.promotion import GateCheck, PromotionDecision
from mleng.serving import deployment, fast_path
from mleng.serving.strategy import ServingStrategy
from mleng.tracking import registry, versions
from mleng.tracking.lineage import Lineage
from mleng.training.threshold import CostDecisionClassifier
from tasks.context import RunContext


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def find_unchanged_champion(context: RunContext, lineage: Lineage) -> str | None:
    """The champion version trained on the same data digest with the same card and code, if any:
    retraining it would only register a copy."""
    card = context.card
    version = registry.find_alias_version(context.client, card.model_name, registry.CHAMPION)
    if version is None:
        return None
    tags = versions.read_version_tags(context.client, card.model_name, version)
    return version if lineage.matches(tags) else None


def recheck_champion(context: RunContext, decision: PromotionDecision) -> PromotionDecision:
    """The decision, withdrawn if the champion moved since this run compared against it: two
    runs on one model (a scheduled and a manual one) must not promote past each other."""
    if not decision.promote:
        return decision
    current = registry.find_alias_version(
        context.client, context.card.model_name, registry.CHAMPION
    )
    compared = decision.comparison.champion_version if decision.comparison else None
    if current == compared:
        return decision
    return decision.withdraw(
        GateCheck(
            "champion_unchanged",
            False,
            f"the champion moved from {compared or 'none'} to v{current} during this run, which "
            "compared against the old one; rerun to compare against the new champion",
        )
    )


@task(cache_policy=NO_CACHE)
def register_model(
    context: RunContext,
    model: BaseEstimator,
    split: SplitData,
    decision: PromotionDecision,
    facts: dict[str, str],
) -> registry.RegisteredVersion:
    """Register the model as the new `challenger`; make it `champion` when the decision says so.

    `facts` (test metrics, lineage digests) become version tags beside the decision's.
    """
    card, columns = context.card, split.columns
    decision = recheck_champion(context, decision)
    model_uri = registry.log_model_contract(
        context.run_id, model, split.train_x, columns.numeric, columns.categorical, card.model_name
    )
    serving = record_serving_facts(context, model, split)
    tags = {**decision.as_tags(), "mleng.run_id": context.run_id, "mleng.metric": card.metric}
    tags = {key: str(value) for key, value in {**tags, **facts, **serving}.items()}
    version = registry.register_version(
        context.client, model_uri, card.model_name, context.run_id, tags
    )
    registry.describe_version(
        context.client, card.model_name, version, f"{decision.label}: {decision.reason}"
    )
    registry.set_alias(context.client, card.model_name, registry.CHALLENGER, version)
    aliases = [registry.CHALLENGER]
    rollout = None
    if decision.promote:
        rollout = roll_out(context, version)
        if rollout is None:
            aliases.append(registry.CHAMPION)
    deployment.apply_card_serving(context.client, card.model_name, card.serving)
    context.log(
        tags={**decision.as_tags(), "model.name": card.model_name, "model.version": version}
    )
    return registry.RegisteredVersion(
        card.model_name, version, f"models:/{card.model_name}/{version}", tuple(aliases), rollout
    )


def record_serving_facts(
    context: RunContext, model: BaseEstimator, split: SplitData
) -> dict[str, str]:
    """The version's serving facts. A model deciding by minimum expected cost gets no ONNX fast
    path: the graph would decide by the most probable class, and a parity check on a few rows
    could miss the difference, so scikit-learn serves it."""
    card = context.card
    if not isinstance(model, CostDecisionClassifier):
        return fast_path.record_serving_facts(
            context.client, context.run_id, model, split, card.task
        )
    reason = (
        "not convertible: the model decides by minimum expected cost (card costs.matrix), "
        "which the graph does not; scikit-learn serves it"
    )
    baseline = fast_path.compute_baseline(split.train_y, card.task)
    return {**fast_path.fast_path_tags(None, reason), **fast_path.baseline_tags(baseline)}


def roll_out(context: RunContext, version: str) -> str | None:
    """Make a version that passed the gate champion, or, when a champion already serves and the
    card's `serving.rollout` says so, start its canary (or shadow); returns the strategy started,
    None when it became champion."""
    card, client = context.card, context.client
    settings = card.serving
    current = registry.find_alias_version(client, card.model_name, registry.CHAMPION)
    if current is None or settings.rollout == "direct":
        registry.move_champion(
            client, card.model_name, version, f"promoted by run {context.run_id}"
        )
        return None
    strategy = ServingStrategy(kind=settings.rollout, fraction=settings.canary_fraction)
    deployment.deploy_strategy(client, card.model_name, strategy)
    return settings.rollout
