"""The final fit of a larger-than-memory card: the feature pipeline fitted on the training part of
the sample, the incremental estimator trained with `partial_fit` over every training chunk, and
the test rows scored chunk by chunk.

The result is one ordinary fitted `Pipeline` (raw-input coercion, features, estimator), so the
contract, the service and the ONNX fast path treat it like any other model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

from mleng.card import DatasetCard
from mleng.data.chunks import SideChunk, mix_keys
from mleng.errors import CardError
from mleng.evaluation.baselines import predict_with
from mleng.evaluation.records import Predictions

# One epoch's training chunks, in that epoch's order: `epoch -> chunks`.
ChunkPass = Callable[[int], Iterable[SideChunk]]


def check_incremental_card(card: DatasetCard) -> None:
    """Refuse settings an incremental fit cannot honour (rather than silently ignore them)."""
    problems = []
    if card.task != "regression" and card.imbalance.strategy in ("resample", "balanced_ensemble"):
        problems.append(
            f"imbalance.strategy '{card.imbalance.strategy}' resamples the whole training set: "
            "use class_weight (weights from the streamed class counts) or none"
        )
    if card.features.augmentation.copies > 0 or card.features.text.augmentation.copies > 0:
        problems.append("augmentation copies every training row: set its copies to 0")
    if problems:
        raise CardError(
            f"Card {card.name} sets requirements.larger_than_memory, but {'; '.join(problems)}"
        )


def balanced_class_weights(class_counts: dict[object, int]) -> dict[object, float]:
    """scikit-learn's `balanced` weights, n / (k * n_c), from counts over every training row
    (`partial_fit` refuses `balanced` because one chunk cannot know them)."""
    total, k = sum(class_counts.values()), len(class_counts)
    return {label: total / (k * count) for label, count in class_counts.items() if count}


@dataclass(frozen=True)
class IncrementalPlan:
    """What the passes need besides the chunks: the target, the classes up front (a chunk may
    lack one), the class weights of the whole training data (None: unweighted), the epochs."""

    target: str
    classes: np.ndarray | None
    class_weight: dict[object, float] | None
    epochs: int


@dataclass(frozen=True)
class IncrementalFit:
    """The fitted pipeline and what training it read."""

    pipeline: Pipeline
    epochs: int
    chunks_per_epoch: int
    rows_per_epoch: int


def split_estimator(pipeline: Pipeline) -> tuple[Pipeline, BaseEstimator]:
    """The pipeline's head (coercion + features) and its final estimator, which must learn
    incrementally."""
    if not isinstance(pipeline, Pipeline) or len(pipeline.steps) < 2:
        raise ValueError("an incremental fit needs a Pipeline of features and an estimator")
    estimator = pipeline.steps[-1][1]
    if not hasattr(estimator, "partial_fit"):
        raise ValueError(
            f"{type(estimator).__name__} has no partial_fit; a larger-than-memory card trains "
            "only incremental families (sgd)"
        )
    return pipeline[:-1], estimator


def fit_incremental(
    pipeline: Pipeline,
    sample_x: pd.DataFrame,
    sample_y: pd.Series,
    passes: ChunkPass,
    plan: IncrementalPlan,
) -> IncrementalFit:
    """Fit the head on the sample's training rows, then `partial_fit` the estimator over the
    transformed training chunks for `plan.epochs` passes.

    `passes(epoch)` yields that epoch's chunks (the caller shuffles their order by the seed); the
    estimator's own `shuffle` mixes the rows within a chunk. The head is frozen after the sample
    fit, so every chunk is transformed alike.
    """
    head, estimator = split_estimator(pipeline)
    head.fit(sample_x, sample_y)
    if plan.class_weight is not None and "class_weight" in estimator.get_params(deep=False):
        estimator.set_params(class_weight=plan.class_weight)
    columns = list(sample_x.columns)
    chunks = rows = 0
    for epoch in range(plan.epochs):
        chunks = rows = 0
        for chunk in passes(epoch):
            features = head.transform(chunk.rows[columns])
            target = chunk.rows[plan.target].to_numpy()
            if plan.classes is None:
                estimator.partial_fit(features, target)
            else:
                estimator.partial_fit(features, target, classes=plan.classes)
            chunks, rows = chunks + 1, rows + len(chunk.rows)
    if rows == 0:
        raise ValueError("no training rows reached the incremental fit; check the split")
    return IncrementalFit(pipeline, plan.epochs, chunks, rows)


@dataclass
class PredictionReservoir:
    """Truth and predictions of at most `cap` test rows: every row while they fit, then the rows
    of smallest seeded key priority (a sample independent of the chunking)."""

    cap: int
    seed: int
    seen: int = 0
    priority: np.ndarray | None = None
    truth: np.ndarray | None = None
    predicted: np.ndarray | None = None
    proba: np.ndarray | None = None
    classes: np.ndarray | None = None

    def add(self, keys: np.ndarray, truth: np.ndarray, predictions: Predictions) -> None:
        self.seen += len(keys)
        self.classes = predictions.classes
        parts = {
            "priority": mix_keys(keys, self.seed),
            "truth": np.asarray(truth),
            "predicted": np.asarray(predictions.y_pred),
            "proba": None if predictions.proba is None else np.asarray(predictions.proba),
        }
        for name, part in parts.items():
            held = getattr(self, name)
            if part is not None:
                setattr(self, name, part if held is None else np.concatenate([held, part]))
        assert self.priority is not None
        if len(self.priority) > self.cap:
            keep = np.sort(np.argsort(self.priority, kind="stable")[: self.cap])
            for name in parts:
                held = getattr(self, name)
                if held is not None:
                    setattr(self, name, held[keep])

    @property
    def kept(self) -> int:
        return 0 if self.priority is None else len(self.priority)

    def predictions(self) -> Predictions:
        assert self.predicted is not None
        return Predictions(self.predicted, self.proba, self.classes)

    def statement(self) -> str:
        """Which test rows the metrics are on, in words."""
        if self.kept == self.seen:
            return f"on all {self.seen:,} test rows"
        return f"on a seeded sample of {self.kept:,} of {self.seen:,} test rows"


def predict_chunks(
    model: BaseEstimator,
    chunks: Iterable[SideChunk],
    feature_columns: list[str],
    target: str,
    reservoir: PredictionReservoir,
) -> PredictionReservoir:
    """Predict the test rows chunk by chunk, keeping only truth and predictions (capped)."""
    for chunk in chunks:
        predictions = predict_with(model, chunk.rows[feature_columns])
        reservoir.add(chunk.keys, chunk.rows[target].to_numpy(), predictions)
    if reservoir.kept == 0:
        raise ValueError("no test rows were predicted; check the split")
    return reservoir
