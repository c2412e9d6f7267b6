"""Draw a subset of rows that keeps what matters: exact size, even coverage or group proportions.

Every strategy returns rows in their original order, so a time-ordered frame stays time-ordered,
and the same seed always gives the same rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mleng.card.sampling import SamplingSettings, SamplingStrategy


def sample_rows(
    frame: pd.DataFrame,
    n: int,
    strategy: SamplingStrategy = "random",
    seed: int = 0,
    stratify_columns: list[str] | None = None,
) -> pd.DataFrame:
    """Exactly `min(n, len(frame))` rows chosen by `strategy`, in their original order.

    - random: a simple random sample without replacement.
    - systematic: every k-th row (k = len // n) from a random start, so gaps are constant and the
      sample covers the whole frame evenly (useful when rows are ordered by time).
    - stratified: each group of `stratify_columns` (missing values form a group of their own)
      gets its share of `n` by largest-remainder allocation, so every group's count is within
      one row of its exact proportion.
    """
    if n < 0:
        raise ValueError(f"cannot sample a negative number of rows ({n})")
    if n >= len(frame):
        return frame.copy()
    rng = np.random.default_rng(seed)
    if strategy == "random":
        positions = rng.choice(len(frame), size=n, replace=False)
    elif strategy == "systematic":
        positions = select_systematic_positions(len(frame), n, rng)
    elif strategy == "stratified":
        if not stratify_columns:
            raise ValueError("stratified sampling needs stratify_columns, e.g. the target column")
        missing = [c for c in stratify_columns if c not in frame.columns]
        if missing:
            raise ValueError(
                f"stratify columns {missing} are not in the data; columns are {list(frame.columns)}"
            )
        positions = select_stratified_positions(frame[stratify_columns], n, rng)
    else:
        raise ValueError(
            f"unknown sampling strategy '{strategy}'; use random, systematic or stratified"
        )
    return frame.iloc[np.sort(positions)].copy()


def select_systematic_positions(total: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Positions start, start+k, ..., with k = total // n and start drawn in [0, k)."""
    if n == 0:
        return np.empty(0, dtype=int)
    step = total // n
    start = int(rng.integers(0, step))
    return start + step * np.arange(n)


def allocate_largest_remainder(sizes: np.ndarray, n: int) -> np.ndarray:
    """Split `n` across groups in proportion to `sizes`, rounding so the counts sum to `n`.

    Each group first gets the floor of its exact quota; the rows left go one each to the groups
    with the largest fractional remainders (ties to the larger group, then the first), which
    keeps every count within one of its exact quota.
    """
    quotas = n * sizes / sizes.sum()
    counts = np.floor(quotas).astype(int)
    left = n - int(counts.sum())
    order = np.lexsort((np.arange(len(sizes)), -sizes, -(quotas - counts)))
    counts[order[:left]] += 1
    return np.minimum(counts, sizes)


def select_stratified_positions(
    strata: pd.DataFrame, n: int, rng: np.random.Generator
) -> np.ndarray:
    """Random positions within each stratum, in the counts `allocate_largest_remainder` gives."""
    group_ids = strata.groupby(list(strata.columns), dropna=False, sort=True).ngroup().to_numpy()
    sizes = np.bincount(group_ids)
    counts = allocate_largest_remainder(sizes, n)
    chosen = [
        rng.choice(np.flatnonzero(group_ids == group), size=count, replace=False)
        for group, count in enumerate(counts)
        if count > 0
    ]
    return np.concatenate(chosen) if chosen else np.empty(0, dtype=int)


def limit_rows(
    frame: pd.DataFrame,
    settings: SamplingSettings,
    target: str | None = None,
    seed: int = 0,
    regression: bool = False,
) -> pd.DataFrame:
    """The frame itself when under `settings.max_rows`, else a sample drawn as the settings say.

    Stratifying by default uses the target; a regression target is cut into ten quantile bins
    first, so the sample keeps the spread of the target rather than its exact values.
    """
    if settings.max_rows is None or len(frame) <= settings.max_rows:
        return frame
    if settings.strategy != "stratified":
        return sample_rows(frame, settings.max_rows, settings.strategy, seed)
    columns = settings.stratify_columns or ([target] if target else None)
    if columns is None:
        raise ValueError("stratified sampling needs stratify_columns or a target")
    strata = frame[columns].copy()
    if regression and target in columns:
        strata[target] = pd.qcut(
            pd.to_numeric(strata[target], errors="coerce"), 10, labels=False, duplicates="drop"
        )
    positions = select_stratified_positions(strata, settings.max_rows, np.random.default_rng(seed))
    return frame.iloc[np.sort(positions)].copy()
