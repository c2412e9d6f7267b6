"""Where a search round's trials run: the Prefect task runner the card's `search.runner` names.

Each trial stays one Prefect task run (and one MLflow child run); the runner only decides where
it executes. A round is submitted whole and its results come back in trial order, so the search
engine sees exactly what a sequential run would show it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from prefect.settings import PREFECT_API_URL
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner
from threadpoolctl import threadpool_limits

from mleng.card.runner import TrialRunnerSettings
from mleng.errors import CardError
from mleng.training import parallel


@dataclass(frozen=True)
class TrialRunner:
    """Runs a task once per parameter set; `threads` is what each run may use (None: all)."""

    runner: TaskRunner | None
    threads: int | None
    description: str

    def run_all(self, task: Any, parameter_sets: Sequence[dict[str, Any]]) -> list[Any]:
        """The task's results for each parameter set, in order; a failed run raises its error."""
        if self.runner is None:
            return [task(**parameters) for parameters in parameter_sets]
        futures = [self.runner.submit(task, parameters=dict(p)) for p in parameter_sets]
        return [future.result() for future in futures]


def plan_workers(settings: TrialRunnerSettings) -> tuple[int, int]:
    """(trials at once, threads per trial): the cores split so none is oversubscribed."""
    return parallel.plan_workers(settings.workers)


@contextmanager
def open_trial_runner(settings: TrialRunnerSettings) -> Iterator[TrialRunner]:
    """The runner for one search: a thread pool, a Dask cluster, or none (one at a time).

    A local Dask cluster starts here and stops when the search ends, however it ends."""
    if settings.kind == "sequential":
        yield TrialRunner(None, None, "sequential: one trial at a time, every core")
        return
    workers, threads = plan_workers(settings)
    with ExitStack() as stack:
        if settings.kind == "threads":
            runner: TaskRunner = ThreadPoolTaskRunner(max_workers=workers)
            # OpenMP and BLAS pools are per process: cap them for all trial threads at once.
            stack.enter_context(threadpool_limits(limits=threads))
            text = f"threads: {workers} trials at once, {threads} thread(s) each"
        else:
            runner = build_dask_runner(settings, workers)
            text = f"dask: {settings.address or f'a local cluster of {workers} workers'}"
        stack.enter_context(runner)
        yield TrialRunner(runner, threads, text)


def build_dask_runner(settings: TrialRunnerSettings, workers: int) -> TaskRunner:
    """prefect-dask's runner on `address`, or on a local cluster of single-threaded processes."""
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError:
        raise CardError(
            "search.runner kind 'dask' needs prefect-dask: pip install 'mleng[dask]'"
        ) from None
    if not PREFECT_API_URL.value():  # the environment variable, a profile or a test harness
        raise CardError(
            "search.runner kind 'dask' runs trials in other processes, which must reach a "
            "Prefect server: set PREFECT_API_URL (`make up` starts one at "
            "http://127.0.0.1:4200/api), or use search.runner kind 'threads'"
        )
    if settings.address is not None:
        return DaskTaskRunner(address=settings.address)
    cluster = {"n_workers": workers, "threads_per_worker": 1, "processes": True}
    return DaskTaskRunner(cluster_kwargs=cluster | {"dashboard_address": None})
