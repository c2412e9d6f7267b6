"""Rollout tasks: finish a canary (promote) or undo it (rollback), on the registry the service
follows."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from mleng.serving import deployment
from mleng.serving.strategy import ServingStrategy
from mleng.tracking import registry, runs


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def promote_version(model_name: str, version: str | None) -> deployment.ServingState:
    """`version` (default: the challenger) becomes champion; the strategy returns to single."""
    client = runs.configure_tracking()
    return deployment.deploy_strategy(client, model_name, ServingStrategy(kind="single"), version)


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def undo_rollout(model_name: str, previous_champion: bool) -> str:
    """End a running canary/shadow/bandit (the champion stays), or with `previous_champion`
    move champion back to the one before it. Returns what was done."""
    client = runs.configure_tracking()
    state = deployment.read_serving_state(client, model_name)
    if previous_champion:
        moved_from, moved_to = registry.roll_back_champion(client, model_name)
        deployment.write_strategy(
            client, model_name, state.strategy.model_copy(update={"kind": "single"})
        )
        return f"champion v{moved_from} -> v{moved_to}"
    if state.strategy.kind == "single":
        return f"nothing to undo: {model_name} serves champion v{state.champion} alone"
    ended = state.strategy.model_copy(
        update={"kind": "single", "rolled_back": "ended by the rollback flow"}
    )
    deployment.write_strategy(client, model_name, ended)
    return f"{state.strategy.kind} of v{state.challenger} ended; champion v{state.champion} stays"
