"""Benchmark: mleng's coarse-to-fine search against grid, random, successive halving and Optuna TPE.

Every method scores configurations with the same 3-fold splits (fixed seed) of the same data, so
differences come from which configurations a method proposes. For each dataset x seed we record
the best cross-validated score a method reached at 8, 16, 32 and 64 evaluations, and report its
regret: the best score any method found on that dataset x seed minus the method's own.

How budgets are counted:
- random and TPE are anytime methods: one 64-evaluation run gives every smaller budget as the
  best-so-far of its prefix (a shorter run with the same seed proposes the same prefix).
- coarse_to_fine, grid and halving plan around their budget, so each budget is a separate run.
- coarse_to_fine_halving is mleng's search with successive halving in its coarse round
  (`search.halving`): a cheap look fits each fold on a third of its training rows and counts as
  a third of an evaluation; only full-cost scores are selected, so its regret is comparable.
- HalvingRandomSearchCV: one evaluation is one candidate at one rung (a 3-fold CV fit on a
  subsample), so sum(n_candidates_) <= budget; low rungs are cheaper, which favours it. Its
  chosen configuration is re-scored on the full folds (not counted) so its regret is comparable.
Scores are cached per dataset and configuration; wall times add each evaluation's measured cost
even on a cache hit, plus the method's own proposal overhead.

Run: python bench/search.py [--quick] [--seeds N] (default 20 seeds, about 30 minutes on 2 cores);
writes bench/results/search.json.
"""

from __future__ import annotations

import argparse
import json
import math
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from scipy import stats
from search_problems import (  # bench/ is on sys.path when run as a script
    ROOT,
    Problem,
    load_problems,
)
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import HalvingRandomSearchCV
from threadpoolctl import threadpool_limits

from mleng.card import ParamSpec
from mleng.search.engine import (
    EarlyStopping,
    Trial,
    TrialResult,
    count_spent,
    run_search,
    select_best,
)
from mleng.search.halving import Halving

BUDGETS = (8, 16, 32, 64)
METHODS = ("coarse_to_fine", "coarse_to_fine_halving", "grid", "random", "halving", "tpe")
TOLERANCE = 0.001


@dataclass
class Run:
    """What one method did on one dataset x seed: best score per budget, and its cost."""

    best: dict[int, float]
    trajectory: list[float]
    evaluations: dict[int, int]
    seconds: dict[int, float]


def best_so_far(scores: list[float]) -> list[float]:
    """Running maximum of finite scores (nan until the first success)."""
    out, best = [], -math.inf
    for score in scores:
        best = max(best, score) if math.isfinite(score) else best
        out.append(best if math.isfinite(best) else math.nan)
    return out


def run_engine(problem: Problem, seed: int, budgets: tuple[int, ...], strategy: str) -> Run:
    """mleng's search (one run per budget for budget-aware strategies, one for random)."""
    run = Run({}, [], {}, {})
    for budget in budgets if strategy != "random" else budgets[-1:]:
        spent = 0.0

        def evaluate(trials: list[Trial]) -> list[TrialResult]:
            nonlocal spent
            results = []
            for trial in trials:
                score, seconds = problem.score(trial.params, trial.fidelity)
                spent += seconds
                results.append(TrialResult(trial, score, 0.0, seconds))
            return results

        halving = strategy.endswith("_halving")
        stopping = EarlyStopping(halving=Halving() if halving else None)
        start = time.perf_counter()
        results = run_search(
            {"model": problem.space}, budget, evaluate, seed=seed,
            strategy=strategy.removesuffix("_halving"), stopping=stopping,
        )  # fmt: skip
        overhead = time.perf_counter() - start - sum(r.fit_seconds for r in results)
        scores = [r.score for r in results]
        run.trajectory = scores
        if strategy == "random":
            fill_prefix_budgets(run, scores, [r.fit_seconds for r in results], overhead, budgets)
        else:
            run.best[budget] = select_best(results).score
            # fewer once a small space is used up; a cheap look counts as its fraction
            run.evaluations[budget] = round(count_spent(results))
            run.seconds[budget] = spent + max(overhead, 0.0)
    return run


def fill_prefix_budgets(
    run: Run, scores: list[float], costs: list[float], overhead: float, budgets: tuple[int, ...]
) -> None:
    """Budgets of an anytime method read off the prefix of its longest run."""
    running = best_so_far(scores)
    for budget in budgets:
        run.best[budget] = running[budget - 1]
        run.evaluations[budget] = budget
        run.seconds[budget] = sum(costs[:budget]) + max(overhead, 0.0) * budget / len(scores)


def run_tpe(problem: Problem, seed: int, budgets: tuple[int, ...]) -> Run:
    """Optuna's TPE sampler, sequential, with the same ranges and log scales."""
    costs: list[float] = []

    def objective(trial: optuna.Trial) -> float:
        params = {name: suggest(trial, name, spec) for name, spec in problem.space.items()}
        score, seconds = problem.score(params)
        costs.append(seconds)
        return score if math.isfinite(score) else -1e9

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    start = time.perf_counter()
    study.optimize(objective, n_trials=budgets[-1])
    overhead = time.perf_counter() - start - sum(costs)
    scores = [t.value if t.value is not None and t.value > -1e9 else math.nan for t in study.trials]
    run = Run({}, scores, {}, {})
    fill_prefix_budgets(run, scores, costs, overhead, budgets)
    return run


def suggest(trial: optuna.Trial, name: str, spec: ParamSpec) -> Any:
    """One Optuna suggestion mirroring a ParamSpec."""
    if spec.type == "categorical":
        return trial.suggest_categorical(name, spec.choices)
    if spec.type == "int":
        return trial.suggest_int(name, math.ceil(spec.low), math.floor(spec.high), log=spec.log)
    return trial.suggest_float(name, spec.low, spec.high, log=spec.log)


class LogUniformInt:
    """An integer distribution uniform in log space (scipy has none), for HalvingRandomSearchCV."""

    def __init__(self, low: int, high: int) -> None:
        self.low, self.high = low, high

    def rvs(self, size: Any = None, random_state: Any = None) -> Any:
        draw = stats.loguniform(self.low, self.high).rvs(size=size, random_state=random_state)
        return np.clip(np.round(draw), self.low, self.high).astype(int)


def to_distribution(spec: ParamSpec) -> Any:
    """The scipy distribution HalvingRandomSearchCV samples for a ParamSpec."""
    if spec.type == "categorical":
        return spec.choices
    if spec.type == "int":
        low, high = math.ceil(spec.low), math.floor(spec.high)
        return LogUniformInt(low, high) if spec.log else stats.randint(low, high + 1)
    return (
        stats.loguniform(spec.low, spec.high)
        if spec.log
        else stats.uniform(spec.low, spec.high - spec.low)
    )


def halving_evaluations(n_candidates: int, factor: int = 3) -> int:
    """Candidate-rung evaluations of a halving search starting from `n_candidates` (enough data)."""
    total, alive = 0, n_candidates
    for _ in range(1 + math.floor(math.log(n_candidates, factor) + 1e-9)):
        total += alive
        alive = math.ceil(alive / factor)
    return total


def run_halving(problem: Problem, seed: int, budgets: tuple[int, ...]) -> Run:
    """Successive halving over n_samples, as many starting candidates as the budget allows."""
    run = Run({}, [], {}, {})
    for budget in budgets:
        n_candidates = max(c for c in range(1, budget + 1) if halving_evaluations(c) <= budget)
        search = HalvingRandomSearchCV(
            problem.build({}),
            {name: to_distribution(spec) for name, spec in problem.space.items()},
            n_candidates=n_candidates, factor=3, min_resources="exhaust", cv=problem.splits,
            scoring=problem.scoring, refit=False, random_state=seed, n_jobs=1, error_score=np.nan,
        )  # fmt: skip
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            search.fit(problem.X, problem.y)
        elapsed = time.perf_counter() - start
        params = {
            k: v.item() if isinstance(v, np.generic) else v for k, v in search.best_params_.items()
        }
        run.best[budget] = problem.score(params)[0]
        run.evaluations[budget] = int(sum(search.n_candidates_))
        run.seconds[budget] = elapsed
    return run


def run_method(method: str, problem: Problem, seed: int, budgets: tuple[int, ...]) -> Run:
    """Dispatch one method on one dataset x seed."""
    if method == "tpe":
        return run_tpe(problem, seed, budgets)
    if method == "halving":
        return run_halving(problem, seed, budgets)
    return run_engine(problem, seed, budgets, method)


def evaluations_to_reach(run: Run, target: float) -> int | None:
    """Evaluations until within TOLERANCE of `target`: from the trajectory of the longest run,
    or, for halving (whose rung scores are not comparable), the smallest budget that got there."""
    if run.trajectory:
        running = best_so_far(run.trajectory)
        return next((i + 1 for i, best in enumerate(running) if best >= target - TOLERANCE), None)
    return next(
        (run.evaluations[b] for b in sorted(run.best) if run.best[b] >= target - TOLERANCE), None
    )


def benchmark_pair(
    quick: bool, problem_index: int, seed: int, budgets: tuple[int, ...]
) -> list[dict[str, Any]]:
    """Every method on one dataset x seed; one record per method."""
    problem = load_problems(quick)[problem_index]
    with threadpool_limits(1):
        runs = {method: run_method(method, problem, seed, budgets) for method in METHODS}
    best_any = max(max(run.best.values()) for run in runs.values())
    print(
        f"  {problem.name} seed {seed} regret@{budgets[-1]}: "
        + ", ".join(f"{m} {best_any - r.best[budgets[-1]]:.4f}" for m, r in runs.items()),
        flush=True,
    )
    return [
        {
            "dataset": problem.name, "seed": seed, "method": method, "best_any": best_any,
            "best": run.best, "regret": {b: best_any - run.best[b] for b in budgets},
            "evaluations": run.evaluations,
            "evaluations_to_within_tolerance": evaluations_to_reach(run, best_any),
            "seconds": run.seconds,
        }
        for method, run in runs.items()
    ]  # fmt: skip


def benchmark(quick: bool, seeds: int, budgets: tuple[int, ...], jobs: int) -> list[dict[str, Any]]:
    """All dataset x seed pairs, in `jobs` processes; each process keeps its own score cache."""
    problems = load_problems(quick)
    pairs = [(i, seed) for i in range(len(problems)) for seed in range(seeds)]
    pairs.sort(
        key=lambda pair: "/svc" in problems[pair[0]].name
    )  # slow HGB pairs first balance the pool
    if jobs <= 1:
        return [record for pair in pairs for record in benchmark_pair(quick, *pair, budgets)]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(benchmark_pair, quick, *pair, budgets) for pair in pairs]
        return [record for future in futures for record in future.result()]


def summarize(records: list[dict[str, Any]], budgets: tuple[int, ...]) -> dict[str, Any]:
    """Mean regret per dataset x method, and how often coarse_to_fine matches TPE and random."""
    frame = pd.DataFrame(records)
    table = []
    for (dataset, method), group in frame.groupby(["dataset", "method"], sort=False):
        reached = [
            n for n in group["evaluations_to_within_tolerance"] if n is not None and not pd.isna(n)
        ]
        table.append({
            "dataset": dataset, "method": method,
            **{f"regret@{b}": float(np.mean([r[b] for r in group["regret"]])) for b in budgets},
            "evals_to_tol": float(np.mean(reached)) if reached else None,
            "reached": f"{len(reached)}/{len(group)}",
            "seconds@max": float(np.mean([s[budgets[-1]] for s in group["seconds"]])),
        })  # fmt: skip
    summary: dict[str, Any] = {"table": table}
    pairings = [("coarse_to_fine", rival) for rival in ("tpe", "random", "halving", "grid")]
    pairings += [("coarse_to_fine_halving", rival) for rival in ("coarse_to_fine", "tpe")]
    for method, rival in pairings:
        ours = frame[frame.method == method].set_index(["dataset", "seed"])
        theirs = frame[frame.method == rival].set_index(["dataset", "seed"])
        name = rival if method == "coarse_to_fine" else f"{rival}_by_{method}"
        for b in budgets[-2:]:
            gaps = [ours.loc[k, "regret"][b] - theirs.loc[k, "regret"][b] for k in ours.index]
            summary[f"share_regret_le_{name}@{b}"] = float(np.mean([g <= 1e-12 for g in gaps]))
            # differences under TOLERANCE are CV noise (one sample of wine's 178 is 0.0056)
            summary[f"share_regret_within_tolerance_of_{name}@{b}"] = float(
                np.mean([g <= TOLERANCE for g in gaps])
            )
    for b in budgets:
        by_dataset = (
            frame.assign(r=[r[b] for r in frame.regret])
            .groupby(["dataset", "method"])["r"]
            .mean()
            .unstack()
        )
        summary[f"datasets_where_ours_mean_regret_le_random@{b}"] = int(
            (by_dataset["coarse_to_fine"] <= by_dataset["random"] + 1e-12).sum()
        )
        summary[f"mean_regret@{b}"] = (
            frame.assign(r=[r[b] for r in frame.regret]).groupby("method")["r"].mean().to_dict()
        )
    summary["n_datasets"] = int(frame.dataset.nunique())
    return summary


def print_report(summary: dict[str, Any], budgets: tuple[int, ...]) -> None:
    """The per dataset x method table and the headline comparisons."""
    table = pd.DataFrame(summary["table"]).set_index(["dataset", "method"])
    with pd.option_context(
        "display.width", 200, "display.max_rows", 200, "display.float_format", "{:.4f}".format
    ):
        print(table.to_string())
    for key, value in summary.items():
        if key != "table":
            shown = {k: round(v, 4) for k, v in value.items()} if isinstance(value, dict) else value
            print(f"{key}: {shown}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="three small datasets, one seed, budgets up to 16"
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=None,
        help="seeds per dataset (default 20, quick 1): a share over 6 x 20 pairs has a standard "
        "error of about 4 points, over 6 x 10 about 6, as wide as the margin the target tests",
    )
    parser.add_argument(
        "--jobs", type=int, default=2, help="worker processes (dataset x seed pairs)"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="default bench/results/search.json (quick: search_quick.json)",
    )
    args = parser.parse_args()
    seeds = args.seeds or (1 if args.quick else 20)
    # a smoke run must not overwrite the measured results kept in the repository
    args.output = args.output or ROOT / "bench" / "results" / (
        "search_quick.json" if args.quick else "search.json"
    )
    budgets = BUDGETS[:2] if args.quick else BUDGETS
    start = time.perf_counter()
    records = benchmark(args.quick, seeds, budgets, args.jobs)
    summary = summarize(records, budgets)
    summary["wall_seconds"] = time.perf_counter() - start
    print_report(summary, budgets)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(
            {"records": records, "summary": summary, "quick": args.quick, "seeds": seeds},
            indent=1,
            default=str,
        )
    )
    print(f"wrote {args.output} in {summary['wall_seconds']:.0f} s")


if __name__ == "__main__":
    main()
