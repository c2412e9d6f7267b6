"""Orchestration overhead: the `train` flow against a bare script doing the same fits.

The flow (`mleng train configs/adult.yaml`, the demo budget; `--quick`: budget 10) runs in a
fresh process with its own MLflow sqlite store and PREFECT_HOME. Its child runs say which
configurations it scored (family, parameters, round, fidelity). A second fresh process, the bare
script, imports neither Prefect nor MLflow and does the same fits with the same core functions:
read the CSV, the same key-based split and search-row sample, every configuration on the same
CV folds (two at a time, round by round, as the flow does), the refit of the best on all
training rows, the ensemble selection and member refits, the out-of-fold threshold fits, and
test scoring (probabilities, labels, the metric). Both are timed as wall time of the process.

What the flow does on top is listed per stage (its `stage_seconds_*` metrics against the bare
script's seconds for the same work): start-up (imports, the temporary Prefect server, the MLflow
database), validation, data checks, features report, baselines, the search's task runs and child
runs, bootstrap intervals, assessment, gate, registration with the ONNX export and model card.
The target (issue 16): the flow at most 1.10x the bare script at the demo budget.

Run: python bench/overhead.py [--quick]; writes bench/results/overhead.json
(quick: overhead_quick.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CARD = ROOT / "configs" / "adult.yaml"
TARGET_RATIO = 1.10
TRIAL_WORKERS = 2  # as tasks/training.py: two trials in flight


# ---------------------------------------------------------------------------------------------
# The flow


def engine_environment(folder: Path) -> dict[str, str]:
    """A fresh MLflow sqlite store and PREFECT_HOME in `folder`, and the project's defaults."""
    return os.environ | {
        "PREFECT_HOME": str(folder / "prefect"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "OMP_WAIT_POLICY": "PASSIVE",
    }


def children_cpu_seconds() -> float:
    """User + system CPU seconds of every waited-for child process so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_process(command: list[str], folder: Path, log_name: str) -> tuple[float, float]:
    """Run one command to completion in `folder`; its wall and CPU seconds (raises on failure).

    CPU seconds say more than wall time on a machine shared with other jobs."""
    log_path = folder / log_name
    cpu_before = children_cpu_seconds()
    started = time.perf_counter()
    with log_path.open("w") as log:
        code = subprocess.call(
            command, cwd=folder, env=engine_environment(folder), stdout=log, stderr=log
        )
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


def run_bare(trials_path: Path, out_path: Path, seed: int) -> None:
    """The flow's fits without the flow: the same rows, folds, configurations, refit, ensemble,
    threshold and test scoring; seconds per step to `out_path`."""
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    from mleng.card import load_card
    from mleng.data.loading import infer_feature_columns
    from mleng.data.split import cap_rows, split_dataset
    from mleng.search.engine import Trial, TrialResult
    from mleng.training.cv import FoldSetup, build_pipeline, fit_pipeline
    from mleng.training.ensemble_selection import EnsembleRows, build_final_ensemble
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
    with ThreadPoolExecutor(TRIAL_WORKERS) as pool:
        for round_ in sorted({t.round for t in trials}):
            batch = [t for t in trials if t.round == round_]
            outcomes = pool.map(lambda t: score_trial(t, columns, search_x, search_y, setup), batch)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="budget 10 instead of the card's")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--bare", type=Path, help=argparse.SUPPRESS)  # the child process
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare:
        run_bare(args.bare, args.out, args.seed)
        return
    folder = Path(tempfile.mkdtemp(prefix="mleng-overhead-"))
    load_before = [round(x, 2) for x in os.getloadavg()]
    budget = ["--budget", "10"] if args.quick else []
    flow_command = [str(Path(sys.executable).parent / "mleng"), "train", str(CARD), *budget]
    flow_command += ["--seed", str(args.seed)]
    walls, cpu = {}, {}
    walls["flow"], cpu["flow"] = run_process(flow_command, folder, "flow.log")
    print(f"flow: {walls['flow']:.1f} s, {cpu['flow']:.1f} CPU s", flush=True)
    flow = read_flow_run(f"sqlite:///{folder / 'mlflow.db'}")
    trials_path, bare_path = folder / "trials.json", folder / "bare.json"
    trials_path.write_text(json.dumps(flow["trials"]))
    bare_command = [sys.executable, str(Path(__file__).resolve()), "--bare", str(trials_path)]
    bare_command += ["--out", str(bare_path), "--seed", str(args.seed)]
    walls["bare"], cpu["bare"] = run_process(bare_command, folder, "bare.log")
    bare = json.loads(bare_path.read_text())
    print(f"bare: {walls['bare']:.1f} s, {cpu['bare']:.1f} CPU s", flush=True)
    comparison = compare(flow, bare, walls)
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
        "settings": {"card": "configs/adult.yaml", "quick": args.quick, "seed": args.seed,
                     "budget": 10 if args.quick else "card (40)", "trials": len(flow["trials"])},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_before": load_before,
                    "load_average_after": [round(x, 2) for x in os.getloadavg()]},
        "target_ratio": TARGET_RATIO,
        "within_target": comparison["ratio"] <= TARGET_RATIO,
        "same_model": same,
        **comparison,
    }  # fmt: skip
    print(f"flow {comparison['flow_seconds']:.1f} s, bare {comparison['bare_seconds']:.1f} s: "
          f"{comparison['ratio']:.2f}x (target <= {TARGET_RATIO}x: "
          f"{'holds' if result['within_target'] else 'does not hold'}); "
          f"without start-up {comparison['ratio_without_start_up']:.2f}x; "
          f"CPU {comparison['cpu_ratio']:.2f}x")  # fmt: skip
    print("stage | flow s | extra s")
    for stage, extra in comparison["extra_seconds_by_stage"].items():
        print(f"{stage} | {comparison['flow_seconds_by_stage'].get(stage, '-')} | {extra:.1f}")
    print(f"same model: {same}")
    out = ROOT / "bench" / "results" / ("overhead_quick.json" if args.quick else "overhead.json")
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
