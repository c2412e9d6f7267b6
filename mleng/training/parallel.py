"""Independent fits side by side: one per core at once, each on one thread.

With OpenMP waiting passively (the runtime defaults), a LightGBM fit on two threads took 2.5x a
one-thread fit on 2 cores, so callers that are alone on the machine (the decision threshold's
folds, the confirmation's candidates, the shift test's permutations) spread whole fits over the
cores instead of threads inside one fit. Results come back in the order of the items.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from threadpoolctl import threadpool_limits

from mleng.training.estimators import count_threads

Item = TypeVar("Item")
Result = TypeVar("Result")


def map_side_by_side(function: Callable[[Item], Result], items: Iterable[Item]) -> list[Result]:
    """`function` of every item, as many at once as there are cores, each call limited to one
    OpenMP and BLAS thread (those pools are per calling thread, so the limit is set in each)."""

    def alone(item: Item) -> Result:
        with threadpool_limits(limits=1):
            return function(item)

    with ThreadPoolExecutor(count_threads()) as pool:
        return list(pool.map(alone, items))


def plan_workers(workers: int | None) -> tuple[int, int]:
    """(trials at once, threads per trial): `workers` (or one per core) and the cores split
    between them, so trials side by side never oversubscribe the cores."""
    cores = count_threads()
    workers = workers or cores
    return workers, max(1, cores // workers)
