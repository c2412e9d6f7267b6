"""The `promote` and `rollback` flows: finish or undo a rollout from the Prefect UI."""

from __future__ import annotations

from mleng.runtime import apply_runtime_defaults

apply_runtime_defaults()

from prefect import flow

from tasks.rollout import promote_version, undo_rollout


@flow(name="promote", log_prints=True)
def promote(model_name: str = "adult-income", version: str | None = None) -> dict:
    """Make the challenger (or `version`) champion: the canary is finished.

    The prediction service follows within its refresh interval; the move is recorded in the
    model's champion history, so `rollback` can undo it.

    Args:
        model_name: the registered model.
        version: the version to make champion (default: the challenger).
    """
    state = promote_version(model_name, version)
    print(f"{model_name}: champion v{state.champion}, strategy {state.strategy.kind}")
    return {"champion": state.champion, "strategy": state.strategy.kind}


@flow(name="rollback", log_prints=True)
def rollback(model_name: str = "adult-income", previous_champion: bool = False) -> str:
    """Undo a rollout: end the running canary, shadow or bandit (the champion keeps serving), or
    with `previous_champion` move champion back to the version before it.

    Args:
        model_name: the registered model.
        previous_champion: move champion back one step in its history instead.
    """
    done = undo_rollout(model_name, previous_champion)
    print(done)
    return done
