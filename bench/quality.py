"""Benchmark: model quality of the default `train` flow against FLAML AutoML at the same wall time.

For each dataset (bench/quality_datasets.py, all offline):
1. mleng: the data is written as a CSV, `mleng card init` drafts the card a user would get, with
   one edit: `metric: roc_auc` for classification (the issue's tolerance is in ROC AUC; the
   drafted default is log loss) and rmse for regression (already the default). The real `train`
   flow (Prefect engine, MLflow sqlite store, data checks, search, ensemble, threshold, gate,
   registration) runs with `time_budget_s`; the registered version is loaded from the registry.
2. The split: mleng's own (a stable hash of each row, 80/20), recomputed here with the flow's
   functions and checked against the training keys the run logged, so FLAML trains on exactly
   mleng's training rows and both are scored on the same 20%.
3. FLAML: `AutoML.fit(time_budget=T)` with its defaults, the same metric and the card's input
   columns (text columns as pandas categories, as FLAML expects), where T is the seconds mleng
   spent building models: its `search` and `refit` stages (refit includes the ensemble and the
   threshold). Both totals are reported too.
4. Scores on the test rows with 95% bootstrap intervals (mleng.evaluation.bootstrap), and a
   paired bootstrap of the difference (positive favours mleng; for RMSE the relative difference
   in % of FLAML's RMSE). The issue's tolerance: never worse by more than 0.005 ROC AUC or 1% RMSE.

Run: python bench/quality.py [--quick] [--seed N]; writes bench/results/quality.json
(quality_quick.json with --quick), rewritten after each dataset. Full: six datasets, search
budgets of 120 s (adult, flights) and 30 s (the rest), 45-60 minutes on 2 shared cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from quality_datasets import DATASETS, FULL, QUICK, ROOT, Dataset  # bench/ is on sys.path

from mleng.runtime import apply_runtime_defaults

apply_runtime_defaults()
os.environ.setdefault("PREFECT_TASKS_DEFAULT_NO_CACHE", "true")

import mlflow  # after the runtime defaults, as the CLI imports it
from mlflow import MlflowClient

from mleng.card import DatasetCard, load_card
from mleng.data.loading import (
    FeatureColumns,
    build_examples,
    infer_feature_columns,
    load_dataset,
)
from mleng.data.split import SplitData, format_row_keys, split_dataset
from mleng.evaluation import (
    Predictions,
    Resampling,
    Truth,
    bootstrap_metrics,
    compare_paired,
    predict_with,
)
from mleng.training.cv import FoldSetup, build_pipeline, fit_pipeline
from mleng.training.threshold import unwrap_pipeline

BUDGETS_FULL = {"adult": 120, "flights": 120}  # seconds of search; the others get DEFAULT_FULL
DEFAULT_FULL = 30
DEFAULT_QUICK = 15
AUC_TOLERANCE = 0.005
RMSE_TOLERANCE = 0.01  # relative
RESULTS = ROOT / "bench" / "results"


@dataclass
class MlengRun:
    """What the flow produced for one dataset."""

    card: DatasetCard
    model: Any
    split: SplitData
    wall_seconds: float
    model_seconds: float
    family: str
    ensemble: str
    single: Any = None  # the single best configuration refit, when an ensemble was registered
    ensemble_seconds: float = 0.0


def prepare_card(dataset: Dataset, folder: Path) -> Path:
    """Write the data, let `mleng card init` draft the card and its suite, set the metric."""
    data = folder / "data" / f"{dataset.name}.csv"
    data.parent.mkdir(parents=True, exist_ok=True)
    dataset.load().to_csv(data, index=False)
    mleng = str(Path(sys.executable).with_name("mleng"))
    command = [mleng, "card", "init", f"data/{dataset.name}.csv", "--target", dataset.target]
    command += ["--task", dataset.task]
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"mleng card init failed for {dataset.name}: {done.stderr[-2000:]}")
    card = folder / "configs" / f"{dataset.name}.yaml"
    metric = "rmse" if dataset.task == "regression" else "roc_auc"
    card.write_text(card.read_text() + f"metric: {metric}  # the benchmark's one edit\n")
    return card


def recompute_split(card: DatasetCard, run_id: str) -> SplitData:
    """The flow's train/test split, recomputed from the same data and checked against the
    training keys the run logged."""
    frame = build_examples(load_dataset(card), card)
    split = split_dataset(frame, card, infer_feature_columns(frame, card))
    logged = Path(MlflowClient().download_artifacts(run_id, "split/train_keys.txt"))
    train_keys = set(logged.read_text().split())
    test_keys = format_row_keys(split.test_keys)
    leaked = sum(key in train_keys for key in test_keys)
    if leaked or len(train_keys) != len(set(format_row_keys(split.train_keys))):
        raise RuntimeError(
            f"{card.name}: the recomputed split differs from the run's ({leaked} test rows among "
            f"its {len(train_keys)} training keys)"
        )
    return split


def run_mleng(card_path: Path, time_budget: float, seed: int, resamples: int) -> MlengRun:
    """The real train flow, then the registered version from the registry."""
    from flows.train import train

    started = time.perf_counter()
    summary = train(
        card_path=str(card_path), seed=seed, bootstrap_resamples=resamples,
        time_budget_s=time_budget,
    )  # fmt: skip
    wall = time.perf_counter() - started
    if not summary.model_version:
        raise RuntimeError(f"{card_path.name}: no version registered ({summary.reason})")
    model = mlflow.sklearn.load_model(f"models:/{summary.model_name}/{summary.model_version}")
    card = load_card(card_path)
    split = recompute_split(card, summary.parent_run_id)
    # The model's own inputs (the data checks may drop columns): FLAML gets the same ones.
    coercer = unwrap_pipeline(model).named_steps["inputs"]
    columns = FeatureColumns(
        list(coercer.numeric_columns), list(coercer.categorical_columns),
        list(getattr(coercer, "text_columns", [])),
    )  # fmt: skip
    split = replace(split, columns=columns)
    seconds = summary.stage_seconds
    run = MlengRun(
        card, model, split, wall, seconds.get("search", 0.0) + seconds.get("refit", 0.0),
        summary.best_family, summary.ensemble, None, seconds.get("ensemble", 0.0),
    )  # fmt: skip
    if summary.ensemble.startswith("chosen"):  # what the single best would have scored
        params = summary.best_per_family[summary.best_family]["params"]
        single = build_pipeline(card, split.columns, summary.best_family, params, seed)
        setup = FoldSetup.for_run(card, split.columns, seed, None)
        run.single = fit_pipeline(single, split.train_x, split.train_y, setup)
    return run


def flaml_frame(frame: pd.DataFrame, categorical: list[str]) -> pd.DataFrame:
    """Text columns as pandas categories: how FLAML's learners take categorical inputs."""
    return frame.astype({column: "category" for column in categorical})


def run_flaml(run: MlengRun, time_budget: float, seed: int) -> tuple[Predictions, str, float]:
    """FLAML with its defaults on mleng's training rows; its test predictions."""
    from flaml import AutoML

    card, split = run.card, run.split
    columns = [*split.columns.numeric, *split.columns.categorical]
    train_x = flaml_frame(split.train_x[columns], split.columns.categorical)
    test_x = flaml_frame(split.test_x[columns], split.columns.categorical)
    classification = card.task != "regression"
    metric = {"binary": "roc_auc", "multiclass": "roc_auc_ovr"}.get(card.task, "rmse")
    automl = AutoML()
    started = time.perf_counter()
    automl.fit(
        X_train=train_x, y_train=split.train_y.to_numpy(),
        task="classification" if classification else "regression",
        metric=metric, time_budget=time_budget, seed=seed, verbose=0,
    )  # fmt: skip
    wall = time.perf_counter() - started
    if not classification:
        return (
            Predictions(np.asarray(automl.predict(test_x), dtype=float)),
            automl.best_estimator,
            wall,
        )
    return (
        Predictions(
            np.asarray(automl.predict(test_x)), np.asarray(automl.predict_proba(test_x)),
            np.asarray(automl.classes_),
        ),
        automl.best_estimator,
        wall,
    )  # fmt: skip


def compare(run: MlengRun, flaml: Predictions, resamples: int, seed: int) -> dict[str, Any]:
    """Both scores with intervals, the paired difference, and the tolerance verdict."""
    card, split = run.card, run.split
    truth = Truth(card.task, split.test_y.to_numpy(), card.positive_label)
    resampling = Resampling(resamples, seed=seed)
    ours = predict_with(run.model, split.test_x)
    mine = bootstrap_metrics(truth, ours, resampling)[card.metric]
    theirs = bootstrap_metrics(truth, flaml, resampling)[card.metric]
    paired = compare_paired(truth, card.metric, flaml, ours, resampling)
    if card.metric == "rmse":  # relative: % of FLAML's RMSE, positive favours mleng
        scale = 100.0 / theirs.estimate
        difference = [paired.difference * scale, paired.low * scale, paired.high * scale]
        holds = paired.difference * scale >= -100.0 * RMSE_TOLERANCE
    else:
        difference = [paired.difference, paired.low, paired.high]
        holds = paired.difference >= -AUC_TOLERANCE
    single = None
    if run.single is not None:  # the ensemble against the single best, on the same rows
        alone = predict_with(run.single, split.test_x)
        gain = compare_paired(truth, card.metric, alone, ours, resampling)
        single = {
            "single": bootstrap_metrics(truth, alone, resampling)[card.metric].estimate,
            "ensemble_gain": [gain.difference, gain.low, gain.high],
        }
    return {
        "metric": card.metric,
        "mleng": [mine.estimate, mine.low, mine.high],
        "mleng_single_best": single,
        "flaml": [theirs.estimate, theirs.low, theirs.high],
        "difference": difference,
        "difference_unit": "% of FLAML's RMSE" if card.metric == "rmse" else "ROC AUC",
        "probability_mleng_better": paired.probability_better,
        "at_least_as_good": paired.difference >= 0,
        "within_tolerance": bool(holds),
    }


def run_dataset(dataset: Dataset, folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    budget = DEFAULT_QUICK if args.quick else BUDGETS_FULL.get(dataset.name, DEFAULT_FULL)
    card_path = prepare_card(dataset, folder)
    run = run_mleng(card_path, budget, args.seed, args.resamples)
    flaml, learner, flaml_wall = run_flaml(run, run.model_seconds, args.seed)
    row = {
        "dataset": dataset.name,
        "task": dataset.task,
        "rows": len(run.split.train_x) + len(run.split.test_x),
        "test_rows": len(run.split.test_x),
        "search_time_budget_s": budget,
        "mleng_wall_s": round(run.wall_seconds, 1),
        "mleng_model_s": round(run.model_seconds, 1),
        "flaml_time_budget_s": round(run.model_seconds, 1),
        "flaml_wall_s": round(flaml_wall, 1),
        "mleng_family": run.family,
        "mleng_ensemble": run.ensemble,
        "mleng_ensemble_s": round(run.ensemble_seconds, 1),
        "flaml_learner": learner,
        "source": dataset.source,
        "licence": dataset.licence,
    }
    return row | compare(run, flaml, args.resamples, args.seed)


def format_interval(values: list[float], digits: int = 4) -> str:
    estimate, low, high = values
    return f"{estimate:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def render_table(rows: list[dict[str, Any]]) -> str:
    header = (
        "| dataset | task | rows | metric | mleng [95% CI] | FLAML [95% CI] | mleng - FLAML "
        "[95% CI] | FLAML learner | mleng model | wall s (mleng total / model / FLAML) | "
        "tolerance |"
    )
    lines = [header, "|" + "---|" * 11]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['dataset']} | {row['task']} | failed: {row['error'][:200]} |")
            continue
        digits = 2 if row["metric"] == "rmse" else 4
        unit = " %" if row["metric"] == "rmse" else ""
        ensemble = "ensemble" if row["mleng_ensemble"].startswith("chosen") else "single"
        lines.append(
            f"| {row['dataset']} | {row['task']} | {row['rows']:,} | {row['metric']} | "
            f"{format_interval(row['mleng'], digits)} | {format_interval(row['flaml'], digits)} | "
            f"{format_interval(row['difference'], digits if unit else 4)}{unit} | "
            f"{row['flaml_learner']} | {row['mleng_family']} ({ensemble}) | "
            f"{row['mleng_wall_s']:.0f} / {row['mleng_model_s']:.0f} / {row['flaml_wall_s']:.0f} | "
            f"{'holds' if row['within_tolerance'] else 'FAILS'} |"
        )
    good = sum(row.get("at_least_as_good", False) for row in rows)
    held = sum(row.get("within_tolerance", False) for row in rows)
    lines += [
        "",
        (
            f"mleng at least as good as FLAML on {good} of {len(rows)} datasets; the tolerance "
            f"(-{AUC_TOLERANCE} ROC AUC, -{RMSE_TOLERANCE:.0%} RMSE) holds on {held} of "
            f"{len(rows)}."
        ),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="three small datasets, 15 s budgets")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--datasets", nargs="*", help="a subset of dataset names")
    args = parser.parse_args()
    names = args.datasets or (QUICK if args.quick else FULL)
    work = Path(tempfile.mkdtemp(prefix="mleng-quality-"))
    uri = f"sqlite:///{work / 'mlflow.db'}"
    os.environ["MLFLOW_TRACKING_URI"] = uri
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    os.chdir(work)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / ("quality_quick.json" if args.quick else "quality.json")
    rows = []
    for name in names:  # the results file is rewritten after each dataset: a long run keeps them
        print(f"== {name}", flush=True)
        try:
            rows.append(run_dataset(DATASETS[name], work / name, args))
        except Exception as error:  # noqa: BLE001 - one dataset's failure is a result, not the end
            rows.append({"dataset": name, "task": DATASETS[name].task, "error": repr(error)})
        print(render_table(rows[-1:]), flush=True)
        table = render_table(rows)
        result = {"seed": args.seed, "datasets": list(names), "rows": rows, "table": table}
        out.write_text(json.dumps(result, indent=2) + "\n")
    print("\n" + table)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
