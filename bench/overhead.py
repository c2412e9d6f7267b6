"""Orchestration overhead: the `train` flow against a bare script doing the same fits.

The flow (`mleng train configs/adult.yaml`, the demo budget; `--quick`: budget 10) runs in a
fresh process with its own MLflow sqlite store and PREFECT_HOME. Two configurations of it:

- standing (the default, and the one the target is judged on): as users run it after
  `mleng stack up`. A Prefect server (`prefect server start`, its own PREFECT_HOME) is started on a
  free 127.0.0.1 port and answers its health check before the flow starts, and the flow gets its
  PREFECT_API_URL; the MLflow sqlite store is created and migrated beforehand. Neither is timed.
  The server is stopped (its process group) when the flow ends, before the bare script runs; its
  CPU seconds while the flow ran are reported beside the flow's. (The stack's MLflow is a server
  over HTTP; here the flow writes the sqlite store directly.)
- ephemeral (`--ephemeral`): a first run with nothing standing. No PREFECT_API_URL, so the flow
  starts Prefect's temporary server itself, and the flow's MLflow client creates and migrates a
  new sqlite store; both are inside the timed process.

The flow's child runs say which configurations it scored (family, parameters, round, fidelity).
A second fresh process, the bare script, imports neither Prefect nor MLflow and does the same fits
with the same core functions: read the CSV, the same key-based split and search-row sample, every
configuration on the same CV folds (round by round, as many at once and with as many threads
each as the flow's thread runner), the refit of the best on all training rows, the ensemble
selection and member refits, the out-of-fold threshold fits, and test scoring (probabilities,
labels, the metric). Both are timed as wall time of the process.

What the flow does on top is listed per stage (its `stage_seconds_*` metrics against the bare
script's seconds for the same work): start-up and exit (imports, the Prefect client or the
temporary server, opening or creating the MLflow database), validation, data checks, features
report, baselines, the search's task runs and child runs, bootstrap intervals, assessment, gate,
registration with the ONNX export and model card. The target (issue 16): the flow at most 1.10x
the bare script at the demo budget, in the standing configuration.

Run: python bench/overhead.py [--quick] [--ephemeral]; writes bench/results/overhead.json
(quick: overhead_quick.json; ephemeral: overhead_ephemeral.json, overhead_ephemeral_quick.json).
The printed table has a row per configuration: this run's, and the other one's last result file.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the process helpers the tests start real servers with

from tests.core.tracking.process_helpers import VENV_BIN, free_port, running, venv_env

CARD = ROOT / "configs" / "adult.yaml"
TARGET_RATIO = 1.10
TARGET_MODE = "standing"
LOG_STAMP = re.compile(r"^(\d\d:\d\d:\d\d\.\d{3}) \| ")  # a Prefect log line
MODES = {
    "standing": "standing Prefect server, migrated MLflow sqlite store (as after `mleng stack up`)",
    "ephemeral": "temporary Prefect server started by the flow, new MLflow sqlite store",
}


# ---------------------------------------------------------------------------------------------
# The flow


def engine_environment(folder: Path, api_url: str | None) -> dict[str, str]:
    """The flow's environment: its own MLflow sqlite store and PREFECT_HOME in `folder`, the
    project's defaults, and the standing server's `api_url` (None: Prefect's temporary server,
    so any PREFECT_API_URL of the caller's is dropped)."""
    env = os.environ | {
        "PREFECT_HOME": str(folder / "prefect"),
        "MLFLOW_TRACKING_URI": tracking_uri(folder),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "OMP_WAIT_POLICY": "PASSIVE",
    }
    env.pop("PREFECT_API_URL", None)
    return env if api_url is None else env | {"PREFECT_API_URL": api_url}


def tracking_uri(folder: Path) -> str:
    """The MLflow sqlite store of one benchmark run."""
    return f"sqlite:///{folder / 'mlflow.db'}"


@contextlib.contextmanager
def standing_prefect_server(folder: Path) -> Iterator[tuple[str, int]]:
    """A real `prefect server start` on a free 127.0.0.1 port until the block ends, however it
    ends (its process group is stopped by pid); its API URL and pid once it answers its health
    check. Its own PREFECT_HOME (the server database) is in `folder`, as the stack keeps one."""
    port = free_port()
    env = venv_env(
        PREFECT_HOME=str(folder / "prefect-server"), PREFECT_SERVER_ANALYTICS_ENABLED="false"
    )
    env.pop("PREFECT_API_URL", None)  # the server is not a client of another one
    args = [str(VENV_BIN / "prefect"), "server", "start", "--host", "127.0.0.1"]
    args += ["--port", str(port)]
    health = f"http://127.0.0.1:{port}/api/health"
    with running(args, health, folder / "prefect-server.log", env, timeout=180) as server:
        yield f"http://127.0.0.1:{port}/api", server.pid


def migrate_tracking_store(folder: Path) -> float:
    """Create and migrate the MLflow sqlite store in a separate process, so the timed flow opens
    an existing store as it would in production; the seconds the one-off migration took."""
    script = "import sys, mlflow; mlflow.MlflowClient(sys.argv[1]).search_experiments()"
    command = [sys.executable, "-c", script, tracking_uri(folder)]
    started = time.perf_counter()
    done = subprocess.run(
        command, env=engine_environment(folder, None), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"migrating {tracking_uri(folder)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def session_cpu_seconds(session_id: int) -> float | None:
    """User + system CPU seconds so far of every live process in a session (the server runs
    its API in a child process), or None where /proc cannot say (not Linux)."""
    ticks, total = os.sysconf("SC_CLK_TCK"), 0
    try:
        stats = list(Path("/proc").glob("[0-9]*/stat"))
    except OSError:
        return None
    for path in stats:
        try:
            fields = path.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended while we looked
            continue
        if int(fields[3]) == session_id:  # fields after the name: state ppid pgrp session ...
            total += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return total / ticks if stats else None


def children_cpu_seconds() -> float:
    """User + system CPU seconds of every waited-for child process so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_process(
    command: list[str], folder: Path, log_name: str, env: dict[str, str]
) -> tuple[float, float]:
    """Run one command to completion in `folder`; its wall and CPU seconds (raises on failure).

    CPU seconds say more than wall time on a machine shared with other jobs."""
    log_path = folder / log_name
    cpu_before = children_cpu_seconds()
    started = time.perf_counter()
    with log_path.open("w") as log:
        code = subprocess.call(command, cwd=folder, env=env, stdout=log, stderr=log)
    seconds = time.perf_counter() - started
    if code != 0:
        tail = "\n".join(log_path.read_text().splitlines()[-30:])
        raise RuntimeError(f"{' '.join(command)} exited {code}; log {log_path}:\n{tail}")
    return seconds, children_cpu_seconds() - cpu_before


def parse_param(text: str) -> Any:
    """An MLflow parameter string back to the value the search proposed."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"None": None, "True": True, "False": False}.get(text, text)


def read_flow_run(tracking_uri: str) -> dict[str, Any]:
    """The parent run's stage seconds and best trial, and every child run's trial."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    ids = [e.experiment_id for e in client.search_experiments()]
    parent = client.search_runs(ids, filter_string="tags.`mleng.flow` = 'train'")[0]
    children = client.search_runs(
        ids, filter_string=f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'", max_results=5000
    )
    trials = []
    for child in children:
        tags, params = child.data.tags, child.data.params
        if "search.stage" not in tags:
            continue
        name = tags.get("mlflow.runName", "")
        trials.append(
            {
                "family": params["family"],
                "params": {k: parse_param(v) for k, v in params.items() if k != "family"},
                "stage": tags["search.stage"],
                "round": int(tags["search.round"]),
                "index": int(name.split("-")[1]),
                "fidelity": float(tags.get("search.fidelity", "1")),
                "score": child.data.metrics.get(f"cv_{parent.data.params['metric']}_mean"),
            }
        )
    stages = {
        k.removeprefix("stage_seconds_"): v
        for k, v in parent.data.metrics.items()
        if k.startswith("stage_seconds_")
    }
    return {
        "stage_seconds": stages,
        "trials": sorted(trials, key=lambda t: t["index"]),
        "best_trial": parent.data.tags.get("search.best_trial"),
        "ensemble_chosen": parent.data.tags.get("ensemble.chosen"),
        "decision_threshold": parent.data.params.get("decision_threshold"),
        "test_metric": parent.data.metrics.get(f"test_{parent.data.params['metric']}"),
    }


# ---------------------------------------------------------------------------------------------
# The bare script (a separate process: no Prefect, no MLflow)


def plan_trial_workers(workers: int | None, cores: int) -> tuple[int, int]:
    """(trials at once, threads per trial) as the flow's thread runner plans them
    (tasks/runners.py, which imports Prefect): the card's workers or one per core, and the cores
    split between them. Each trial's n_jobs and the OpenMP/BLAS pools are capped at that share;
    without the cap two LightGBM trials each used every core here, 1.4x slower than the flow."""
    workers = workers or cores
    return workers, max(1, cores // workers)


def run_bare(trials_path: Path, out_path: Path, seed: int) -> None:
    """The flow's fits without the flow: the same rows, folds, configurations, refit, ensemble,
    threshold and test scoring; seconds per step to `out_path`."""
    import pandas as pd
    from sklearn.metrics import roc_auc_score
    from threadpoolctl import threadpool_limits

    from mleng.card import load_card
    from mleng.data.loading import infer_feature_columns
    from mleng.data.split import cap_rows, split_dataset
    from mleng.search.engine import Trial, TrialResult
    from mleng.training.cv import FoldSetup, build_pipeline, fit_pipeline
    from mleng.training.ensemble_selection import EnsembleRows, build_final_ensemble
    from mleng.training.estimators import count_threads
    from mleng.training.threshold import (
        attach_threshold,
        resolve_positive_label,
        tune_out_of_fold_threshold,
    )
    from mleng.training.trials import score_trial

    seconds: dict[str, float] = {}
    started = time.perf_counter()
    card = load_card(CARD)
    frame = pd.read_csv(card.path)
    columns = infer_feature_columns(frame, card)
    split = split_dataset(frame, card, columns)
    search_x, search_y = cap_rows(split.train_x, split.train_y, card, seed)
    setup = FoldSetup.for_run(card, columns, seed, None)
    seconds["load_split"] = time.perf_counter() - started

    started = time.perf_counter()
    given = json.loads(trials_path.read_text())
    trials = [Trial(**{k: v for k, v in t.items() if k != "score"}) for t in given]
    results: list[TrialResult] = []
    workers, threads = plan_trial_workers(card.search.runner.workers, count_threads())
    search_setup = dataclasses.replace(setup, threads=threads)
    with ThreadPoolExecutor(workers) as pool, threadpool_limits(threads):
        for round_ in sorted({t.round for t in trials}):
            batch = [t for t in trials if t.round == round_]
            outcomes = pool.map(
                lambda t: score_trial(t, columns, search_x, search_y, search_setup), batch
            )
            results.extend(outcome.result for outcome in outcomes)
    seconds["search"] = time.perf_counter() - started

    started = time.perf_counter()
    full = [r for r in results if r.trial.fidelity >= 1.0 and r.score == r.score]
    best = max(full, key=lambda r: r.score)
    pipeline = build_pipeline(card, columns, best.trial.family, best.trial.params, seed)
    served_setup = FoldSetup.for_run(card, columns, seed, None)
    pipeline = fit_pipeline(pipeline, split.train_x, split.train_y, served_setup)
    seconds["refit_best"] = time.perf_counter() - started

    started = time.perf_counter()
    rows = EnsembleRows(search_x, search_y, setup, split.train_x, split.train_y, served_setup)
    pipeline, choice = build_final_ensemble(columns, full, pipeline, rows)
    seconds["ensemble"] = time.perf_counter() - started

    started = time.perf_counter()
    decision = tune_out_of_fold_threshold(pipeline, split.train_x, split.train_y, served_setup)
    positive = resolve_positive_label(card, split.train_y)
    model = attach_threshold(pipeline, decision, positive, split.train_x, split.train_y)
    seconds["threshold"] = time.perf_counter() - started

    started = time.perf_counter()
    proba = model.predict_proba(split.test_x)[:, list(model.classes_).index(positive)]
    model.predict(split.test_x)
    auc = roc_auc_score(split.test_y == positive, proba)
    seconds["test_scoring"] = time.perf_counter() - started
    out_path.write_text(
        json.dumps(
            {
                "seconds": seconds,
                "best_trial": f"{best.trial.stage}-{best.trial.index:03d}-{best.trial.family}",
                "ensemble_chosen": bool(choice is not None and choice.chosen),
                "decision_threshold": None if decision is None else decision.threshold,
                "test_metric": float(auc),
                "trials": len(trials),
            },
            indent=2,
        )
    )


# ---------------------------------------------------------------------------------------------
# Comparison


def compare(flow: dict[str, Any], bare: dict[str, Any], walls: dict[str, float]) -> dict:
    """The ratio and where the flow's extra time goes, stage by stage."""
    stages, done = flow["stage_seconds"], bare["seconds"]
    in_flow = sum(v for k, v in stages.items() if k != "ensemble")  # ensemble is inside refit
    matched = {
        "load": done["load_split"],
        "search": done["search"],
        "refit": done["refit_best"] + done["ensemble"] + done["threshold"],
        "evaluate": done["test_scoring"],
    }
    extra = {"start_up_and_exit": walls["flow"] - in_flow}
    for stage, value in stages.items():
        if stage == "ensemble":
            continue
        extra[stage] = value - matched.get(stage, 0.0)
    return {
        "flow_seconds": walls["flow"],
        "bare_seconds": walls["bare"],
        "ratio": walls["flow"] / walls["bare"],
        "flow_in_flow_seconds": in_flow,
        "bare_compute_seconds": sum(done.values()),
        "ratio_without_start_up": in_flow / sum(done.values()),
        "extra_seconds_by_stage": {k: round(v, 2) for k, v in extra.items()},
        "bare_seconds_by_step": {k: round(v, 2) for k, v in done.items()},
        "flow_seconds_by_stage": stages,
    }


def result_path(quick: bool, mode: str) -> Path:
    """Where one configuration's result goes: overhead[_ephemeral][_quick].json (.gitignore
    keeps *_quick.json out of the repository)."""
    name = "overhead" + ("" if mode == TARGET_MODE else f"_{mode}") + ("_quick" if quick else "")
    return ROOT / "bench" / "results" / f"{name}.json"


def read_log_span(log_path: Path, started: datetime) -> tuple[datetime, datetime] | None:
    """The times of the first and last Prefect log lines of a process started at `started`
    (Prefect stamps them HH:MM:SS.mmm in local time), or None when it logged none."""
    stamps = []
    for line in log_path.read_text(errors="replace").splitlines():
        match = LOG_STAMP.match(line)
        if match:
            clock = datetime.strptime(match.group(1), "%H:%M:%S.%f").time()
            stamp = datetime.combine(started.date(), clock)
            stamps.append(
                stamp + timedelta(days=1) if stamp < started - timedelta(hours=1) else stamp
            )
    return (stamps[0], stamps[-1]) if stamps else None


def split_start_up(log_path: Path, started: datetime, ended: datetime) -> dict[str, float] | None:
    """Where the flow process's time outside the flow run goes: from the process start to the
    flow run's first log line (imports, the Prefect client or temporary server, the flow run's
    creation) and from its last log line to the exit (the CLI's summary, flushing logs and
    events, stopping a temporary server)."""
    span = read_log_span(log_path, started)
    if span is None:
        return None
    return {
        "process_start_to_first_flow_log": round((span[0] - started).total_seconds(), 1),
        "last_flow_log_to_process_exit": round((ended - span[1]).total_seconds(), 1),
    }


def add_outside_stages(split: dict[str, float] | None, outside: float) -> dict | None:
    """The split of `start_up_and_exit` (the flow's wall time outside its stages) completed with
    what of it falls inside the flow run: opening and closing the MLflow run (in the ephemeral
    mode the new store's migration too), the summary artifacts, task and log calls between
    stages."""
    if split is None:
        return None
    rest = outside - sum(split.values())
    return split | {"flow_run_outside_stages": round(rest, 1)}


def time_flow(command: list[str], folder: Path, mode: str) -> dict[str, Any]:
    """Run the flow once in `mode`; its wall and CPU seconds, where its start-up went, and what
    was prepared untimed.

    Standing: the Prefect server is up and the MLflow store migrated before the clock starts,
    and the server is stopped once the flow has ended (so it does not share the cores with the
    bare script)."""
    if mode == "ephemeral":
        started = datetime.now()
        wall, cpu = run_process(command, folder, "flow.log", engine_environment(folder, None))
        span = split_start_up(folder / "flow.log", started, datetime.now())
        return {"wall": wall, "cpu": cpu, "start_up_split": span}
    clock = time.perf_counter()
    with standing_prefect_server(folder) as (api_url, server_pid):
        server_start = time.perf_counter() - clock
        migration = migrate_tracking_store(folder)
        server_cpu_before = session_cpu_seconds(server_pid)
        started = datetime.now()
        wall, cpu = run_process(command, folder, "flow.log", engine_environment(folder, api_url))
        span = split_start_up(folder / "flow.log", started, datetime.now())
        server_cpu_after = session_cpu_seconds(server_pid)
    server_cpu = None
    if server_cpu_before is not None and server_cpu_after is not None:
        server_cpu = round(server_cpu_after - server_cpu_before, 1)
    return {
        "wall": wall,
        "cpu": cpu,
        "start_up_split": span,
        "untimed_preparation": {
            "prefect_server_start_seconds": round(server_start, 1),
            "mlflow_store_migration_seconds": round(migration, 1),
        },
        "server_cpu_seconds_during_flow": server_cpu,
    }


def time_bare(flow: dict[str, Any], folder: Path, seed: int) -> tuple[dict, float, float]:
    """Run the bare script on the flow's trials; its result, wall and CPU seconds."""
    trials_path, bare_path = folder / "trials.json", folder / "bare.json"
    trials_path.write_text(json.dumps(flow["trials"]))
    command = [sys.executable, str(Path(__file__).resolve()), "--bare", str(trials_path)]
    command += ["--out", str(bare_path), "--seed", str(seed)]
    wall, cpu = run_process(command, folder, "bare.log", engine_environment(folder, None))
    return json.loads(bare_path.read_text()), wall, cpu


def describe_row(result: dict[str, Any]) -> str:
    """One configuration's line of the table: seconds, ratios, whether the target is judged."""
    judged = result.get("mode", "ephemeral") == TARGET_MODE  # older files: the ephemeral flow
    verdict = "holds" if result["within_target"] else "does not hold"
    return (
        f"{result.get('mode', 'ephemeral')} | {result['flow_seconds']:.1f} | "
        f"{result['bare_seconds']:.1f} | {result['ratio']:.2f}x | "
        f"{result['ratio_without_start_up']:.2f}x | {result['cpu_ratio']:.2f}x | "
        f"{result['extra_seconds_by_stage']['start_up_and_exit']:.1f} | "
        f"{verdict if judged else 'not judged'} | {result.get('measured_at', 'earlier')}"
    )


def print_table(result: dict[str, Any], other_path: Path) -> None:
    """This run's configuration and, when its result file exists, the other one's (labelled with
    when it was measured: the two rows need not come from the same moment of a shared machine)."""
    print(f"target <= {TARGET_RATIO}x, judged on the {TARGET_MODE} configuration")
    print("mode | flow s | bare s | ratio | without start-up | CPU ratio | start-up s | "
          "target | measured at")  # fmt: skip
    rows = [result]
    if other_path.exists():
        rows.append(json.loads(other_path.read_text()))
    for row in sorted(rows, key=lambda r: r.get("mode", "ephemeral") != TARGET_MODE):
        print(describe_row(row))
    print("stage | flow s | extra s")
    for stage, extra in result["extra_seconds_by_stage"].items():
        print(f"{stage} | {result['flow_seconds_by_stage'].get(stage, '-')} | {extra:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="budget 10 instead of the card's")
    parser.add_argument(
        "--ephemeral",
        action="store_true",
        help="time the flow with no standing Prefect server and a new MLflow store",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--bare", type=Path, help=argparse.SUPPRESS)  # the child process
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare:
        run_bare(args.bare, args.out, args.seed)
        return
    mode = "ephemeral" if args.ephemeral else TARGET_MODE
    folder = Path(tempfile.mkdtemp(prefix="mleng-overhead-"))
    load_before = [round(x, 2) for x in os.getloadavg()]
    budget = ["--budget", "10"] if args.quick else []
    flow_command = [str(Path(sys.executable).parent / "mleng"), "train", str(CARD), *budget]
    flow_command += ["--seed", str(args.seed)]
    timed = time_flow(flow_command, folder, mode)
    walls, cpu = {"flow": timed["wall"]}, {"flow": timed["cpu"]}
    print(f"flow ({mode}): {walls['flow']:.1f} s, {cpu['flow']:.1f} CPU s", flush=True)
    flow = read_flow_run(tracking_uri(folder))
    bare, walls["bare"], cpu["bare"] = time_bare(flow, folder, args.seed)
    print(f"bare: {walls['bare']:.1f} s, {cpu['bare']:.1f} CPU s", flush=True)
    comparison = compare(flow, bare, walls)
    timed["start_up_split"] = add_outside_stages(
        timed["start_up_split"], comparison["extra_seconds_by_stage"]["start_up_and_exit"]
    )
    comparison |= {
        "flow_cpu_seconds": round(cpu["flow"], 1),
        "bare_cpu_seconds": round(cpu["bare"], 1),
        "cpu_ratio": cpu["flow"] / cpu["bare"],
    }
    same = {
        key: {"flow": flow[key], "bare": bare[key]}
        for key in ("best_trial", "decision_threshold", "test_metric")
    }
    result = {
        "mode": mode,
        "mode_description": MODES[mode],
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "settings": {"card": "configs/adult.yaml", "quick": args.quick, "seed": args.seed,
                     "budget": 10 if args.quick else "card (40)", "trials": len(flow["trials"])},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_before": load_before,
                    "load_average_after": [round(x, 2) for x in os.getloadavg()]},
        "target_ratio": TARGET_RATIO,
        "target_judged_on": TARGET_MODE,
        "within_target": comparison["ratio"] <= TARGET_RATIO if mode == TARGET_MODE else None,
        "same_model": same,
        **{key: value for key, value in timed.items() if key not in ("wall", "cpu")},
        **comparison,
    }  # fmt: skip
    other = result_path(args.quick, "standing" if mode == "ephemeral" else "ephemeral")
    print_table(result, other)
    print(f"start-up split: {result['start_up_split']}")
    if mode == TARGET_MODE:
        print(f"untimed preparation: {result['untimed_preparation']}; the server's CPU seconds "
              f"while the flow ran: {result['server_cpu_seconds_during_flow']}")  # fmt: skip
    print(f"same model: {same}")
    out = result_path(args.quick, mode)
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
