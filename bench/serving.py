"""Benchmark: `mleng serve` against `mlflow models serve`, the same champion, side by side.

One HistGradientBoosting champion (the demo card's features, real Adult rows) is logged and
registered as the train flow registers it (ONNX fast path checked at registration) in a fresh
sqlite store, aliased `champion`, then served by both, as real processes on free loopback ports:

- mleng: `mleng serve --model NAME` (FastAPI on uvicorn, one process; micro-batching, the
  prediction log committed before each answer, the registry polled every second);
- mlflow: `mlflow models serve -m models:/NAME@champion --env-manager local` with its default
  worker count (the process group and the `--workers` it runs are recorded).

Both get the same bodies (`{"dataframe_records": [...]}`, real test rows, a different row in
each request so mleng's prediction cache does not answer them; its cache hits are counted and
reported). Latencies are client side, end to end, over one keep-alive `http.client` connection
per client thread:

- sequential: 1-row requests one after another, after a warm-up; mleng also with one repeated
  row (answered from its cache) and on /health (no work: the floor of client, loopback and
  HTTP stack);
- concurrent: 16 client threads sending 1-row requests, bounded in count and time;
- batches: 100-row requests, sequential.

Server CPU per request (all processes of the server's group, from /proc) is reported beside
the latencies: on a shared machine it is steadier than the wall clock. The load average is
recorded for each run, since client and servers share the machine's cores.

Run: python bench/serving.py [--quick]; writes bench/results/serving.json
(quick: serving_quick.json).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the real-data helpers the service's tests use

import mlflow
import sklearn
from mlflow import MlflowClient

from mleng.tracking import registry
from tests.core.tracking.process_helpers import free_port, running, venv_env
from tests.serving_helpers import (
    NAME,
    adult_split,
    fit_adult_model,
    register_adult_version,
    request_rows,
    serve,
    tracking_store,
)

CONCURRENCY = 16
BATCH_ROWS = 100
TARGETS = {"p50_ms": 2.0, "p99_ms": 5.0, "concurrent_ratio": 10.0}


@dataclass(frozen=True)
class Plan:
    """How much of each run: requests and seconds (whichever ends first)."""

    warmup: int
    sequential: int
    concurrent: int
    batches: int
    seconds: float
    mlflow_seconds: float


FULL = Plan(
    warmup=200, sequential=2000, concurrent=5000, batches=200, seconds=20, mlflow_seconds=20
)
QUICK = Plan(warmup=50, sequential=300, concurrent=1000, batches=30, seconds=5, mlflow_seconds=5)


@dataclass(frozen=True)
class Server:
    """A running server: where to post and which processes to charge CPU to."""

    name: str
    port: int
    path: str
    headers: dict[str, str]
    group: int  # process group id (the server and anything it started)


@dataclass(frozen=True)
class Load:
    """Bodies to send (cycled) and the bounds of one run."""

    bodies: list[bytes]
    rows_per_body: int
    requests: int
    seconds: float
    threads: int = 1


def group_cpu_seconds(group: int) -> float:
    """User + system CPU of every live process in process group `group`."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group:  # fields after the name: state ppid pgrp ...
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def group_commands(group: int) -> list[str]:
    """The command lines of the processes in `group` (to record mlflow's workers)."""
    found = []
    for entry in sorted(os.listdir("/proc"), key=lambda e: int(e) if e.isdigit() else 0):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) != group:
                continue
            command = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        found.append(command.decode(errors="replace").strip())
    return found


def drive(server: Server, load: Load) -> dict[str, Any]:
    """Send `load` with `load.threads` keep-alive clients; latencies and counts."""
    lock = threading.Lock()
    state = {"next": 0}
    latencies: list[float] = []
    failures: list[str] = []
    deadline = time.perf_counter() + load.seconds

    def claim() -> int | None:
        with lock:
            index = state["next"]
            if index >= load.requests or time.perf_counter() > deadline:
                return None
            state["next"] = index + 1
            return index

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        mine: list[float] = []
        while (index := claim()) is not None:
            body = load.bodies[index % len(load.bodies)] if load.bodies else None
            started = time.perf_counter()
            try:
                connection.request(
                    "POST" if body else "GET", server.path, body=body, headers=server.headers
                )
                response = connection.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException) as error:
                failures.append(f"{type(error).__name__}: {error}")
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
                continue
            mine.append(time.perf_counter() - started)
            if response.status != 200:
                failures.append(f"HTTP {response.status}: {payload[:200]!r}")
        connection.close()
        with lock:
            latencies.extend(mine)

    load_before = os.getloadavg()[0]
    cpu_before, client_before = group_cpu_seconds(server.group), time.process_time()
    started = time.perf_counter()
    workers = [threading.Thread(target=client) for _ in range(load.threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    server_cpu = group_cpu_seconds(server.group) - cpu_before
    return summarize(
        np.array(latencies) * 1000,
        {
            "seconds": elapsed,
            "failures": len(failures),
            "failure_examples": sorted(set(failures))[:3],
            "rows_per_request": load.rows_per_body,
            "threads": load.threads,
            "server_cpu_seconds": server_cpu,
            "client_cpu_share": (time.process_time() - client_before) / elapsed,
            "load_average": [load_before, os.getloadavg()[0]],
        },
    )


def summarize(latencies_ms: np.ndarray, facts: dict[str, Any]) -> dict[str, Any]:
    """Percentiles, throughput and CPU per request of one run."""
    answered = len(latencies_ms)
    seconds = facts["seconds"]
    out = {"requests": answered + facts["failures"], "answered": answered, **facts}
    if answered:
        p50, p90, p99 = np.percentile(latencies_ms, [50, 90, 99])
        out |= {
            "p50_ms": float(p50),
            "p90_ms": float(p90),
            "p99_ms": float(p99),
            "mean_ms": float(latencies_ms.mean()),
            "max_ms": float(latencies_ms.max()),
        }
    out["requests_per_s"] = answered / seconds
    out["rows_per_s"] = answered * facts["rows_per_request"] / seconds
    out["server_cpu_ms_per_request"] = 1000 * facts["server_cpu_seconds"] / max(answered, 1)
    return out


def bodies_of(rows: list[dict[str, Any]], per_body: int) -> list[bytes]:
    """`{"dataframe_records": [...]}` bodies of `per_body` consecutive rows each."""
    return [
        json.dumps({"dataframe_records": rows[start : start + per_body]}).encode()
        for start in range(0, len(rows) - per_body + 1, per_body)
    ]


def http_json(url: str, body: bytes | None = None, headers: dict | None = None) -> Any:
    request = urllib.request.Request(url, data=body, headers=headers or {})
    with urllib.request.urlopen(request, timeout=60) as response:
        payload = response.read()
    return json.loads(payload) if payload.startswith((b"{", b"[")) else payload.decode()


def mleng_counters(service: Any) -> dict[str, float]:
    """Cache hits (Prometheus counter) and the micro-batcher's counts."""
    headers = {"Authorization": f"Bearer {service.keys['admin']}"}
    text = http_json(f"{service.url}/metrics", headers=headers)
    hits = sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("mleng_cache_hits_total")
    )
    status = http_json(f"{service.url}/admin/status", headers=headers)
    return {"cache_hits": hits, "batches": status["batches"], "jobs": status["batched_requests"]}


def run_mleng(service: Any, split_rows: dict[str, list[dict]], plan: Plan) -> dict[str, Any]:
    """Every mleng run, each on its own rows; cache hits and batches counted per run."""
    port = int(service.url.rsplit(":", 1)[1])
    headers = {
        "Authorization": f"Bearer {service.keys['predict']}",
        "Content-Type": "application/json",
    }
    server = Server("mleng", port, "/predict", headers, service.process.pid)
    health = Server("mleng /health", port, "/health", {}, service.process.pid)
    one = split_rows["one"]
    warm = Load(bodies_of(one[: plan.warmup], 1), 1, plan.warmup, plan.seconds)
    drive(server, warm)
    loads = {
        "sequential": (
            server,
            Load(bodies_of(split_rows["sequential"], 1), 1, plan.sequential, 60),
        ),
        "sequential_cached": (server, Load(bodies_of(one[:1], 1), 1, plan.sequential, 60)),
        "sequential_health": (health, Load([], 1, plan.sequential, 60)),
        "concurrent": (
            server,
            Load(
                bodies_of(split_rows["concurrent"], 1),
                1,
                plan.concurrent,
                plan.seconds,
                CONCURRENCY,
            ),
        ),
        "batches": (
            server,
            Load(bodies_of(split_rows["batches"], BATCH_ROWS), BATCH_ROWS, plan.batches, 60),
        ),
    }
    results = {}
    for kind, (target, load) in loads.items():
        before = mleng_counters(service)
        results[kind] = drive(target, load)
        after = mleng_counters(service)
        results[kind] |= {key: after[key] - before[key] for key in after}
        print(f"  mleng {kind}: {short(results[kind])}", flush=True)
    return results


def run_mlflow(port: int, group: int, split_rows: dict[str, list[dict]], plan: Plan) -> dict:
    """mlflow's runs: the same bodies, bounded by `plan.mlflow_seconds` where slower."""
    server = Server("mlflow", port, "/invocations", {"Content-Type": "application/json"}, group)
    seconds = plan.mlflow_seconds
    drive(server, Load(bodies_of(split_rows["one"][: plan.warmup], 1), 1, plan.warmup, seconds))
    concurrent = bodies_of(split_rows["concurrent"], 1)
    loads = {
        "sequential": Load(bodies_of(split_rows["sequential"], 1), 1, plan.sequential, seconds),
        "concurrent": Load(concurrent, 1, plan.concurrent, seconds, CONCURRENCY),
        "batches": Load(
            bodies_of(split_rows["batches"], BATCH_ROWS), BATCH_ROWS, plan.batches, seconds
        ),
    }
    results = {}
    for kind, load in loads.items():
        results[kind] = drive(server, load)
        print(f"  mlflow {kind}: {short(results[kind])}", flush=True)
    return results


def short(run: dict[str, Any]) -> str:
    return (
        f"{run['answered']} answered, {run['failures']} failed, p50 {run.get('p50_ms', 0):.2f} "
        f"ms, p99 {run.get('p99_ms', 0):.2f} ms, {run['rows_per_s']:.0f} rows/s"
    )


def compare_answers(service: Any, mlflow_port: int, rows: list[dict]) -> dict[str, Any]:
    """Both servers on the same rows: labels equal? largest probability difference?"""
    body = json.dumps({"dataframe_records": rows}).encode()
    ours = http_json(
        f"{service.url}/predict",
        body,
        {"Authorization": f"Bearer {service.keys['predict']}", "Content-Type": "application/json"},
    )
    theirs = http_json(
        f"http://127.0.0.1:{mlflow_port}/invocations", body, {"Content-Type": "application/json"}
    )["predictions"]
    labels = [row["prediction"] for row in theirs]
    gap = max(
        abs(mine[label] - row[f"probability_{label}"])
        for mine, row in zip(ours["probabilities"], theirs, strict=True)
        for label in mine
    )
    return {
        "rows": len(rows),
        "labels_equal": labels == ours["predictions"],
        "max_probability_difference": gap,
    }


def prepare(folder: Path) -> tuple[str, dict[str, list[dict]], dict[str, Any]]:
    """The store with the registered champion, and disjoint request rows for each run."""
    uri = tracking_store(folder)
    split = adult_split(n_train=5000, n_test=35000, seed=11)
    client = MlflowClient()
    model = fit_adult_model(split)
    version = register_adult_version(client, model, split)
    registry.move_champion(client, NAME, version, "serving benchmark")
    tags = client.get_model_version(NAME, version).tags
    rows = request_rows(split, 35000)
    split_rows = {
        "one": rows[:1000],
        "sequential": rows[1000:6000],
        "concurrent": rows[6000:15000],
        "batches": rows[15000:35000],
    }
    facts = {
        "version": version,
        "fast_path_tag": tags.get("mleng.serving.fast_path"),
        "fast_path_reason": tags.get("mleng.serving.fast_path_reason"),
        "train_rows": len(split.train_x),
    }
    return uri, split_rows, facts


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="short runs (about a minute)")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    folder = Path(tempfile.mkdtemp(prefix="mleng-bench-serving-"))
    print(f"store and logs in {folder}", flush=True)
    uri, split_rows, model_facts = prepare(folder)
    mlflow_port = free_port()
    mlflow_args = [
        *("mlflow", "models", "serve", "-m", f"models:/{NAME}@champion"),
        *("--env-manager", "local", "-h", "127.0.0.1", "-p", str(mlflow_port)),
    ]
    env = venv_env(MLFLOW_TRACKING_URI=uri)
    env.pop("MLFLOW_MODELS_WORKERS", None)  # its default worker count
    ping = f"http://127.0.0.1:{mlflow_port}/ping"
    with (
        serve(folder, uri, NAME, "--refresh-seconds", "1.0") as service,
        running(mlflow_args, ping, folder / "mlflow-serve.log", env, timeout=180) as other,
    ):
        headers = {"Authorization": f"Bearer {service.keys['admin']}"}
        status = http_json(f"{service.url}/admin/status", headers=headers)
        model_facts["served_fast_path"] = status["models"]["champion"]["fast_path"]
        agreement = compare_answers(service, mlflow_port, split_rows["one"][:500])
        mlflow_processes = group_commands(other.pid)
        print(f"mleng fast path: {model_facts['served_fast_path']}; agreement: {agreement}")
        print(f"mlflow processes: {mlflow_processes}", flush=True)
        results = {
            "mleng": run_mleng(service, split_rows, plan),
            "mlflow": run_mlflow(mlflow_port, other.pid, split_rows, plan),
        }
    ratio = (
        results["mleng"]["concurrent"]["rows_per_s"] / results["mlflow"]["concurrent"]["rows_per_s"]
    )
    print_tables(results, ratio)
    verdicts = judge(results, ratio)
    for line in verdicts["lines"]:
        print(line)
    output = ROOT / "bench" / "results" / ("serving_quick.json" if args.quick else "serving.json")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(
        json.dumps(
            {
                "settings": {
                    "quick": args.quick,
                    "plan": vars(plan),
                    "concurrency": CONCURRENCY,
                    "batch_rows": BATCH_ROWS,
                    "client": "http.client, one keep-alive connection per thread",
                    "mleng_refresh_seconds": 1.0,
                    "mlflow_processes": mlflow_processes,
                    "mlflow_models_workers_env": os.environ.get("MLFLOW_MODELS_WORKERS"),
                },
                "model": model_facts,
                "agreement": agreement,
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "mlflow": mlflow.__version__,
                    "sklearn": sklearn.__version__,
                },
                "targets": TARGETS,
                "verdicts": verdicts["met"],
                "concurrent_ratio_mleng_over_mlflow": ratio,
                "runs": results,
            },
            indent=2,
        )
    )
    print(f"\nwrote {output.relative_to(ROOT)}")


def print_tables(results: dict[str, dict[str, Any]], ratio: float) -> None:
    """Three tables: sequential 1-row, concurrent 1-row, sequential batches."""
    header = (
        f"{'server':<26}{'requests':>9}{'failed':>7}{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}"
        f"{'rows/s':>10}{'CPU ms/req':>11}{'cache hits':>11}{'load':>6}"
    )
    sections = (
        ("1-row requests, sequential (one keep-alive connection)", "sequential"),
        (f"1-row requests, {CONCURRENCY} client threads", "concurrent"),
        (f"{BATCH_ROWS}-row requests, sequential", "batches"),
    )
    labels = {
        ("mleng", "sequential_cached"): "mleng (cached row)",
        ("mleng", "sequential_health"): "mleng GET /health (floor)",
    }
    for title, kind in sections:
        print(f"\n{title}\n{header}")
        for server, runs in results.items():
            for name, run in runs.items():
                if name != kind and not (kind == "sequential" and name.startswith(kind)):
                    continue
                hits = run.get("cache_hits")
                print(
                    f"{labels.get((server, name), server):<26}{run['requests']:>9}"
                    f"{run['failures']:>7}{run.get('p50_ms', 0):>9.2f}{run.get('p99_ms', 0):>9.2f}"
                    f"{run.get('mean_ms', 0):>9.2f}{run['rows_per_s']:>10.0f}"
                    f"{run['server_cpu_ms_per_request']:>11.2f}"
                    f"{'' if hits is None else f'{hits:.0f}':>11}"
                    f"{max(run['load_average']):>6.1f}"
                )
    print(f"\nrows/s at concurrency {CONCURRENCY}, mleng / mlflow: {ratio:.1f}x")


def judge(results: dict[str, dict[str, Any]], ratio: float) -> dict[str, Any]:
    """The issue's targets, met or not, as measured."""
    sequential = results["mleng"]["sequential"]
    met = {
        "p50_ms": sequential["p50_ms"] <= TARGETS["p50_ms"],
        "p99_ms": sequential["p99_ms"] <= TARGETS["p99_ms"],
        "concurrent_ratio": ratio >= TARGETS["concurrent_ratio"],
    }
    measured = {"p50_ms": sequential["p50_ms"], "p99_ms": sequential["p99_ms"]}
    measured["concurrent_ratio"] = ratio
    lines = [
        f"target {key} {'<=' if key != 'concurrent_ratio' else '>='} {TARGETS[key]:g}: "
        f"measured {measured[key]:.2f}, {'met' if met[key] else 'NOT met'}"
        for key in TARGETS
    ]
    return {"met": met, "lines": lines}


if __name__ == "__main__":
    main()
