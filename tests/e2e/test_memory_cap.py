"""Larger than memory, measured: a Parquet file whose frame would not fit under an address-space
cap is sampled, fitted with partial_fit and scored chunk by chunk under that cap, while reading
the same file whole under the same cap fails with MemoryError.

Each run is a subprocess that first warms up (imports, one streamed fit of a small file), then
measures its own address space and caps it at that baseline plus `HEADROOM_MB` with
`resource.setrlimit(RLIMIT_AS, ...)`, so the cap bounds what the work itself may allocate.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
HEADROOM_MB = 150
N_FEATURES = 12
ROWS_PER_GROUP = 100_000
N_GROUPS = 24  # 2.4M rows x 13 float64 columns: ~250 MB as a frame, ~2x that while converting
CHUNK_ROWS = 50_000
SINGLE_THREADED = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "MALLOC_ARENA_MAX": "2",
    "ARROW_DEFAULT_MEMORY_POOL": "system",
}

pytestmark = pytest.mark.slow


def write_linear_parquet(path: Path, groups: int, seed: int = 0) -> None:
    """A binary task with a known linear truth, written one row group at a time (never whole)."""
    rng = np.random.default_rng(seed)
    weights = np.linspace(-1.5, 1.5, N_FEATURES)
    names = [f"x{i}" for i in range(N_FEATURES)]
    writer = None
    for _ in range(groups):
        x = rng.normal(size=(ROWS_PER_GROUP, N_FEATURES))
        logits = x @ weights + rng.logistic(size=ROWS_PER_GROUP)
        columns = {name: x[:, i] for i, name in enumerate(names)}
        columns["y"] = (logits > 0).astype(np.float64)
        table = pa.table(columns)
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=ROWS_PER_GROUP)
    assert writer is not None
    writer.close()


def write_streaming_card(folder: Path, data: Path) -> Path:
    card = {
        "name": "memory_cap",
        "path": str(data),
        "format": "parquet",
        "target": "y",
        "task": "binary",
        "positive_label": 1.0,
        "model_name": "memory-cap",
        "numeric_columns": [f"x{i}" for i in range(N_FEATURES)],
        "categorical_columns": [],
        "metric": "roc_auc",
        "search": {"budget": 2, "families": {"sgd": {}}},
        "requirements": {
            "larger_than_memory": True,
            "streaming": {"chunk_rows": CHUNK_ROWS, "epochs": 2, "test_prediction_rows": 20_000},
        },
        "data_checks": {"sampling": {"max_rows": 20_000}},
    }
    path = folder / f"{data.stem}.yaml"
    path.write_text(yaml.safe_dump(card, sort_keys=False))
    return path


def address_space_mb() -> tuple[float, float]:
    """This process's address space now and at its peak (VmSize, VmPeak), in MB."""
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return (int(status["VmSize"].split()[0]) / 1024, int(status["VmPeak"].split()[0]) / 1024)


def stream_and_fit(card_path: str) -> dict[str, float]:
    """The streamed path: sample, features on the sample, partial_fit, chunked test scoring."""
    from sklearn.metrics import roc_auc_score

    from mleng.card import load_card
    from mleng.data.chunks import iterate_side, list_blocks, sample_stream, shuffle_blocks
    from mleng.data.loading import infer_feature_columns
    from mleng.data.split import split_dataset
    from mleng.training.cv import build_pipeline
    from mleng.training.incremental import (
        IncrementalPlan,
        PredictionReservoir,
        fit_incremental,
        predict_chunks,
    )

    card = load_card(card_path)
    sample = sample_stream(card, seed=0)
    columns = infer_feature_columns(sample.frame, card)
    split = split_dataset(sample.frame, card, columns)
    kept, blocks = list(sample.frame.columns), list_blocks(card)
    pipeline = build_pipeline(card, columns, "sgd", {"alpha": 1e-4}, 0)
    plan = IncrementalPlan("y", np.array([0.0, 1.0]), None, card.requirements.streaming.epochs)
    fit = fit_incremental(
        pipeline, split.train_x, split.train_y,
        lambda epoch: iterate_side(card, "train", kept, shuffle_blocks(blocks, 0, epoch)), plan,
    )  # fmt: skip
    reservoir = predict_chunks(
        fit.pipeline, iterate_side(card, "test", kept), columns.all, "y",
        PredictionReservoir(card.requirements.streaming.test_prediction_rows, 0),
    )  # fmt: skip
    positive = list(reservoir.classes).index(1.0)
    return {
        "rows": sample.counts.total_rows,
        "sampled": len(sample.frame),
        "trained_rows": fit.rows_per_epoch,
        "test_rows": reservoir.seen,
        "roc_auc": float(roc_auc_score(reservoir.truth == 1.0, reservoir.proba[:, positive])),
    }


def read_whole(card_path: str) -> dict[str, float]:
    """The in-memory path: the file read as one frame."""
    from mleng.card import load_card
    from mleng.data.sources import read_source

    frame = read_source(load_card(card_path))
    return {"rows": len(frame), "frame_mb": frame.memory_usage().sum() / 2**20}


def main() -> None:
    """Child entry point: `mode card warm_card headroom_mb`; prints one JSON line."""
    mode, card_path, warm_card, headroom = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    stream_and_fit(warm_card)  # warm-up: every import and allocator the work will use
    read_whole(warm_card)
    baseline, _ = address_space_mb()
    cap = int((baseline + float(headroom)) * 2**20)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    started = time.perf_counter()
    answer: dict[str, object] = {"baseline_mb": baseline, "cap_mb": cap / 2**20}
    try:
        answer |= (stream_and_fit if mode == "stream" else read_whole)(card_path)
    except MemoryError as error:
        answer["memory_error"] = type(error).__name__
    answer["seconds"] = time.perf_counter() - started
    answer["peak_mb"] = address_space_mb()[1]
    print(json.dumps(answer))


def run_capped(mode: str, card: Path, warm: Path) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", "from tests.e2e.test_memory_cap import main; main()",
         mode, str(card), str(warm), str(HEADROOM_MB)],
        cwd=ROOT, env=os.environ | SINGLE_THREADED, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("memory_cap")
    large, small = folder / "large.parquet", folder / "small.parquet"
    write_linear_parquet(large, N_GROUPS)
    write_linear_parquet(small, 1, seed=1)
    return write_streaming_card(folder, large), write_streaming_card(folder, small)


def test_streamed_fit_completes_under_a_cap_the_whole_file_exceeds(files):
    card, warm = files
    frame_mb = N_GROUPS * ROWS_PER_GROUP * (N_FEATURES + 1) * 8 / 2**20
    assert frame_mb > 1.5 * HEADROOM_MB  # the frame alone would not fit in the headroom

    whole = run_capped("whole", card, warm)
    assert whole.get("memory_error"), whole  # reading the file whole under the cap fails

    streamed = run_capped("stream", card, warm)
    print(f"\nframe {frame_mb:.0f} MB; whole read: {whole}; streamed: {streamed}")
    assert "memory_error" not in streamed, streamed
    assert streamed["rows"] == N_GROUPS * ROWS_PER_GROUP
    assert streamed["sampled"] == 20_000
    assert streamed["trained_rows"] + streamed["test_rows"] == streamed["rows"]
    assert streamed["roc_auc"] > 0.9  # the known linear truth is learnt
    assert streamed["peak_mb"] <= streamed["cap_mb"] + 1
