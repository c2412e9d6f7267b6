"""Larger-than-memory data: the card's files read chunk by chunk, and a seeded sample drawn while
streaming.

A chunk is a Parquet record batch (within one row group) or a CSV chunk (pandas `chunksize`), of
one file or of each of the card's partitions in name order, typed as `read_source` types the
whole file (a column entirely missing in a chunk takes the type the first chunk gave it).

The sample is a bottom-k sample by row key: every row gets a priority that is a pure function of
its key and the seed, and each stratum (the target's class, or the card's stratify columns) keeps
its rows of smallest priority, in the stratum's share of the cap. So the sample depends on the
data and the seed only, never on the chunk size, and the rows' train/test sides are the same
`assign_test_side` gives in memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from mleng.card import DatasetCard
from mleng.card.sampling import DEFAULT_STREAM_SAMPLE_ROWS
from mleng.data.loading import normalize_target
from mleng.data.sampling import allocate_largest_remainder
from mleng.data.sources import (
    combine_partitions,
    data_label,
    list_partitions,
    reader_errors,
    source_kind,
)
from mleng.data.split import assign_test_side, compute_row_keys
from mleng.errors import DataError

MISSING_STRATUM = "\x00<missing>"
PRIORITY_COLUMN = "_mleng_priority"
# The key a sample frame's `attrs` carries its statement under ("a sample of N of M rows").
SAMPLE_ATTR = "mleng.sample"


@dataclass(frozen=True)
class Block:
    """The unit a pass can visit in any order: a Parquet row group, or a whole CSV file (a CSV
    cannot be entered in the middle)."""

    path: Path
    row_group: int | None = None


def check_streamable(card: DatasetCard) -> None:
    """Refuse, before reading, what a chunked read cannot do honestly; name the fix."""
    problems = []
    if source_kind(card) == "sql":
        problems.append("a sql source is read whole: export it to Parquet or CSV partitions")
    if card.timestamp_column:
        problems.append(
            "a time split needs every row's time first: remove timestamp_column (rows are then "
            "split by their keys)"
        )
    if card.features.windows is not None:
        problems.append("windows over a series need the whole series: remove features.windows")
    if problems:
        raise DataError(
            f"Card {card.name} sets requirements.larger_than_memory, but {'; '.join(problems)}; "
            "or set larger_than_memory: false"
        )


def list_blocks(card: DatasetCard) -> list[Block]:
    """Every Parquet row group of every partition, or every CSV partition, in reading order."""
    blocks = []
    for path in list_partitions(card):
        if not path.exists():
            raise DataError(
                f"Data file {path} does not exist; fix 'path' in the dataset card "
                "(relative paths resolve against the card's folder)"
            )
        if card.format == "parquet":
            with reader_errors(path, card.format):
                groups = pq.ParquetFile(path).num_row_groups
            blocks += [Block(path, group) for group in range(groups)]
        else:
            blocks.append(Block(path))
    return blocks


def read_block(block: Block, file_format: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """A block's rows, `chunk_rows` at a time."""
    with reader_errors(block.path, file_format):
        if file_format == "parquet":
            parquet = pq.ParquetFile(block.path)
            groups = [block.row_group] if block.row_group is not None else None
            for batch in parquet.iter_batches(batch_size=chunk_rows, row_groups=groups):
                yield batch.to_pandas()
            return
        with pd.read_csv(block.path, chunksize=chunk_rows) as reader:
            yield from reader


def align_chunk(chunk: pd.DataFrame, schema: pd.DataFrame, path: Path, first: Path) -> pd.DataFrame:
    """The chunk in the schema's column order; a column entirely missing in the chunk takes the
    schema's type, so a CSV chunk of empty cells does not turn a text column into numbers."""
    if list(chunk.columns) != list(schema.columns):
        # the partition check of the in-memory path, with its message naming both files
        combine_partitions([first, path], [schema, chunk.iloc[:0]])
        chunk = chunk[list(schema.columns)]
    for column, dtype in schema.dtypes.items():
        if chunk[column].dtype != dtype and chunk[column].isna().all():
            chunk[column] = chunk[column].astype(dtype)
    return chunk


def iterate_chunks(
    card: DatasetCard, chunk_rows: int, blocks: list[Block] | None = None
) -> Iterator[pd.DataFrame]:
    """The card's rows chunk by chunk, over `blocks` in the order given (all, in reading order,
    by default); each chunk is indexed by its rows' positions within its block."""
    check_streamable(card)
    every = list_blocks(card)
    if not every:
        raise DataError(f"{data_label(card)} has no rows to read; supply data rows")
    schema = read_schema(card, every[0], chunk_rows)
    check_declared_columns(card, schema)
    for block in every if blocks is None else blocks:
        offset = 0
        for chunk in read_block(block, card.format, chunk_rows):
            chunk = align_chunk(chunk, schema, block.path, every[0].path)
            chunk.index = pd.RangeIndex(offset, offset + len(chunk))
            offset += len(chunk)
            yield chunk


def check_declared_columns(card: DatasetCard, schema: pd.DataFrame) -> None:
    """The columns the card names must be in the data, as `load_dataset` checks in memory."""
    declared = [
        card.target,
        *card.id_columns,
        *(card.numeric_columns or []),
        *(card.categorical_columns or []),
        *(card.text_columns or []),
    ]
    missing = [column for column in dict.fromkeys(declared) if column not in schema.columns]
    if missing:
        raise DataError(
            f"{data_label(card)} lacks columns {missing} named in the card; its columns are "
            f"{list(schema.columns)[:30]}. Fix the card or the data"
        )


def read_schema(card: DatasetCard, first: Block, chunk_rows: int) -> pd.DataFrame:
    """The first chunk's columns and types, with no rows: every later chunk is aligned to it."""
    for chunk in read_block(first, card.format, chunk_rows):
        return chunk.iloc[:0]
    with reader_errors(first.path, card.format):
        if card.format == "parquet":
            return pq.ParquetFile(first.path).schema_arrow.empty_table().to_pandas()
        return pd.read_csv(first.path, nrows=0)


# ---------------------------------------------------------------------------------------------
# The sample


def mix_keys(keys: np.ndarray, seed: int) -> np.ndarray:
    """A uniform 64-bit priority per row (splitmix64 of the key and the seed): a pure function of
    both, so a row's chance to be sampled does not depend on where it sits in the file."""
    with np.errstate(over="ignore"):
        mixed = keys.astype(np.uint64) ^ np.uint64((seed * 0x9E3779B97F4A7C15) % 2**64)
        mixed = (mixed ^ (mixed >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        mixed = (mixed ^ (mixed >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return mixed ^ (mixed >> np.uint64(31))


def sample_cap(card: DatasetCard) -> int:
    """The sample's size limit: `data_checks.sampling.max_rows`, else the streaming default."""
    return card.data_checks.sampling.max_rows or DEFAULT_STREAM_SAMPLE_ROWS


def stratum_columns(card: DatasetCard) -> list[str]:
    """The columns whose groups keep their proportions: the card's stratify columns, the target
    of a classifier, or none (one stratum) for a regression or non-stratified sampling."""
    settings = card.data_checks.sampling
    if settings.strategy != "stratified":
        return []
    if settings.stratify_columns:
        return list(settings.stratify_columns)
    return [] if card.task == "regression" else [card.target]


@dataclass
class StreamCounts:
    """What one pass over the data counted: rows, labelled rows per side, classes, a digest."""

    total_rows: int = 0
    labelled_rows: int = 0
    train_rows: int = 0
    test_rows: int = 0
    chunks: int = 0
    class_counts: dict[object, int] = field(default_factory=dict)
    train_class_counts: dict[object, int] = field(default_factory=dict)
    key_sum: int = 0
    key_xor: int = 0

    def add(self, chunk: pd.DataFrame, keys: np.ndarray, card: DatasetCard) -> None:
        labelled = chunk[card.target].notna().to_numpy()
        is_test = assign_test_side(keys[labelled], card.test_size)
        self.total_rows += len(chunk)
        self.labelled_rows += int(labelled.sum())
        self.test_rows += int(is_test.sum())
        self.train_rows += int((~is_test).sum())
        self.chunks += 1
        if card.task != "regression":
            labels = chunk.loc[labelled, card.target]
            add_counts(self.class_counts, labels)
            add_counts(self.train_class_counts, labels[~is_test])
        mixed = mix_keys(keys, 0)
        self.key_sum = (self.key_sum + int(mixed.sum(dtype=np.uint64))) % 2**64
        self.key_xor ^= int(np.bitwise_xor.reduce(mixed)) if len(mixed) else 0

    @property
    def digest(self) -> str:
        """A digest of the set of row keys, computed without holding them: the same rows give the
        same digest in any order and chunking; any added, removed or changed row changes it."""
        text = f"{self.total_rows}:{self.key_sum:016x}:{self.key_xor:016x}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def add_counts(counts: dict[object, int], labels: pd.Series) -> None:
    """Add each label's count in `labels` to `counts`."""
    for label, count in labels.value_counts().items():
        counts[label] = counts.get(label, 0) + int(count)


@dataclass(frozen=True)
class StreamSample:
    """The sample the checks, the suite and the search see, and the counts of the whole data."""

    frame: pd.DataFrame
    counts: StreamCounts
    cap: int
    strata: list[str]

    @property
    def statement(self) -> str:
        """`on a sample of N of M rows`, the phrase every report of a streamed run carries."""
        return f"on a sample of {len(self.frame):,} of {self.counts.total_rows:,} rows"

    def describe(self) -> str:
        """The statement, with how the sample was drawn."""
        how = f"stratified by {', '.join(self.strata)}" if self.strata else "not stratified"
        return (
            f"{self.statement} (seeded bottom-k by row key, {how}, cap {self.cap:,}; "
            f"{self.counts.chunks} chunks read; {self.counts.train_rows:,} training and "
            f"{self.counts.test_rows:,} test rows in the whole data)"
        )


def stratum_labels(chunk: pd.DataFrame, columns: list[str]) -> pd.Series:
    """Each row's stratum as text (missing values form a stratum of their own)."""
    if not columns:
        return pd.Series("all", index=chunk.index)
    parts = [chunk[c].astype("string").fillna(MISSING_STRATUM) for c in columns]
    label = parts[0]
    for part in parts[1:]:
        label = label + "\x1f" + part
    return label


def sample_stream(card: DatasetCard, seed: int, chunk_rows: int | None = None) -> StreamSample:
    """One pass over the data: count everything, keep a seeded stratified sample of at most
    `sample_cap(card)` rows (each stratum's share by largest remainder), in reading order."""
    chunk_rows = chunk_rows or card.requirements.streaming.chunk_rows
    cap, columns = sample_cap(card), stratum_columns(card)
    counts, kept, stratum_sizes = StreamCounts(), {}, {}
    position = 0
    for chunk in iterate_chunks(card, chunk_rows):
        keys = compute_row_keys(chunk, card)
        counts.add(chunk, keys, card)
        chunk = chunk.set_axis(pd.RangeIndex(position, position + len(chunk)))
        position += len(chunk)
        chunk[PRIORITY_COLUMN] = mix_keys(keys, seed)
        for stratum, rows in chunk.groupby(stratum_labels(chunk, columns), sort=False):
            stratum_sizes[stratum] = stratum_sizes.get(stratum, 0) + len(rows)
            held = kept.get(stratum)
            if held is not None and len(held) >= cap:  # full: only a smaller priority gets in
                rows = rows[rows[PRIORITY_COLUMN] < held[PRIORITY_COLUMN].max()]
            candidates = rows if held is None else pd.concat([held, rows])
            kept[stratum] = keep_smallest(candidates, cap)
    if not kept:
        raise DataError(f"{data_label(card)} has a header but 0 rows; supply data rows")
    names = list(stratum_sizes)
    shares = allocate_largest_remainder(np.array([stratum_sizes[s] for s in names]), cap)
    chosen = [keep_smallest(kept[s], int(n)) for s, n in zip(names, shares, strict=True) if n > 0]
    frame = pd.concat(chosen).sort_index().drop(columns=PRIORITY_COLUMN)
    normalize_target(frame[card.target], card)  # classes, and positive_label as stored
    sample = StreamSample(frame.reset_index(drop=True), counts, cap, columns)
    sample.frame.attrs[SAMPLE_ATTR] = sample.statement
    return sample


def keep_smallest(rows: pd.DataFrame, n: int) -> pd.DataFrame:
    """The `n` rows of smallest priority (ties by position), so the choice is chunking-free."""
    if len(rows) <= n:
        return rows
    order = np.lexsort((rows.index.to_numpy(), rows[PRIORITY_COLUMN].to_numpy()))
    return rows.iloc[np.sort(order[:n])]


# ---------------------------------------------------------------------------------------------
# Split chunks


@dataclass(frozen=True)
class SideChunk:
    """One chunk's labelled rows of one side of the split, with their row keys."""

    rows: pd.DataFrame
    keys: np.ndarray


def iterate_side(
    card: DatasetCard, side: str, columns: list[str], blocks: list[Block] | None = None
) -> Iterator[SideChunk]:
    """The labelled rows of one side (`train` or `test`) chunk by chunk: each row's side is
    `assign_test_side` of its key over `columns` (the frame's columns after the data checks),
    exactly as `split_dataset` assigns it in memory."""
    if side not in ("train", "test"):
        raise ValueError(f"side must be 'train' or 'test', got {side!r}")
    for chunk in iterate_chunks(card, card.requirements.streaming.chunk_rows, blocks):
        chunk = chunk.loc[chunk[card.target].notna(), columns]
        keys = compute_row_keys(chunk, card)
        is_test = assign_test_side(keys, card.test_size)
        keep = is_test if side == "test" else ~is_test
        if keep.any():
            yield SideChunk(chunk[keep], keys[keep])


def shuffle_blocks(blocks: list[Block], seed: int, epoch: int) -> list[Block]:
    """The blocks in a seeded order for one epoch (different each epoch, the same every run)."""
    order = np.random.default_rng([seed, epoch]).permutation(len(blocks))
    return [blocks[i] for i in order]
