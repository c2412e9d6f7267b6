"""The overhead benchmark's bare scripts: the `train` flow's work without Prefect and MLflow.

Each runs in its own process (`bench/overhead.py` starts it and times the process's wall time)
and imports neither Prefect nor MLflow. Both replay the trials the flow scored (read from its
MLflow child runs) on the same rows and folds, with as many trials at once and as many threads
each as the flow's thread runner.

- `fits`: the model fits alone, as a bare scikit-learn script would do them: read the CSV, the
  key-based split and the search-row sample, every trial's CV, the refit of the best on all
  training rows, the ensemble selection, the out-of-fold threshold, test scoring.
- `work`: the same work the flow does, every stage through the same mleng library calls, with
  its reports written to a local folder instead of MLflow and Prefect: the sample cap and row-key
  lineage, the expectation suite (Great Expectations), the data checks (the five questions,
  leakage, bias, the learning curve) and their figures, the split checks, the features report,
  the baselines, the family choice, the trials, the refit, ensemble and threshold, the latency,
  bootstrap intervals, the simple-rule comparison, group fairness, the assessment and its
  figures, the gate, the model pickled, the ONNX fast path with its parity check, the model card.
  What the flow adds on top of it is orchestration and tracking: Prefect's flow and task runs,
  logs and artifacts, MLflow's runs, child runs, dataset inputs, artifact uploads and registry.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mleng.reports.summary import time_stage  # the flow's own stage timer

FULL_COLLECTIONS = {"count": 0, "seconds": 0.0}


def clock_full_collections() -> None:
    """Count the collector's full collections and their seconds from here on. The script keeps
    Python's thresholds, as a script a user writes would; the flow's runtime spaces full
    collections out (`mleng.runtime.space_full_collections`), and the benchmark reports what
    the ratio would be had the script done the same."""
    started: dict[str, float] = {}

    def on_collection(phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            started["at"] = time.perf_counter()
        else:
            FULL_COLLECTIONS["count"] += 1
            FULL_COLLECTIONS["seconds"] += time.perf_counter() - started["at"]

    gc.callbacks.append(on_collection)


def write_result(out_path: Path, seconds: dict[str, float], built: dict[str, Any]) -> None:
    """The script's result for the parent: seconds per step, what it built, its full
    collections, and when it ended (the parent measures the teardown after it)."""
    result = {"seconds": seconds, **built, "full_collections": FULL_COLLECTIONS}
    out_path.write_text(json.dumps(result | {"ended_at": time.time()}, indent=2))


@contextmanager
def open_trial_pool(card: Any, setup: Any) -> Iterator[tuple[ThreadPoolExecutor, Any]]:
    """A thread pool sized as the flow's thread runner sizes it (`parallel.plan_workers`: the
    card's workers or one per core, the cores split between them) and the folds' setup with each
    trial's share of threads; OpenMP and BLAS capped at that share meanwhile. Without the cap two
    LightGBM trials each used every core here, 1.4x slower than the flow."""
    from threadpoolctl import threadpool_limits

    from mleng.training.parallel import plan_workers

    workers, threads = plan_workers(card.search.runner.workers)
    with ThreadPoolExecutor(workers) as pool, threadpool_limits(threads):
        yield pool, dataclasses.replace(setup, threads=threads)


def replay_trials(trials_path: Path, card: Any, columns: Any, rows: tuple, setup: Any) -> list:
    """Every trial the flow scored (read from `trials_path`), round by round, on the pool."""
    from mleng.search.engine import Trial
    from mleng.training.trials import score_trial

    given = json.loads(trials_path.read_text())
    trials = [Trial(**{k: v for k, v in t.items() if k != "score"}) for t in given]
    results = []
    with open_trial_pool(card, setup) as (pool, trial_setup):
        for round_ in sorted({t.round for t in trials}):
            batch = [t for t in trials if t.round == round_]
            outcomes = pool.map(lambda t: score_trial(t, columns, *rows, trial_setup), batch)
            results.extend(outcome.result for outcome in outcomes)
    return results


def run_fits(
    card_path: Path, trials_path: Path, out_path: Path, seed: int, budget: int | None = None
) -> None:
    """The flow's fits without the flow: the same rows, folds, configurations, refit, ensemble,
    threshold and test scoring; seconds per step to `out_path`."""
    clock_full_collections()
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    from mleng.card import load_card
    from mleng.data.loading import infer_feature_columns
    from mleng.data.split import cap_rows, split_dataset
    from mleng.search.engine import full_cost, select_best
    from mleng.training.cv import FoldSetup, build_pipeline, fit_pipeline
    from mleng.training.ensemble_selection import EnsembleRows, build_final_ensemble
    from mleng.training.threshold import (
        attach_threshold,
        resolve_positive_label,
        tune_out_of_fold_threshold,
    )

    seconds: dict[str, float] = {}
    with time_stage(seconds, "load_split"):
        card = load_card(card_path).with_overrides(budget)  # the flow's --budget, if any
        frame = pd.read_csv(card.path)
        columns = infer_feature_columns(frame, card)
        split = split_dataset(frame, card, columns)
        search_x, search_y = cap_rows(split.train_x, split.train_y, card, seed)
        setup = FoldSetup.for_run(card, columns, seed, None)

    with time_stage(seconds, "search"):
        results = replay_trials(trials_path, card, columns, (search_x, search_y), setup)
    with time_stage(seconds, "refit_best"):
        full = full_cost(results)
        best = select_best(full)
        pipeline = build_pipeline(card, columns, best.trial.family, best.trial.params, seed)
        served_setup = FoldSetup.for_run(card, columns, seed, None)
        pipeline = fit_pipeline(pipeline, split.train_x, split.train_y, served_setup)
    with time_stage(seconds, "ensemble"):
        rows = EnsembleRows(search_x, search_y, setup, split.train_x, split.train_y, served_setup)
        pipeline, choice = build_final_ensemble(columns, full, pipeline, rows)
    with time_stage(seconds, "threshold"):
        decision = tune_out_of_fold_threshold(pipeline, split.train_x, split.train_y, served_setup)
        positive = resolve_positive_label(card, split.train_y)
        model = attach_threshold(pipeline, decision, positive, split.train_x, split.train_y)
    with time_stage(seconds, "test_scoring"):
        proba = model.predict_proba(split.test_x)[:, list(model.classes_).index(positive)]
        model.predict(split.test_x)
        auc = roc_auc_score(split.test_y == positive, proba)
    built = describe_model(best, choice, decision, float(auc), len(results))
    write_result(out_path, seconds, built)


def describe_model(best: Any, choice: Any, decision: Any, metric: float, trials: int) -> dict:
    """What both scripts report they built, which the benchmark checks is the flow's model."""
    return {
        "best_trial": f"{best.trial.stage}-{best.trial.index:03d}-{best.trial.family}",
        "ensemble_chosen": bool(choice is not None and choice.chosen),
        "decision_threshold": None if decision is None else decision.threshold,
        "test_metric": metric,
        "trials": trials,
    }


def search_like_the_flow(card: Any, spaces: dict, columns: Any, rows: tuple, setup: Any, seed: int):
    """The flow's search itself, proposals included (the card's strategy, budget, early stopping
    and halving), each round's trials on the pool; the same seed and scores give the flow's
    trials."""
    from mleng.search.engine import EarlyStopping, run_search
    from mleng.search.halving import Halving
    from mleng.training.trials import score_trial

    search = card.search
    halving = Halving() if search.halving else None
    stopping = EarlyStopping(search.patience, search.min_improvement, search.time_budget_s, halving)
    with open_trial_pool(card, setup) as (pool, trial_setup):

        def evaluate_batch(trials: list) -> list:
            return list(
                pool.map(lambda t: score_trial(t, columns, *rows, trial_setup).result, trials)
            )

        return run_search(
            spaces, search.budget, evaluate_batch, seed=seed, strategy=search.strategy,
            stopping=stopping,
        )  # fmt: skip


def run_work(
    card_path: Path, trials_path: Path, out_path: Path, seed: int, budget: int | None = None
) -> None:
    """The flow's whole work without Prefect and MLflow, its reports written to a folder beside
    `out_path`; seconds per flow stage to `out_path` (the flow's stage names). `budget`: the
    flow's `--budget`, so the search spends the same. The search runs
    itself, as the flow's does (`trials_path`, the flow's trials, is not read: the benchmark
    compares their number and the best)."""
    clock_full_collections()
    import cloudpickle

    from mleng.assessment.assess import TestEvidence, assess_model
    from mleng.card import load_card, resolve_expectations_path
    from mleng.data.loading import build_examples, infer_feature_columns, load_dataset
    from mleng.data.sampling import limit_rows
    from mleng.data.sources import describe_source
    from mleng.data.split import cap_rows, compute_row_keys, format_row_keys, split_dataset
    from mleng.evaluation import Resampling, Truth, bootstrap_metrics, predict_with, simple
    from mleng.evaluation.champion import score_baselines
    from mleng.features.report import build_features_report, render_features_markdown
    from mleng.promotion import (
        ChampionComparison,
        GateEvidence,
        decide_promotion,
        read_primary,
        select_gate_inputs,
    )
    from mleng.quality.checks import (
        check_split,
        drop_columns,
        enforce_policies,
        measure_model_fairness,
        run_data_checks,
    )
    from mleng.quality.markdown import render_bias_markdown
    from mleng.reports.embedding import embed_figures, render_html_page, render_png
    from mleng.reports.facts import gather_model_card_facts
    from mleng.reports.model_card import render_model_card
    from mleng.reports.summary import TrainSummary
    from mleng.search.engine import full_cost, select_best
    from mleng.search.families import choose_families, describe_data
    from mleng.serving.fast_path import build_fast_path, compute_baseline
    from mleng.tracking.datasets import digest_keys
    from mleng.tracking.lineage import describe_lineage
    from mleng.training.cv import FoldSetup, build_pipeline, fit_pipeline, measure_latency_ms
    from mleng.training.ensemble_selection import EnsembleRows, build_final_ensemble
    from mleng.training.threshold import (
        attach_threshold,
        cap_threshold_rows,
        resolve_positive_label,
        tune_out_of_fold_threshold,
    )
    from mleng.validation.report import (
        raise_for_failures,
        render_validation_html,
        render_validation_markdown,
    )
    from mleng.validation.suites import load_suite, validate_frame

    reports = out_path.parent / "bare-reports"
    reports.mkdir(exist_ok=True)

    def write(name: str, content: str | bytes) -> None:
        path = reports / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)

    seconds: dict[str, float] = {}
    with time_stage(seconds, "load"):
        card = load_card(card_path).with_overrides(budget)  # the flow's --budget, if any
        frame = build_examples(load_dataset(card), card)
        frame = limit_rows(frame, card.data_checks.sampling, card.target, seed,
                           regression=card.task == "regression")  # fmt: skip
        keys = format_row_keys(compute_row_keys(frame, card))
        lineage = describe_lineage(card, digest_keys(keys), seed)
        write("card.json", json.dumps(card.model_dump(mode="json")))
    with time_stage(seconds, "validate"):
        suite_path = resolve_expectations_path(card)
        report = validate_frame(frame, load_suite(suite_path), source=describe_source(card))
        write("data_validation/report.md", render_validation_markdown(report))
        write("data_validation/report.html", render_validation_html(report))
        write("data_validation/report.json", json.dumps(report.to_dict(), default=str))
        raise_for_failures(report, suite_path)
    with time_stage(seconds, "data_checks"):
        columns = infer_feature_columns(frame, card)
        checks = run_data_checks(frame, card, columns, seed)
        write("data_report/report.md", checks.render_markdown())
        write("data_report/report.json", json.dumps(checks.to_dict(), default=str))
        for name, figure in checks.render_figures().items():
            write(f"data_report/{name}.png", render_png(figure))
        outcome = enforce_policies(checks.findings, frame, "Data", describe_source(card))
        frame, columns = outcome.frame, drop_columns(columns, outcome.dropped_columns)
        warnings = [finding for finding in checks.findings if finding.policy == "warn"]
    with time_stage(seconds, "split"):
        split = split_dataset(frame, card, columns)
        enforce_policies(check_split(split, card), split.train_rows, "Split", describe_source(card))
        train_keys = format_row_keys(compute_row_keys(split.train_rows, card))
        write("split/train_keys.txt", "\n".join(train_keys))
    with time_stage(seconds, "features_report"):
        features = build_features_report(
            split.train_x, split.train_y, split.test_x, columns, card, seed=seed
        )
        write("features/report.md", render_features_markdown(features))
        write("features/report.json", json.dumps(features, default=str))
    with time_stage(seconds, "baselines"):
        baselines = score_baselines(card, split, seed)
    with time_stage(seconds, "search"):
        n_categorical, n_text = len(columns.categorical), len(columns.text)
        traits = describe_data(n_categorical, split.train_y, card.task, n_text)
        spaces = choose_families(card, len(split.train_x), len(columns.all), traits).spaces
        search_x, search_y = cap_rows(split.train_x, split.train_y, card, seed)
        setup = FoldSetup.for_run(card, columns, seed, None)
        results = search_like_the_flow(card, spaces, columns, (search_x, search_y), setup, seed)
        full = full_cost(results)
        best = select_best(full)
    with time_stage(seconds, "refit"):
        pipeline = build_pipeline(card, columns, best.trial.family, best.trial.params, seed)
        served_setup = FoldSetup.for_run(card, columns, seed, None)
        pipeline = fit_pipeline(pipeline, split.train_x, split.train_y, served_setup)
        rows = EnsembleRows(search_x, search_y, setup, split.train_x, split.train_y, served_setup)
        pipeline, choice = build_final_ensemble(columns, full, pipeline, rows, best)
        tune_x, tune_y = cap_threshold_rows(split.train_x, split.train_y, card, seed)
        decision = tune_out_of_fold_threshold(pipeline, tune_x, tune_y, served_setup)
        positive = resolve_positive_label(card, split.train_y)
        model = attach_threshold(pipeline, decision, positive, split.train_x, split.train_y)
        latency_ms = measure_latency_ms(model, split.test_x)
    with time_stage(seconds, "evaluate"):
        predictions = predict_with(model, split.test_x)
        truth = Truth(card.task, split.test_y, card.positive_label)
        resampling = Resampling(1000, seed=seed)
        intervals = bootstrap_metrics(
            truth, predictions, resampling, method=card.evaluation.bootstrap_method
        )
        inputs = simple.gather_simple_inputs(card, split, predictions, baselines, seed)
        verdict = simple.weigh_simple_baselines(card, inputs, resampling)
        write("evaluation/simple.json", json.dumps(verdict.as_metrics() | verdict.as_tags()))
        fairness = measure_model_fairness(card, split.test_rows, predictions, seed)
        if fairness is not None:
            write("evaluation/group_fairness.md", render_bias_markdown(fairness))
        evidence = TestEvidence(predictions, intervals, baselines)
    with time_stage(seconds, "assess"):
        assessment = assess_model(card, model, evidence, results, split, seed)
        images = {
            f"plots/{name}.png": render_png(figure) for name, figure in assessment.figures.items()
        }
        for path, png in images.items():
            write(path, png)
        assessment.figure_images = images
    with time_stage(seconds, "gate"):
        primary, gate_baselines = select_gate_inputs(card, intervals, baselines, None)
        metric, lower_is_better = read_primary(card)
        gate = decide_promotion(
            card.promotion, metric, lower_is_better,
            GateEvidence(primary, gate_baselines, ChampionComparison(champion_version=None),
                         warnings, assessment.stable_share, latency_ms),
            max_latency_ms=card.requirements.max_latency_ms,
        )  # fmt: skip
    with time_stage(seconds, "register"):
        write("model/model.pkl", cloudpickle.dumps(model))
        fast = build_fast_path(
            model, (columns.numeric, columns.categorical), split.train_x, split.test_x
        )
        if fast.onnx_bytes is not None:
            write("model/model.onnx", fast.onnx_bytes)
        baseline = {"baseline": compute_baseline(split.train_y, card.task)}
        write("model/facts.json", json.dumps(fast.tags | lineage.as_tags() | baseline, default=str))
        summary = TrainSummary(
            card_name=card.name,
            metric=card.metric,
            validation=f"passed ({len(report.outcomes)} expectations)",
            rows={"train": len(split.train_rows), "test": len(split.test_rows)},
            baselines={name: s[card.metric] for name, s in baselines.items()},
            best_family=best.trial.family,
            test_metrics={name: (i.estimate, i.low, i.high) for name, i in intervals.items()},
            model_name=card.model_name,
            model_version="1",
            decision=gate.label,
        )
        facts = gather_model_card_facts(card, summary, model, evidence, assessment, gate)
        markdown = render_model_card(facts)
        write("model_card.md", markdown)
        write("model_card.html", render_html_page(embed_figures(markdown, images), card.model_name))
    test_metric = intervals[card.metric].estimate
    built = describe_model(best, choice, decision, float(test_metric), len(results))
    write_result(out_path, seconds, built)
