"""The run context: what every task of one flow run shares, and the one way tasks log.

A flow opens the context once (`open_run`), which creates the MLflow parent run tagged with the
Prefect flow run id and closes it FINISHED or FAILED however the flow ends. Tasks receive the
frozen context instead of a `client, run_id` pair and log through its methods, so a run's
artifacts, metrics and Prefect artifacts are written one way everywhere.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from mlflow import MlflowClient
from prefect.artifacts import create_markdown_artifact

from mleng.card import DatasetCard
from mleng.reports.embedding import render_png
from mleng.tracking import runs


@dataclass(frozen=True)
class RunContext:
    """One flow run: its card, its seed, and where it logs (MLflow experiment and parent run)."""

    card: DatasetCard
    seed: int
    client: MlflowClient
    experiment_id: str
    run_id: str
    bootstrap_resamples: int = 1000

    def log(
        self,
        params: dict[str, Any] | None = None,
        metrics: dict[str, float] | None = None,
        tags: dict[str, Any] | None = None,
    ) -> None:
        """Params, metrics and tags on the parent run, batched."""
        runs.log_values(self.client, self.run_id, params=params, metrics=metrics, tags=tags)

    def log_text(self, text: str, artifact_file: str) -> None:
        """A text artifact (markdown, HTML) on the parent run."""
        runs.log_text(self.client, self.run_id, text, artifact_file)

    def log_json(self, payload: Any, artifact_file: str) -> None:
        """A machine-readable JSON artifact on the parent run."""
        runs.log_json(self.client, self.run_id, payload, artifact_file)

    def log_figures(self, figures: dict[str, Figure], folder: str = "plots") -> dict[str, str]:
        """Each figure as `<folder>/<name>.png`; returns caption -> artifact path.

        Figures come from the core bound to the Agg canvas, never from pyplot, so nothing here
        imports pyplot or has figures to close.
        """
        return self.log_images({name: render_png(f) for name, f in figures.items()}, folder)

    def log_images(self, images: dict[str, bytes], folder: str = "plots") -> dict[str, str]:
        """PNG bytes already rendered (for an artifact and a page alike) as `<folder>/<name>.png`,
        in one upload; returns caption -> artifact path."""
        with tempfile.TemporaryDirectory() as staging:
            for name, png in images.items():
                (Path(staging) / f"{name}.png").write_bytes(png)
            self.client.log_artifacts(self.run_id, staging, folder)
        return {name.replace("_", " "): f"{folder}/{name}.png" for name in images}

    def publish_markdown(
        self, markdown: str, key: str, description: str, artifact_file: str
    ) -> None:
        """The same markdown as a Prefect artifact `key` and an MLflow artifact `artifact_file`."""
        self.publish_prefect_markdown(markdown, key, description)
        self.log_text(markdown, artifact_file)

    def publish_prefect_markdown(self, markdown: str, key: str, description: str) -> None:
        """A Prefect markdown artifact `key` on the current flow run."""
        create_markdown_artifact(markdown, key=key, description=description)

    def start_child_run(self, run_name: str, tags: dict[str, str]) -> str:
        """A child run of the parent (a search trial), returning its id."""
        return runs.start_run(
            self.client, self.experiment_id, run_name, tags=tags, parent_run_id=self.run_id
        )


@contextmanager
def open_run(
    card: DatasetCard, seed: int, run_name: str, tags: dict[str, str], bootstrap_resamples: int
) -> Iterator[RunContext]:
    """Create the parent run and yield its context; end it FINISHED, or FAILED with the error."""
    client = runs.configure_tracking()
    experiment_id = runs.ensure_experiment(client, card.name)
    run_id = runs.start_run(client, experiment_id, run_name=run_name, tags=tags)
    context = RunContext(card, seed, client, experiment_id, run_id, bootstrap_resamples)
    try:
        yield context
    except BaseException as error:
        context.log(tags={"mleng.error": f"{type(error).__name__}: {error}"})
        runs.end_run(client, run_id, "FAILED")
        raise
    runs.end_run(client, run_id, "FINISHED")
