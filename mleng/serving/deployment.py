"""What the registry holds for serving: the strategy, the champion's moves, the holdout baseline.

Everything the service follows is written here, on the registered model, by `mleng deploy`,
`mleng rollback`, the admin endpoints and the train flow alike; the service polls it. Nothing
here talks to the service, so a deploy works the same with one replica, five, or none running.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from pydantic import ValidationError

from mleng.card.serving import ServingSettings
from mleng.errors import MlengError, RegistryError
from mleng.serving.strategy import ServingStrategy
from mleng.tracking import registry

STRATEGY_TAG = "mleng.serving.strategy"


class DeploymentError(MlengError):
    """A deployment request the registry's state does not allow (no challenger, bad version)."""


@dataclass(frozen=True)
class ServingState:
    """One read of the registry: the versions the aliases hold and the strategy."""

    champion: str | None
    challenger: str | None
    strategy: ServingStrategy


def read_serving_state(client: MlflowClient, name: str) -> ServingState:
    """Aliases and strategy in one registry call (the service polls this every second)."""
    try:
        model = client.get_registered_model(name)
    except MlflowException as error:
        raise RegistryError(f"model {name!r} cannot be read from the registry: {error}") from error
    aliases = {alias: str(version) for alias, version in model.aliases.items()}
    return ServingState(
        aliases.get(registry.CHAMPION),
        aliases.get(registry.CHALLENGER),
        parse_strategy(name, model.tags.get(STRATEGY_TAG)),
    )


def parse_strategy(name: str, text: str | None) -> ServingStrategy:
    """The stored strategy; `single` when none was ever set."""
    if not text:
        return ServingStrategy()
    try:
        return ServingStrategy.model_validate_json(text)
    except ValidationError as error:
        raise DeploymentError(
            f"model {name!r}: tag {STRATEGY_TAG} does not hold a valid strategy ({error}); "
            "set one with `mleng deploy --model NAME --strategy single`"
        ) from error


def write_strategy(client: MlflowClient, name: str, strategy: ServingStrategy) -> None:
    client.set_registered_model_tag(name, STRATEGY_TAG, strategy.model_dump_json())


def deploy_strategy(
    client: MlflowClient,
    name: str,
    strategy: ServingStrategy,
    version: str | None = None,
) -> ServingState:
    """Set the strategy; for `single`, move `champion` to `version` (default: the challenger).

    Shadow, canary and bandit need a challenger distinct from the champion: refused otherwise,
    before anything is written.
    """
    state = read_serving_state(client, name)
    if state.champion is None and version is None and state.challenger is None:
        raise DeploymentError(f"model {name!r} has no version to serve: train one first")
    if strategy.kind == "single":
        target = version or state.challenger or state.champion
        check_version(client, name, str(target))
        if target != state.champion:
            registry.move_champion(client, name, str(target), "mleng deploy --strategy single")
    else:
        challenger = version or state.challenger
        if state.champion is None or challenger is None or challenger == state.champion:
            raise DeploymentError(
                f"model {name!r}: strategy {strategy.kind} needs a challenger distinct from the "
                f"champion (champion v{state.champion}, challenger v{challenger}); train a new "
                "version or pass --version V"
            )
        if version is not None:
            check_version(client, name, version)
            registry.set_alias(client, name, registry.CHALLENGER, version)
    holdout = {"holdout_fraction", "holdout_serves"}
    kept = state.strategy.model_dump(include=holdout)
    given = strategy.model_dump(include=holdout, exclude_unset=True)
    strategy = strategy.model_copy(update={**kept, **given, "rolled_back": None})
    write_strategy(client, name, strategy)
    return read_serving_state(client, name)


def apply_card_serving(client: MlflowClient, name: str, settings: ServingSettings) -> None:
    """Write the card's holdout settings into the served strategy, keeping everything else."""
    state = read_serving_state(client, name)
    write_strategy(client, name, state.strategy.model_copy(update=settings.model_dump()))


def check_version(client: MlflowClient, name: str, version: str) -> None:
    try:
        client.get_model_version(name, version)
    except MlflowException as error:
        raise DeploymentError(f"model {name!r} has no version {version!r}: {error}") from error


def export_model(name: str, out: Path, alias: str = registry.CHAMPION) -> Path:
    """Write `models:/name@alias` as a self-contained bundle for static deployment.

    The bundle is the MLflow model folder (the pickled pipeline, the `mleng` code it imports,
    `requirements.txt`), plus a README saying how to load it. Refuses a non-empty `out`: an export
    never overwrites anything.
    """
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise DeploymentError(f"{out} is not empty; choose a new folder for the export")
    client = MlflowClient()
    version = registry.find_alias_version(client, name, alias)
    if version is None:
        raise DeploymentError(f"model {name!r} has no {alias!r} alias to export")
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{name}/{version}", dst_path=str(staging / "model")
        )
        shutil.copy(staging / "model" / "requirements.txt", staging / "requirements.txt")
        (staging / "README.md").write_text(render_export_readme(name, version, alias))
        out.mkdir(parents=True, exist_ok=True)
        for item in staging.iterdir():
            shutil.move(str(item), out / item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def render_export_readme(name: str, version: str, alias: str) -> str:
    return f"""# {name} v{version} (exported from alias `{alias}`)

A self-contained MLflow model for static deployment inside another application.

```bash
pip install -r requirements.txt
```

```python
import mlflow.pyfunc, pandas as pd
model = mlflow.pyfunc.load_model("model")
model.predict(pd.DataFrame([...]))  # columns: prediction, probability_<class>
```

The model checks its own inputs (every training column required, numbers as numbers) and
refuses what it cannot score with a message naming the column. `model/MLmodel` records the
input columns under `mleng_contract`; `model/code/mleng` is the code the pipeline imports.
"""
