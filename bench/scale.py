"""How the whole `train` flow's cost grows with rows: 10k, 30k, 100k, 300k rows x 40 features.

Each size is a seeded resample with noise of the bundled Adult data (bench/scale_data.py), as a
Parquet file with its card and suite in a temporary folder. `mleng train CARD` (the real flow)
runs in a fresh process per size, with its own MLflow sqlite store and PREFECT_HOME, so every
size pays the same start-up (the temporary Prefect server, a new MLflow database).

Measured per size: wall time of the process; peak memory of its process tree (the sum of the
RSS of `mleng train` and its children, polled every 0.2 s: the Prefect server is a child) and
the largest single process (ru_maxrss of the children); and the flow's own seconds per stage,
read back from the run's `stage_seconds_*` metrics. The target (issue 16): 300k rows end to end
within 15 minutes and 4 GB on 2 cores.

Run: python bench/scale.py [--quick] [--rows 10000 30000 ...]; writes bench/results/scale.json
(quick: 10k and 30k, scale_quick.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Self

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from scale_data import write_scale_data

SIZES = (10_000, 30_000, 100_000, 300_000)
QUICK_SIZES = (10_000, 30_000)
TARGET_SECONDS, TARGET_GB = 15 * 60, 4.0
PAGE = os.sysconf("SC_PAGE_SIZE")


def list_tree(root: int) -> list[int]:
    """The process and all its descendants, from /proc (children of every thread)."""
    found, queue = [], [root]
    while queue:
        pid = queue.pop()
        found.append(pid)
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                queue.extend(int(c) for c in (task / "children").read_text().split())
            except OSError:
                continue
    return found


def read_rss(pid: int) -> int:
    """Resident bytes of one process (0 once it is gone)."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


class TreeMemory:
    """Polls the summed RSS of a process tree in a thread and keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.pid, self.interval, self.peak = pid, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, sum(read_rss(p) for p in list_tree(self.pid)))
            self._stop.wait(self.interval)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def read_stage_seconds(tracking_uri: str) -> dict[str, Any]:
    """The parent run's `stage_seconds_*` metrics and a few facts, from the run's own store."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    experiments = client.search_experiments()
    runs = client.search_runs(
        [e.experiment_id for e in experiments],
        filter_string="tags.`mleng.flow` = 'train'",
        max_results=1,
    )
    if not runs:
        return {}
    run = runs[0]
    stages = {
        key.removeprefix("stage_seconds_"): value
        for key, value in run.data.metrics.items()
        if key.startswith("stage_seconds_")
    }
    return {
        "stage_seconds": stages,
        "test_roc_auc": run.data.metrics.get("test_roc_auc"),
        "best_family": run.data.tags.get("search.best_family"),
        "decision": run.data.tags.get("promotion.decision"),
    }


def run_size(rows: int, folder: Path, seed: int) -> dict[str, Any]:
    """Generate one size and train on it in a fresh process; time, memory and stage seconds."""
    started = time.perf_counter()
    data = write_scale_data(rows, folder / str(rows), seed)
    generate_seconds = time.perf_counter() - started
    home = folder / str(rows) / "prefect"
    tracking_uri = f"sqlite:///{folder / str(rows) / 'mlflow.db'}"
    env = os.environ | {
        "PREFECT_HOME": str(home),
        "MLFLOW_TRACKING_URI": tracking_uri,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "OMP_WAIT_POLICY": "PASSIVE",
    }
    command = [str(Path(sys.executable).parent / "mleng"), "train", str(data.card)]
    log_path = folder / str(rows) / "train.log"
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    before, cpu_before = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
    started = time.perf_counter()
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command, cwd=data.card.parent, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        with TreeMemory(process.pid) as memory:
            code = process.wait()
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    largest_kb, cpu = usage.ru_maxrss, usage.ru_utime + usage.ru_stime - cpu_before
    record = {
        "rows": rows,
        "features": len(data.numeric_columns) + len(data.categorical_columns),
        "parquet_mb": round(data.parquet.stat().st_size / 2**20, 1),
        "generate_seconds": round(generate_seconds, 1),
        "wall_seconds": round(wall, 1),
        # CPU seconds of the whole tree: on a shared machine wall time says more about the
        # neighbours; cpu_seconds / 2 is the floor of the wall time on 2 idle cores
        "cpu_seconds": round(cpu, 1),
        "peak_tree_rss_gb": round(memory.peak / 2**30, 3),
        # ru_maxrss of children is the largest child so far; a later, smaller size reads the max
        "largest_process_rss_gb": round(largest_kb / 2**20, 3) if largest_kb > before else None,
        "exit_code": code,
        "log": str(log_path),
    }
    if code != 0:
        record["log_tail"] = log_path.read_text().splitlines()[-30:]
    return record | read_stage_seconds(tracking_uri)


def render(records: list[dict[str, Any]]) -> str:
    """Rows against wall time, peak memory and the stages that grow."""
    stages = ["validate", "data_checks", "search", "refit", "evaluate", "assess", "register"]
    header = ["rows", "wall s", "CPU s", "peak GB", *[f"{s} s" for s in stages], "test AUC"]
    lines = [" | ".join(header), " | ".join("---" for _ in header)]
    for r in records:
        seconds = r.get("stage_seconds", {})
        auc = r.get("test_roc_auc")
        cells = [
            f"{r['rows']:,}", f"{r['wall_seconds']:.0f}",
            f"{r['cpu_seconds']:.0f}" if "cpu_seconds" in r else "-",
            f"{r['peak_tree_rss_gb']:.2f}",
            *[f"{seconds.get(s, float('nan')):.1f}" for s in stages],
            f"{auc:.4f}" if auc is not None else "-",
        ]  # fmt: skip
        lines.append(" | ".join(cells))
    return "\n".join(lines)


def write_results(
    records: list[dict[str, Any]],
    args: argparse.Namespace,
    sizes: list[int],
    load_before: list[float],
) -> Path:
    """The JSON so far (written after every size, so a long run that is stopped keeps them)."""
    done = sorted(records, key=lambda r: r["rows"])
    largest = done[-1]
    verdict = {
        "rows": largest["rows"],
        "within_15_min": largest["wall_seconds"] <= TARGET_SECONDS,
        "within_4_gb": largest["peak_tree_rss_gb"] <= TARGET_GB,
    }
    result = {
        "settings": {"sizes": sizes, "seed": args.seed, "quick": args.quick},
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before": load_before,
        },
        "target": {"seconds": TARGET_SECONDS, "peak_gb": TARGET_GB},
        "verdict": verdict,
        "records": [{k: v for k, v in r.items() if args.keep or k != "log"} for r in done],
    }
    name = "scale.json" if set(sizes) == set(SIZES) else "scale_quick.json"
    out = ROOT / "bench" / "results" / name
    out.write_text(json.dumps(result, indent=2) + "\n")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10k and 30k rows only")
    parser.add_argument("--rows", type=int, nargs="+", help="sizes to run (default: all four)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    sizes = list(args.rows or (QUICK_SIZES if args.quick else SIZES))
    folder = Path(tempfile.mkdtemp(prefix="mleng-scale-"))
    records: list[dict[str, Any]] = []
    load_before = [round(x, 2) for x in os.getloadavg()]
    for rows in sizes:
        record = run_size(rows, folder, args.seed)
        record["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
        records.append(record)
        out = write_results(records, args, sizes, load_before)
        print(
            f"{rows:>7,} rows: {record['wall_seconds']:.0f} s, {record['cpu_seconds']:.0f} CPU s, "
            f"{record['peak_tree_rss_gb']:.2f} GB (exit {record['exit_code']})",
            flush=True,
        )
    print(render(sorted(records, key=lambda r: r["rows"])))
    verdict = json.loads(out.read_text())["verdict"]
    print(f"target (15 min, 4 GB) at {verdict['rows']:,} rows: {verdict}")
    print(f"wrote {out}")
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
