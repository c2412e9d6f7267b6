"""Helpers of the task tests: the sample's constants, fitting a model, reading artifacts back."""

from __future__ import annotations

import tempfile
from pathlib import Path

from mlflow import MlflowClient
from sklearn.pipeline import Pipeline

from mleng.card import DatasetCard
from mleng.data.loading import FeatureColumns
from mleng.data.split import SplitData
from mleng.evaluation import MetricInterval
from mleng.promotion import ChampionComparison, GateEvidence
from mleng.training.cv import FoldSetup, build_pipeline, fit_pipeline
from tests.helpers import ADULT_CATEGORICAL, ADULT_NUMERIC

SEED = 3
BOOTSTRAP_RESAMPLES = 200
SAMPLE_ROWS = 1200
COLUMNS = FeatureColumns(list(ADULT_NUMERIC), list(ADULT_CATEGORICAL))
RUN_TAGS = {"mleng.flow": "task-test"}


def fit_logistic(card: DatasetCard, split: SplitData, c: float = 1.0) -> Pipeline:
    """A logistic regression pipeline fitted on the split's training rows, as `refit_best` does."""
    pipeline = build_pipeline(card, COLUMNS, "logistic_regression", {"C": c}, SEED)
    setup = FoldSetup.for_run(card, COLUMNS, SEED, None)
    return fit_pipeline(pipeline, split.train_x, split.train_y, setup)


def read_artifact_text(client: MlflowClient, run_id: str, path: str) -> str:
    """The text of one artifact of a run."""
    with tempfile.TemporaryDirectory() as folder:
        return Path(client.download_artifacts(run_id, path, folder)).read_text()


def read_artifact_bytes(client: MlflowClient, run_id: str, path: str) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        return Path(client.download_artifacts(run_id, path, folder)).read_bytes()


def artifact_paths(client: MlflowClient, run_id: str, folder: str | None = None) -> set[str]:
    """The paths of a run's artifacts at the top level or in `folder`."""
    return {item.path for item in client.list_artifacts(run_id, folder)}


def gate_evidence(
    intervals: dict[str, MetricInterval],
    baselines: dict[str, dict[str, float]],
    metric: str,
    comparison: ChampionComparison | None = None,
    **extra,
) -> GateEvidence:
    """Gate evidence as the flow builds it: the primary metric's test interval and the
    baselines' scores on it; no champion unless a comparison is given."""
    primary = intervals[metric]
    return GateEvidence(
        (primary.estimate, primary.low, primary.high),
        {name: scores[metric] for name, scores in baselines.items()},
        comparison or ChampionComparison(champion_version=None),
        **extra,
    )
