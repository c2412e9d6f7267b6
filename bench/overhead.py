"""Orchestration overhead: the `train` flow against a bare script doing the same fits.

The flow (`mleng train configs/adult.yaml`, the demo budget; `--quick`: budget 10) runs in a
fresh process with its own MLflow sqlite store and PREFECT_HOME. Two configurations of it:

- standing (the default, and the one the target is judged on): as users run it after
  `mleng stack up`. A Prefect server (`prefect server start`, its own PREFECT_HOME) is started on a
  free 127.0.0.1 port and answers its health check before the flow starts, and the flow gets its
  PREFECT_API_URL; it first serves a one-task warm-up flow from another process (a standing
  server has served flows before: a fresh one's first API call took 0.52 s against 10 ms after);
  the MLflow sqlite store is created and migrated beforehand. None of this is timed.
  The server is stopped (its process group) when the flow ends, before the bare script runs; its
  CPU seconds while the flow ran are reported beside the flow's. (The stack's MLflow is a server
  over HTTP; here the flow writes the sqlite store directly.)
- ephemeral (`--ephemeral`): a first run with nothing standing. No PREFECT_API_URL, so the flow
  starts Prefect's temporary server itself, and the flow's MLflow client creates and migrates a
  new sqlite store; both are inside the timed process.

The flow's child runs say which configurations it scored (family, parameters, round, fidelity).
Two bare scripts (bench/overhead_bare.py), each a fresh process importing neither Prefect nor
MLflow, do its work with the same core functions; `fits` after the flow (it replays the flow's
trials), `work` after it too, or before it in every other repeat:

- `work`: the flow's whole work, every stage through the same mleng library calls, its reports
  written to a local folder (the suite, data checks and figures, features report, baselines,
  trials, refit, ensemble, threshold, latency, bootstrap, simple rule, fairness, assessment and
  figures, gate, the pickled model, the ONNX fast path, the model card). The flow against it is
  the orchestration overhead: what Prefect's flow and task runs, logs and artifacts and MLflow's
  runs, child runs, dataset inputs, uploads and registry add. The target is judged on it.
- `fits`: the fits alone, as a bare scikit-learn script would do them (read the CSV, split,
  trials, refit, ensemble, threshold, test scoring). The flow against it also counts what the
  product's checks and reports cost; printed beside it, not judged.

Every time is the wall time of the process. Per stage, the flow's `stage_seconds_*` metrics are
set against the bare scripts' seconds for the same stage. The target (issue 16): the flow at most
1.10x the same work done bare at the demo budget, in the standing configuration.

Run: python bench/overhead.py [--quick] [--ephemeral] [--repeats N]; writes
bench/results/overhead.json (the median of N runs, 5 by default, with every run's ratios;
quick: overhead_quick.json; ephemeral: overhead_ephemeral.json, overhead_ephemeral_quick.json).
The printed table has a row per configuration: this run's, and the other one's last result file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import overhead_bare
from overhead_flow import (
    add_outside_stages,
    engine_environment,
    read_flow_run,
    run_process,
    time_flow,
    tracking_uri,
)

ROOT = Path(__file__).resolve().parents[1]
CARD = ROOT / "configs" / "adult.yaml"
TARGET_RATIO = 1.10
QUICK_BUDGET = 10
TARGET_MODE = "standing"
MODES = {
    "standing": (
        "standing Prefect server that has served a flow before, migrated MLflow sqlite store"
    ),
    "ephemeral": "temporary Prefect server started by the flow, new MLflow sqlite store",
}


# ---------------------------------------------------------------------------------------------
# Comparison


def compare(flow: dict[str, Any], bare: dict[str, Any], walls: dict[str, float]) -> dict:
    """The ratios and where the flow's extra time goes, stage by stage.

    The target is judged against the bare script doing the same work (`work`): what the flow
    adds there is orchestration and tracking. Against the fits alone (`fits`) the extra is also
    what the product's stages beyond the fits cost (validation, data checks, assessment...)."""
    stages = {k: v for k, v in flow["stage_seconds"].items() if k != "ensemble"}  # inside refit
    in_flow = sum(stages.values())
    done, fits = bare["work"]["seconds"], bare["fits"]["seconds"]
    matched_fits = {
        "load": fits["load_split"],
        "search": fits["search"],
        "refit": fits["refit_best"] + fits["ensemble"] + fits["threshold"],
        "evaluate": fits["test_scoring"],
    }
    outside = walls["flow"] - in_flow  # the bare scripts' own start-up is subtracted from it
    extra = {"start_up_and_exit": outside - (walls["work"] - sum(done.values()))}
    extra |= {stage: value - done.get(stage, 0.0) for stage, value in stages.items()}
    extra_fits = {"start_up_and_exit": outside - (walls["fits"] - sum(fits.values()))}
    extra_fits |= {stage: value - matched_fits.get(stage, 0.0) for stage, value in stages.items()}
    return {
        "flow_seconds": walls["flow"],
        "bare_seconds": walls["work"],
        "ratio": walls["flow"] / walls["work"],
        "flow_in_flow_seconds": in_flow,
        "bare_compute_seconds": sum(done.values()),
        "ratio_without_start_up": in_flow / sum(done.values()),
        "extra_seconds_by_stage": {k: round(v, 2) for k, v in extra.items()},
        # stages the flow ran longer than the bare script (orchestration and tracking), and
        # shorter (the suite and checks side by side, reports beside the search)
        "orchestration_seconds": round(sum(v for v in extra.values() if v > 0), 2),
        "side_by_side_saved_seconds": round(-sum(v for v in extra.values() if v < 0), 2),
        "bare_seconds_by_stage": {k: round(v, 2) for k, v in done.items()},
        "flow_seconds_by_stage": flow["stage_seconds"],
        "fits_alone": {
            "bare_seconds": walls["fits"],
            "ratio": walls["flow"] / walls["fits"],
            "bare_seconds_by_step": {k: round(v, 2) for k, v in fits.items()},
            "extra_seconds_by_stage": {k: round(v, 2) for k, v in extra_fits.items()},
        },
    }


def result_path(quick: bool, mode: str) -> Path:
    """Where one configuration's result goes: overhead[_ephemeral][_quick].json (.gitignore
    keeps *_quick.json out of the repository)."""
    name = "overhead" + ("" if mode == TARGET_MODE else f"_{mode}") + ("_quick" if quick else "")
    return ROOT / "bench" / "results" / f"{name}.json"


def time_bare(script: str, folder: Path, args: argparse.Namespace) -> tuple[dict, float, float]:
    """Run one bare script (`fits` replays the flow's trials from trials.json in `folder`, `work`
    runs its own search with the flow's budget); its result, wall and CPU seconds."""
    out, trials_path = folder / f"bare_{script}.json", folder / "trials.json"
    command = [sys.executable, str(Path(__file__).resolve()), "--bare", script]
    command += ["--trials", str(trials_path), "--out", str(out), "--seed", str(args.seed)]
    command += ["--budget", str(QUICK_BUDGET)] if args.quick else []
    env = engine_environment(folder, None)
    wall, cpu = run_process(command, folder, f"bare_{script}.log", env)
    result = json.loads(out.read_text())
    # from the script's last line to the process's end: the interpreter's teardown
    result["teardown_seconds"] = max(0.0, time.time() - result["ended_at"])
    return result, wall, cpu


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
        + ("" if "fits_alone" in result else " (an older run: its bare script did the fits alone)")
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
    fits = result["fits_alone"]
    print(f"the flow's stages that took longer than the bare script's: "
          f"+{result['orchestration_seconds']:.1f} s; those that took less, run side by side: "
          f"-{result['side_by_side_saved_seconds']:.1f} s")  # fmt: skip
    print(f"the bare work script's interpreter teardown: {result['bare_teardown_seconds']:.1f} s "
          "(mleng skips it); without it the ratio would be "
          f"{result['ratio_if_bare_skipped_teardown']:.2f}x")  # fmt: skip
    full = result["bare_full_collections"]
    print(f"the bare work script's full collections: {full['count']:.0f} taking "
          f"{full['seconds']:.1f} s (mleng spaces them out); with mleng's runtime (no teardown, "
          f"one full collection) the ratio would be about "
          f"{result['ratio_if_bare_had_mleng_runtime']:.2f}x")  # fmt: skip
    print(f"against the fits alone (bare fits {fits['bare_seconds']:.1f} s): {fits['ratio']:.2f}x; "
          "the difference from the ratio above is what the product's stages cost")  # fmt: skip
    print("stage | flow s | same work bare s | extra s (orchestration) | extra s over the fits")
    for stage, extra in result["extra_seconds_by_stage"].items():
        print(f"{stage} | {result['flow_seconds_by_stage'].get(stage, '-')} | "
              f"{result['bare_seconds_by_stage'].get(stage, '-')} | {extra:.1f} | "
              f"{fits['extra_seconds_by_stage'][stage]:.1f}")  # fmt: skip


def measure_once(args: argparse.Namespace, mode: str, work_first: bool) -> dict[str, Any]:
    """One flow run and the two bare scripts, in a fresh folder; the comparison."""
    folder = Path(tempfile.mkdtemp(prefix="mleng-overhead-"))
    load_before = [round(x, 2) for x in os.getloadavg()]
    budget = ["--budget", str(QUICK_BUDGET)] if args.quick else []
    flow_command = [str(Path(sys.executable).parent / "mleng"), "train", str(CARD), *budget]
    flow_command += ["--seed", str(args.seed)]
    # The same work bare runs before the flow in every other repeat, so neither side always
    # gets the machine first; the fits replay the flow's trials, so they always follow it.
    bare, walls, cpu = {}, {}, {}
    if work_first:
        bare["work"], walls["work"], cpu["work"] = time_bare("work", folder, args)
    timed = time_flow(flow_command, folder, mode)
    walls["flow"], cpu["flow"] = timed["wall"], timed["cpu"]
    print(f"flow ({mode}): {walls['flow']:.1f} s, {cpu['flow']:.1f} CPU s", flush=True)
    flow = read_flow_run(tracking_uri(folder))
    (folder / "trials.json").write_text(json.dumps(flow["trials"]))
    bare["fits"], walls["fits"], cpu["fits"] = time_bare("fits", folder, args)
    if not work_first:
        bare["work"], walls["work"], cpu["work"] = time_bare("work", folder, args)
    for script in ("fits", "work"):
        print(f"bare {script}: {walls[script]:.1f} s, {cpu[script]:.1f} CPU s", flush=True)
    comparison = compare(flow, bare, walls)
    timed["start_up_split"] = add_outside_stages(
        timed["start_up_split"], walls["flow"] - comparison["flow_in_flow_seconds"]
    )
    comparison |= {
        "flow_cpu_seconds": round(cpu["flow"], 1),
        "bare_cpu_seconds": round(cpu["work"], 1),
        "cpu_ratio": cpu["flow"] / cpu["work"],
        "bare_work_ran_first": work_first,
    }
    comparison["fits_alone"]["cpu_ratio"] = cpu["flow"] / cpu["fits"]
    # `mleng` exits without the interpreter's teardown (mleng.runtime.exit_process); the bare
    # scripts end as any Python script does. What the ratio would be had they skipped it too:
    teardown = bare["work"]["teardown_seconds"]
    comparison["bare_teardown_seconds"] = round(teardown, 2)
    comparison["ratio_if_bare_skipped_teardown"] = walls["flow"] / (walls["work"] - teardown)
    # The flow's runtime also spaces the collector's full collections out (one where Python's
    # thresholds made about ten); had the bare script done so, it would have kept one of its own:
    full = bare["work"]["full_collections"]
    spared = full["seconds"] * (1 - 1 / full["count"]) if full["count"] > 1 else 0.0
    comparison["bare_full_collections"] = {k: round(v, 2) for k, v in full.items()}
    comparison["ratio_if_bare_had_mleng_runtime"] = walls["flow"] / (
        walls["work"] - teardown - spared
    )
    same = {
        key: {"flow": flow[key], "bare work": bare["work"][key], "bare fits": bare["fits"][key]}
        for key in ("best_trial", "decision_threshold", "test_metric")
    }
    same["trials"] = {"flow": len(flow["trials"])} | {
        f"bare {script}": bare[script]["trials"] for script in ("work", "fits")
    }
    return {
        "mode": mode,
        "mode_description": MODES[mode],
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "settings": {"card": "configs/adult.yaml", "quick": args.quick, "seed": args.seed,
                     "budget": QUICK_BUDGET if args.quick else "card (40)",
                     "trials": len(flow["trials"])},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_before": load_before,
                    "load_average_after": [round(x, 2) for x in os.getloadavg()]},
        "target_ratio": TARGET_RATIO,
        "target_judged_on": TARGET_MODE,
        "same_model": same,
        **{key: value for key, value in timed.items() if key not in ("wall", "cpu")},
        **comparison,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="budget 10 instead of the card's")
    parser.add_argument(
        "--ephemeral",
        action="store_true",
        help="time the flow with no standing Prefect server and a new MLflow store",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--repeats", type=int, default=5, help="flow and bare runs, alternating; the median is kept"
    )
    parser.add_argument("--bare", choices=("fits", "work"), help=argparse.SUPPRESS)  # a child
    parser.add_argument("--trials", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--budget", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare:
        run = overhead_bare.run_fits if args.bare == "fits" else overhead_bare.run_work
        run(CARD, args.trials, args.out, args.seed, args.budget)
        return
    mode = "ephemeral" if args.ephemeral else TARGET_MODE
    runs = []
    for repeat in range(args.repeats):
        print(f"repeat {repeat + 1} of {args.repeats}", flush=True)
        runs.append(measure_once(args, mode, work_first=repeat % 2 == 1))
    # Timings here vary by a few percent from run to run: the median run is reported, and every
    # run's ratios beside it.
    result = sorted(runs, key=lambda r: r["ratio"])[len(runs) // 2]
    result["repeats"] = [
        {key: round(run[key], 3) for key in
         ("ratio", "ratio_if_bare_skipped_teardown", "ratio_if_bare_had_mleng_runtime",
          "flow_seconds", "bare_seconds")}
        | {"fits_alone_ratio": round(run["fits_alone"]["ratio"], 3)}
        for run in runs
    ]  # fmt: skip
    result["within_target"] = result["ratio"] <= TARGET_RATIO if mode == TARGET_MODE else None
    same = result["same_model"]
    other = result_path(args.quick, "standing" if mode == "ephemeral" else "ephemeral")
    print_table(result, other)
    print("every repeat: " + "; ".join(
        f"{r['ratio']:.2f}x ({r['flow_seconds']:.1f} s / {r['bare_seconds']:.1f} s)"
        for r in result["repeats"]))  # fmt: skip
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
