"""Draw bootstrap resamples as weight matrices, in chunks that keep memory bounded."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from mleng.evaluation.tables import MetricTable
from mleng.evaluation.weighted import evaluate_weights

CHUNK_ELEMENTS = 2_000_000  # weights per chunk; the AUC pass keeps ~6 such float arrays alive
JACKKNIFE_GROUPS = 500


def chunk_sizes(total: int, per_item: int) -> Iterator[int]:
    """Chunk lengths adding up to `total`, each holding about CHUNK_ELEMENTS values."""
    size = max(1, CHUNK_ELEMENTS // max(per_item, 1))
    for start in range(0, total, size):
        yield min(size, total - start)


def weights_from_indices(
    indices: np.ndarray, n_groups: int, inverse: np.ndarray | None = None
) -> np.ndarray:
    """How often each table row is drawn per resample, from resampled row indices (resamples, n).

    `inverse` maps test rows to table rows; without it the indices already address table rows.
    """
    size = indices.shape[0]
    rows = indices if inverse is None else inverse[indices]
    flat = (rows + (np.arange(size, dtype=np.int64) * n_groups)[:, None]).ravel()
    return np.bincount(flat, minlength=size * n_groups).reshape(size, n_groups).astype(np.float64)


def draw_weights(rng: np.random.Generator, table: MetricTable, size: int) -> np.ndarray:
    """`size` resamples of the test rows with replacement, as counts per table row.

    Grouped tables draw each group's count from the multinomial that row resampling induces;
    ungrouped ones draw row indices, which is faster when nothing repeats.
    """
    n = table.n_rows
    if table.is_grouped:
        return rng.multinomial(n, table.counts / n, size=size).astype(np.float64)
    # Uniform indices stay uniform under the table's row permutation, so no mapping is needed.
    indices = rng.integers(0, n, size=(size, n))
    return weights_from_indices(indices, n)


def bootstrap_distributions(
    tables: list[MetricTable], n_resamples: int, seed: int
) -> list[dict[str, np.ndarray]]:
    """Each table's metrics on the same `n_resamples` resamples (tables share rows and grouping)."""
    rng = np.random.default_rng(seed)
    shared = tables[0]
    if any(not np.array_equal(table.inverse, shared.inverse) for table in tables[1:]):
        raise ValueError(
            "tables resampled together must share rows; align them with compress_tables"
        )
    per_resample = len(shared.counts) if shared.is_grouped else shared.n_rows
    parts: list[dict[str, list[np.ndarray]]] = [{} for _ in tables]
    for size in chunk_sizes(n_resamples, per_resample):
        weights = draw_weights(rng, shared, size)
        for part, table in zip(parts, tables, strict=True):
            for name, values in evaluate_weights(table, weights).items():
                part.setdefault(name, []).append(values)
    return [{name: np.concatenate(chunks) for name, chunks in part.items()} for part in parts]


def jackknife_distribution(
    table: MetricTable, seed: int, n_groups: int = JACKKNIFE_GROUPS
) -> dict[str, np.ndarray]:
    """Metrics with each of up to `n_groups` random blocks of test rows left out.

    With n rows or fewer this is the ordinary delete-one jackknife. Beyond that it is the
    delete-a-group jackknife: the blocks' influence sums add cumulants like single rows do, so
    the BCa acceleration it yields estimates the same quantity at a cost that does not grow
    with n squared.
    """
    n, n_table_rows = table.n_rows, len(table.counts)
    block_size = -(-n // min(n, n_groups))  # ceiling division: equal blocks but the last
    blocks = -(-n // block_size)
    shuffled = np.arange(n) if block_size == 1 else np.random.default_rng(seed).permutation(n)
    counts = table.counts.astype(np.float64)
    parts: dict[str, list[np.ndarray]] = {}
    first = 0
    for size in chunk_sizes(blocks, n_table_rows):
        rows = shuffled[
            first * block_size : (first + size) * block_size
        ]  # blocks first..first+size-1
        block = np.arange(len(rows)) // block_size
        left_out = np.bincount(
            block * n_table_rows + table.inverse[rows], minlength=size * n_table_rows
        ).reshape(size, n_table_rows)
        for name, values in evaluate_weights(table, counts[None, :] - left_out).items():
            parts.setdefault(name, []).append(values)
        first += size
    return {name: np.concatenate(chunks) for name, chunks in parts.items()}
