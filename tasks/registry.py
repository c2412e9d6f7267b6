"""Registry task: log the fitted pipeline, register a version, move the aliases as decided."""

from __future__ import annotations

import pandas as pd
from mlflow import MlflowClient
from prefect import task
from prefect.cache_policies import NO_CACHE
from sklearn.pipeline import Pipeline

from mleng.card import DatasetCard
from mleng.promotion import PromotionDecision
from mleng.tracking import registry
from mleng.tracking import runs as tracking


@task(cache_policy=NO_CACHE)
def register_model(
    card: DatasetCard,
    pipeline: Pipeline,
    input_example: pd.DataFrame,
    numeric_columns: list[str],
    decision: PromotionDecision,
    test_metrics: dict[str, float],
    client: MlflowClient,
    run_id: str,
) -> registry.RegisteredVersion:
    """Register the pipeline as the new `challenger`; make it `champion` when the decision says so."""
    model_uri = registry.log_pipeline(run_id, pipeline, input_example, numeric_columns)
    tags = {**decision.as_tags(), "mleng.run_id": run_id, "mleng.metric": card.metric}
    tags.update({f"metric.{name}": f"{value:.6g}" for name, value in test_metrics.items()})
    version = registry.register_version(
        client, model_uri, card.model_name, run_id, {k: str(v) for k, v in tags.items()}
    )
    registry.set_alias(client, card.model_name, registry.CHALLENGER, version)
    aliases = [registry.CHALLENGER]
    if decision.promote:
        registry.set_alias(client, card.model_name, registry.CHAMPION, version)
        aliases.append(registry.CHAMPION)
    tracking.log_values(
        client,
        run_id,
        tags={**decision.as_tags(), "model.name": card.model_name, "model.version": version},
    )
    return registry.RegisteredVersion(
        card.model_name, version, f"models:/{card.model_name}/{version}", tuple(aliases)
    )
