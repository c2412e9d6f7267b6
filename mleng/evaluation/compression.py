"""Group test rows so a resample is a multinomial draw over groups instead of over rows.

Resampling n rows with replacement gives each group of identical rows a Multinomial(n, size/n)
count, so grouping identical rows is exact and makes a million-row bootstrap cheap when scores
repeat. When they do not, scores (or, for tables without scores, the averaged columns) are
binned finely: quantile edges for the dense middle plus even edges, in logit space for
probabilities, for the tails. A binning is accepted only if it moves every ROC AUC by less than
`AUC_TOLERANCE` and leaves less than `WITHIN_SHARE_TOLERANCE` of any averaged column's variance
inside the groups (variance the bootstrap spread would otherwise miss); the coarsest binning
that passes wins. Otherwise, or when rows are few enough to be cheap, rows are resampled one by
one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.special import expit, logit

from mleng.evaluation.tables import MetricTable, permute_rows
from mleng.evaluation.weighted import weighted_roc_auc

ROWS_PER_GROUP = 10  # a multinomial draw per group costs about ten row draws and tallies
ROW_DRAW_BUDGET = 5_000_000  # resamples x rows below which exact row draws take well under a second
BIN_SCHEDULE = (64, 256, 1024)  # coarsest first: fewer groups, faster draws
AUC_TOLERANCE = 1e-4
WITHIN_SHARE_TOLERANCE = 1e-3


@dataclass(frozen=True)
class CompressionReport:
    """How the rows were resampled, and what binning cost in fidelity if it was used."""

    mode: str  # "rows", "exact_groups" or "binned_groups"
    n_rows: int
    n_groups: int
    bins: int | None = None
    auc_shift: float = 0.0  # largest |binned AUC - exact AUC| over the rankings
    within_share: float = 0.0  # largest share of an averaged column's variance inside groups


def compact_codes(key: np.ndarray, size: int) -> tuple[np.ndarray, int]:
    """Renumber a key's values 0..k-1 in sorted order: by counting when dense, by sorting
    otherwise."""
    if size <= 4 * len(key) + 1024:
        present = np.bincount(key, minlength=size) > 0
        return (np.cumsum(present) - 1)[key], int(present.sum())
    uniques, inverse = np.unique(key, return_inverse=True)
    return inverse.reshape(-1), len(uniques)


def combine_codes(columns: list[tuple[np.ndarray, int]], n: int) -> tuple[np.ndarray, int]:
    """One group code per row for the combination of several integer code columns."""
    key, size = np.zeros(n, dtype=np.int64), 1
    for codes, cardinality in columns:
        if size * cardinality >= 2**62:
            key, size = compact_codes(key, size)
        key = key * cardinality + codes
        size *= cardinality
    return compact_codes(key, size)


def value_codes(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Codes of the distinct values of a column."""
    uniques, inverse = np.unique(values, return_inverse=True)
    return inverse.reshape(-1), len(uniques)


def bin_values(values: np.ndarray, order: np.ndarray | None, n_bins: int) -> tuple[np.ndarray, int]:
    """Bin codes of a column given its ascending sort `order` (None: already sorted); ties share
    a bin.

    Edges are the union of `n_bins` quantiles and `n_bins` even steps, in logit space for
    probabilities, so the sparse tails, where log loss varies fastest, stay finely cut.
    """
    n = len(values)

    def at_ranks(ranks: np.ndarray) -> np.ndarray:
        return values[ranks] if order is None else values[order[ranks]]

    quantile_edges = at_ranks(np.linspace(0, n - 1, n_bins + 1).round().astype(np.int64))
    low, high = quantile_edges[0], quantile_edges[-1]
    if low >= 0.0 and high <= 1.0:
        ends = np.clip([low, high], 1e-15, 1 - 1e-15)
        even_edges = expit(np.linspace(*logit(ends), n_bins + 1))
    else:
        even_edges = np.linspace(low, high, n_bins + 1)
    inner = np.unique(np.concatenate([quantile_edges, even_edges]))[1:-1]
    # A row's bin counts the edges at or below its score; walking the sorted scores once and
    # scattering back is several times faster than a binary search per row.
    ordered = values if order is None else values[order]
    crossings = np.bincount(np.searchsorted(ordered, inner, side="left"), minlength=n + 1)
    sorted_codes = np.cumsum(crossings[:n])
    if order is None:
        return sorted_codes, len(inner) + 1
    codes = np.empty(n, dtype=np.int64)
    codes[order] = sorted_codes
    return codes, len(inner) + 1


def key_columns(table: MetricTable) -> list[tuple[np.ndarray, int]]:
    """The table's exact integer keys as (codes, cardinality) pairs."""
    return [(table.keys[:, j], size) for j, size in enumerate(table.key_sizes)]


def binning_columns(table: MetricTable) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """Columns to bin with their sort orders: the ranked scores, or the averaged columns if none.

    A classification table's log loss follows its score, so binning the score suffices; a table
    without scores (log loss alone, regression) is binned on its averaged columns directly.
    """
    if table.rankings:
        return [(table.scores[:, j], ranking.order) for j, ranking in enumerate(table.rankings)]
    return [(table.linear[:, j], np.argsort(table.linear[:, j])) for j in table.continuous]


def regroup(
    table: MetricTable,
    group_of_row: np.ndarray,
    n_groups: int,
    binned_scores: list[np.ndarray] | None,
) -> MetricTable:
    """The table of groups: exact columns from any member, averaged continuous columns, bin
    scores."""
    counts = np.bincount(group_of_row, minlength=n_groups)
    member = np.empty(n_groups, dtype=np.int64)
    member[group_of_row] = np.arange(len(group_of_row))
    linear = table.linear[member].copy()
    for column in table.continuous:
        linear[:, column] = (
            np.bincount(group_of_row, weights=table.linear[:, column], minlength=n_groups) / counts
        )
    if binned_scores is None:
        scores = table.scores[member]
    else:
        scores = np.column_stack([codes[member] for codes in binned_scores]).astype(np.float64)
    return replace(
        table,
        linear=linear,
        keys=table.keys[member],
        scores=scores,
        positives=table.positives[member],
        counts=counts,
        inverse=group_of_row[table.inverse],
    )


def measure_fidelity(rows: MetricTable, groups: MetricTable) -> tuple[float, float]:
    """Largest ROC AUC shift and largest within-group variance share that grouping caused."""
    ones, counts = np.ones((1, rows.n_rows)), groups.counts[None, :].astype(np.float64)
    auc_shift = 0.0
    for exact, binned in zip(rows.rankings, groups.rankings, strict=True):
        before, after = weighted_roc_auc(exact, ones)[0], weighted_roc_auc(binned, counts)[0]
        if not (np.isnan(before) and np.isnan(after)):  # a class absent from the test set
            shift = float(abs(before - after))
            auc_shift = max(auc_shift, np.inf if np.isnan(shift) else shift)
    within_share = 0.0
    for column in rows.continuous:
        values = rows.linear[:, column]
        total = values.var()
        if total > 0:
            within = np.mean((values[rows.inverse] - groups.linear[groups.inverse, column]) ** 2)
            within_share = max(within_share, float(within / total))
    return auc_shift, within_share


def group_exactly(tables: list[MetricTable]) -> tuple[np.ndarray, int] | None:
    """Groups of rows identical in every column, or None when too few rows repeat to pay off."""
    n = tables[0].n_rows
    limit = n // ROWS_PER_GROUP
    columns: list[tuple[np.ndarray, int]] = []
    for table in tables:
        columns += key_columns(table)
        for ranking in table.rankings:
            if len(ranking.starts) > limit:
                return None
            columns.append((ranking.tie_codes, len(ranking.starts)))
    for table in tables:
        for column in table.continuous:
            codes, size = value_codes(table.linear[:, column])
            if size > limit:
                return None
            columns.append((codes, size))
    inverse, n_groups = combine_codes(columns, n)
    return (inverse, n_groups) if n_groups <= limit else None


def align_for_resampling(tables: list[MetricTable]) -> list[MetricTable]:
    """Put every table's rows in the first table's first score order, the same order for all.

    Sorted rows let that score's ROC AUC skip gathering the weight matrix on every chunk, and a
    shared order is what lets tables share one weight matrix.
    """
    if tables[0].scores.shape[1] == 0:
        return tables
    order = np.argsort(tables[0].scores[:, 0], kind="stable")
    return [permute_rows(table, order) for table in tables]


def compress_tables(
    tables: list[MetricTable], n_resamples: int
) -> tuple[list[MetricTable], CompressionReport]:
    """Tables over the same test rows, grouped jointly when that is exact or demonstrably harmless.

    The tables come back aligned: same row (or group) order, counts and inverse, ready to be
    resampled with one weight matrix.
    """
    n = tables[0].n_rows
    if any(table.is_grouped or table.n_rows != n for table in tables):
        raise ValueError("compress_tables expects ungrouped tables over the same test rows")
    exact = group_exactly(tables)
    if exact is not None:
        inverse, n_groups = exact
        grouped = [regroup(table, inverse, n_groups, None) for table in tables]
        return align_for_resampling(grouped), CompressionReport("exact_groups", n, n_groups)
    rows_report = CompressionReport("rows", n, n)
    to_bin = [binning_columns(table) for table in tables]
    if n * n_resamples <= ROW_DRAW_BUDGET or not any(to_bin):
        return align_for_resampling(tables), rows_report
    for n_bins in BIN_SCHEDULE:
        binned = [[bin_values(values, order, n_bins) for values, order in cols] for cols in to_bin]
        codes: list[tuple[np.ndarray, int]] = []
        for table, table_bins in zip(tables, binned, strict=True):
            codes += key_columns(table) + table_bins
        inverse, n_groups = combine_codes(codes, n)
        if n_groups > n // ROWS_PER_GROUP:
            break
        grouped = [
            regroup(table, inverse, n_groups, [c for c, _ in bins] if table.rankings else None)
            for table, bins in zip(tables, binned, strict=True)
        ]
        fidelity = [
            measure_fidelity(table, group) for table, group in zip(tables, grouped, strict=True)
        ]
        auc_shift = max(shift for shift, _ in fidelity)
        within_share = max(share for _, share in fidelity)
        if auc_shift < AUC_TOLERANCE and within_share < WITHIN_SHARE_TOLERANCE:
            report = CompressionReport(
                "binned_groups", n, n_groups, n_bins, auc_shift, within_share
            )
            return align_for_resampling(grouped), report
    return align_for_resampling(tables), rows_report
