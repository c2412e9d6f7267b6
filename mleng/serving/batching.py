"""Adaptive micro-batching: concurrent requests for one version are scored as one batch.

One scoring thread takes the oldest request, then every request that queued up behind it for the
same version (up to `max_rows`), scores them together and answers each. It never waits to fill a
batch: an idle service scores a lone request at once, and a busy one batches exactly as much as
arrived while it was scoring. Per-call costs (graph dispatch, pandas in the fallback) are paid
once per batch instead of once per request.
"""

from __future__ import annotations

import contextlib
import queue
import sys
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits

from mleng.serving.served_model import Scores, ServedModel


@dataclass
class _Job:
    model: ServedModel
    numeric: np.ndarray
    categorical: np.ndarray
    future: Future = field(default_factory=Future)


class MicroBatcher:
    """Scores jobs on one background thread, batching those that wait together."""

    def __init__(self, max_rows: int = 4096):
        self.max_rows = max_rows
        self.batches = 0
        self.jobs = 0
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._held: _Job | None = None
        self._thread = threading.Thread(target=self._run, name="mleng-scoring", daemon=True)
        self._thread.start()

    def submit(self, model: ServedModel, numeric: np.ndarray, categorical: np.ndarray) -> Future:
        job = _Job(model, numeric, categorical)
        self._queue.put(job)
        return job.future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        # Small batches pay OpenMP's thread wake-up for nothing: one thread scores.
        threadpool_limits(1)
        while True:
            first = self._held or self._queue.get()
            self._held = None
            if first is None:
                return
            batch = self._gather(first)
            self._score(batch)

    def _gather(self, first: _Job) -> list[_Job]:
        batch, rows = [first], len(first.numeric)
        while rows < self.max_rows:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                self._queue.put(None)  # close after this batch
                break
            if job.model is not first.model:
                self._held = job  # the next batch starts with it
                break
            batch.append(job)
            rows += len(job.numeric)
        return batch

    def _score(self, batch: list[_Job]) -> None:
        self.batches += 1
        self.jobs += len(batch)
        model = batch[0].model
        try:
            if len(batch) == 1:
                scores = model.score(batch[0].numeric, batch[0].categorical)
                _resolve(batch[0].future, scores)
                return
            numeric = np.concatenate([job.numeric for job in batch])
            categorical = np.concatenate([job.categorical for job in batch])
            scores = model.score(numeric, categorical)
        except Exception:  # noqa: BLE001 - a batch failure is retried job by job
            if len(batch) == 1:
                _fail(batch[0].future)
                return
            for job in batch:
                self._score([job])
            return
        start = 0
        for job in batch:
            stop = start + len(job.numeric)
            _resolve(job.future, scores.take(start, stop))
            start = stop


def _resolve(future: Future, scores: Scores) -> None:
    with contextlib.suppress(Exception):
        future.set_result(scores)


def _fail(future: Future) -> None:
    with contextlib.suppress(Exception):
        future.set_exception(sys.exc_info()[1] or RuntimeError("scoring failed"))
