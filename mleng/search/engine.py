"""Coarse-to-fine hyperparameter search: a pure, seeded engine that proposes and refines.

The engine never fits a model. The caller supplies `evaluate`, which scores a batch of trials
(the Prefect flow runs each, one after another, as a task and an MLflow child run; a batch is
what an evaluator could spread over workers), and the engine decides what to try next. Scores
are always higher-is-better; the caller negates losses, and a failed fit is reported as nan,
which is never selected or refined.

Strategies and the `stage` their trials carry:
- `coarse_to_fine`: a coarse round of quasi-random configurations spread round-robin over
  families (`stage="coarse"`, round 0), then fine rounds that concentrate around the best
  results in shrinking boxes (`stage="fine"`, rounds 1, 2, ...). See `mleng.search.fine`.
  With `patience`, it stops early once that many fine rounds in a row gained no more than
  `min_improvement` over the best score before them: the unspent budget is compute saved.
  With `halving`, the coarse round looks at more configurations cheaply (`fidelity` < 1: a
  share of each fold's training rows) and scores only the most promising at full cost
  (`mleng.search.halving`); only full-cost scores are refined, compared or selected.
- `random`: every trial drawn uniformly over its family's space, families round-robin
  (`stage="random"`, one round).
- `grid`: a per-family grid of evenly spaced values, log-spaced where log, the budget split
  evenly over families (`stage="grid"`, one round).

No strategy scores a configuration twice: a configuration is its family and its decoded
values, exactly as the evaluator receives them (`mleng.search.space.config_key`). A proposal
that repeats one already scored is replaced by another (the next-best candidate in the fine
stage, a fresh draw elsewhere). When the spaces hold fewer configurations than the budget,
the search ends once every one is scored and returns fewer results than the budget, which the
caller reads as stopping early, like `patience`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from mleng.card import ParamSpec
from mleng.errors import SearchError
from mleng.search.fine import FineRound, FineSettings, Observation, propose_fine_round
from mleng.search.halving import Halving, choose_promotions, plan_halving
from mleng.search.space import (
    Space,
    build_family_grid,
    config_key,
    count_configs,
    is_exhausted,
    new_config,
    sample_unit_points,
    validate_spaces,
)

Stage = Literal["coarse", "fine", "random", "grid", "confirm"]
STRATEGIES: tuple[str, ...] = ("coarse_to_fine", "random", "grid")

COARSE_SHARE = 0.25
MIN_COARSE = 6
MAX_FINE_ROUNDS = 8
MIN_FINE_ROUND_SIZE = 3
FINE_SETTINGS = FineSettings()


@dataclass(frozen=True)
class Trial:
    """One configuration to evaluate: its family, parameter values and place in the search.

    `stage` is "coarse" or "fine" for coarse_to_fine, "random" or "grid" for those strategies,
    "confirm" for the draws scored on more rows after the search (mleng/training/confirm.py);
    `round` counts batches from 0; `index` runs 0, 1, ... in order of proposal. `fidelity` is
    the share of each fold's training rows to fit on: 1 except for halving's cheap looks, whose
    scores are only ever compared with each other.
    """

    family: str
    params: dict[str, Any]
    stage: Stage
    round: int
    index: int
    fidelity: float = 1.0


@dataclass(frozen=True)
class TrialResult:
    """A trial's cross-validated score: higher is better; nan means the fit failed.

    `out_of_fold` is what the evaluator kept of the fold models' held-out predictions (for a
    final ensemble, `mleng.training.cv.OutOfFold`); the engine never reads it, and it takes no
    part in comparing results.
    """

    trial: Trial
    score: float
    score_std: float
    fit_seconds: float
    out_of_fold: Any = field(default=None, compare=False, repr=False)


EvaluateBatch = Callable[[list[Trial]], list[TrialResult]]
Proposal = tuple[str, dict[str, Any]]


@dataclass(frozen=True)
class EarlyStopping:
    """When a coarse_to_fine search may stop before its budget.

    With `patience`, it stops once that many fine rounds in a row gained no more than
    `min_improvement` over the best score before them; without, it spends the whole budget.
    With `time_budget_s` (any strategy), no trial is proposed once that much wall time has
    passed; the first round (one trial per family at least) always runs, and later trials are
    scored one at a time so the search stops within one trial of the deadline.
    With `halving` (coarse_to_fine), coarse configurations whose cheap look is not among the
    best stop there, and the budget they save buys more coarse configurations.
    """

    patience: int | None = None
    min_improvement: float = 0.0
    time_budget_s: float | None = None
    halving: Halving | None = None


def plan_stages(budget: int, n_families: int) -> list[int]:
    """Batch sizes per round, coarse first, summing to `budget`.

    A quarter of the budget, but at least six trials and one per family, goes to the coarse
    round; the rest is split evenly into eight fine rounds, or fewer when a round would drop
    below three trials. Many small rounds let each box build on the last one's results; three
    trials still give an evaluator a batch to spread over workers. Measured on bench/search.py
    against TPE (6 problems x seeds 200-219, share of pairs at least as good at 32 / 64
    evaluations): rounds of at least six (four rounds at 32) 68% / 74%; rounds of at least
    three (eight rounds at 32) 74% / 74%.
    Forty percent coarse with three fine rounds refined too late at budgets of 32 and more.
    """
    check_budget(budget, n_families)
    n_coarse = max(n_families, math.ceil(COARSE_SHARE * budget), min(budget, MIN_COARSE))
    n_fine = budget - n_coarse
    if n_fine == 0:
        return [n_coarse]
    n_rounds = min(MAX_FINE_ROUNDS, max(1, n_fine // MIN_FINE_ROUND_SIZE))
    return [n_coarse, *split_evenly(n_fine, n_rounds)]


def check_budget(budget: int, n_families: int) -> None:
    """Refuse budgets that cannot evaluate every family once."""
    if n_families < 1:
        raise SearchError("the search has no model families; add at least one family with a space")
    if budget < n_families:
        raise SearchError(
            f"search budget {budget} is below the number of model families ({n_families}); every "
            "family needs at least one evaluation: raise the budget or drop families"
        )


def split_evenly(total: int, n_parts: int) -> list[int]:
    """`total` split into `n_parts` sizes differing by at most one, larger parts first."""
    return [total // n_parts + (1 if part < total % n_parts else 0) for part in range(n_parts)]


def run_search(
    spaces: dict[str, dict[str, ParamSpec]],
    budget: int,
    evaluate: EvaluateBatch,
    seed: int = 0,
    strategy: str = "coarse_to_fine",
    stopping: EarlyStopping = EarlyStopping(),
) -> list[TrialResult]:
    """Propose, evaluate and refine until `budget` trials are scored; results by index.

    Fewer come back when `stopping` ends a coarse_to_fine search early, or when the spaces hold
    fewer distinct configurations than the budget (each is scored once, never twice). The
    same spaces, budget, seed and scores give the same trials, so a search is reproducible
    from its config alone.
    """
    checked = validate_spaces(spaces)
    check_budget(budget, len(checked))
    if strategy not in STRATEGIES:
        raise SearchError(f"unknown search strategy '{strategy}'; use one of {list(STRATEGIES)}")
    rng = np.random.default_rng(seed)
    clock = Deadline(stopping.time_budget_s)
    if strategy in ("random", "grid"):
        propose = propose_random if strategy == "random" else propose_grid
        proposals = drop_repeats(propose(checked, budget, rng), [])
        if clock.seconds is None:
            return evaluate_batch(evaluate, proposals, strategy, 0, 0)
        first = len(checked)  # at least as many trials as families, as the coarse round
        results = evaluate_batch(evaluate, proposals[:first], strategy, 0, 0)
        return results + evaluate_until(evaluate, proposals[first:], (strategy, 0), results, clock)
    results: list[TrialResult] = []
    stages = plan_stages(budget, len(checked))
    stale_rounds = 0
    for round_number, size in enumerate(stages):
        if stopping.patience is not None and stale_rounds >= stopping.patience:
            break
        if round_number > 0 and clock.spent():
            break
        if round_number == 0 and stopping.halving is not None and strategy == "coarse_to_fine":
            results += run_halving_round(checked, size, evaluate, rng, stopping.halving)
            continue
        if round_number == 0:
            proposals, stage = propose_coarse(checked, size, rng), "coarse"
        else:
            history: list[Observation] = [
                (r.trial.family, r.trial.params, r.score) for r in full_cost(results)
            ]
            fine_round = FineRound(round_number, len(stages) - 1, size)
            proposals = propose_fine_round(checked, history, fine_round, rng, FINE_SETTINGS)
            stage = "fine"
        proposals = drop_repeats(proposals, results)
        if not proposals:
            break  # every configuration of every family has been scored
        best_before = best_score(results)
        if round_number == 0 or clock.seconds is None:
            results += evaluate_batch(evaluate, proposals, stage, round_number, len(results))
        else:
            results += evaluate_until(evaluate, proposals, (stage, round_number), results, clock)
        if round_number > 0:
            gained = best_score(results) - best_before
            stale_rounds = 0 if gained > stopping.min_improvement else stale_rounds + 1
    return results


def run_halving_round(
    spaces: dict[str, Space],
    size: int,
    evaluate: EvaluateBatch,
    rng: np.random.Generator,
    halving: Halving,
) -> list[TrialResult]:
    """The coarse round as successive halving: cheap looks, then the best at full cost, both
    rungs together costing no more than `size` full evaluations."""
    plan = plan_halving(size, len(spaces), halving)
    if plan is None:  # too few coarse trials to gain from cheap looks: a plain coarse round
        return evaluate_batch(evaluate, propose_coarse(spaces, size, rng), "coarse", 0, 0)
    n_candidates, n_promoted = plan
    proposals = drop_repeats(propose_coarse(spaces, n_candidates, rng), [])
    cheap = evaluate_batch(evaluate, proposals, "coarse", 0, 0, halving.fraction)
    looks = [(r.trial.family, r.trial.params, r.score) for r in cheap]
    promoted = choose_promotions(looks, n_promoted)
    return cheap + evaluate_batch(evaluate, promoted, "coarse", 0, len(cheap))


def full_cost(results: list[TrialResult]) -> list[TrialResult]:
    """The results scored at full cost: the only ones that are refined, compared or selected."""
    return [result for result in results if result.trial.fidelity >= 1.0]


def count_spent(results: list[TrialResult]) -> float:
    """The budget the results used, in full-cost evaluations (a cheap look counts its share)."""
    return float(sum(result.trial.fidelity for result in results))


@dataclass
class Deadline:
    """A wall-clock budget started when the search starts (None: no limit)."""

    seconds: float | None
    started: float = field(default_factory=time.monotonic)

    def spent(self) -> bool:
        return self.seconds is not None and time.monotonic() - self.started >= self.seconds


def evaluate_until(
    evaluate: EvaluateBatch,
    proposals: list[Proposal],
    where: tuple[Stage, int],
    results: list[TrialResult],
    clock: Deadline,
) -> list[TrialResult]:
    """The proposals scored one at a time until the deadline passes (results so far given for
    the trial indices)."""
    stage, round_number = where
    scored: list[TrialResult] = []
    for proposal in proposals:
        if clock.spent():
            break
        scored += evaluate_batch(
            evaluate, [proposal], stage, round_number, len(results) + len(scored)
        )
    return scored


def drop_repeats(proposals: list[Proposal], results: list[TrialResult]) -> list[Proposal]:
    """The proposals without any configuration already scored or proposed earlier in the batch.

    The proposers already avoid repeats; this is the one place that guarantees it. A cheap look
    does not count as scored: a configuration halving stopped may come back at full cost.
    """
    seen = {(r.trial.family, config_key(r.trial.params)) for r in full_cost(results)}
    kept = []
    for family, params in proposals:
        key = (family, config_key(params))
        if key not in seen:
            seen.add(key)
            kept.append((family, params))
    return kept


def best_score(results: list[TrialResult]) -> float:
    """The best finite full-cost score so far, -inf before any (so a first success is a gain)."""
    return max((r.score for r in full_cost(results) if math.isfinite(r.score)), default=-math.inf)


def evaluate_batch(
    evaluate: EvaluateBatch,
    proposals: list[Proposal],
    stage: Stage,
    round_number: int,
    first_index: int,
    fidelity: float = 1.0,
) -> list[TrialResult]:
    """Turn proposals into trials, score them, and check the evaluator answered each one once."""
    trials = [
        Trial(family, params, stage, round_number, first_index + i, fidelity)
        for i, (family, params) in enumerate(proposals)
    ]
    results = list(evaluate(trials))
    by_index = {result.trial.index: result for result in results}
    if len(results) != len(trials) or sorted(by_index) != [t.index for t in trials]:
        raise SearchError(
            f"the evaluator returned {len(results)} results for {len(trials)} trials of round "
            f"{round_number}; it must return exactly one TrialResult per trial"
        )
    return [by_index[t.index] for t in trials]


def propose_coarse(
    spaces: dict[str, Space], n_trials: int, rng: np.random.Generator
) -> list[Proposal]:
    """Quasi-random configurations over the wide ranges, families interleaved round-robin.

    Each family gets an equal share (earlier families take the remainder) but never more than
    it has configurations, drawn as one Sobol batch so a family's few coarse points cover its
    space rather than clump; a point that rounds to an earlier one is replaced by a new one.
    """
    families = list(spaces)
    shares = split_with_capacity(n_trials, [count_configs(spaces[f]) for f in families])
    per_family = {}
    for family, n in zip(families, shares, strict=True):
        space, seen = spaces[family], set()
        configs = []
        for point in sample_unit_points(n, len(space), rng):
            params = new_config(space, point, seen, rng)
            if params is not None:
                seen.add(config_key(params))
                configs.append(params)
        per_family[family] = configs
    return interleave(per_family)


def propose_random(
    spaces: dict[str, Space], n_trials: int, rng: np.random.Generator
) -> list[Proposal]:
    """Plain random search: iid uniform draws, families round-robin, the usual baseline.

    A draw that repeats an earlier configuration is redrawn, and a family whose space is used
    up drops out of the rotation; each trial depends only on those before it, so a shorter
    budget proposes a prefix of a longer one.
    """
    families = list(spaces)
    seen: dict[str, set[str]] = {family: set() for family in families}
    open_families = set(families)
    proposals: list[Proposal] = []
    turn = 0
    while len(proposals) < n_trials and open_families:
        family = families[turn % len(families)]
        turn += 1
        space = spaces[family]
        if family not in open_families or is_exhausted(space, seen[family]):
            open_families.discard(family)
            continue
        params = new_config(space, rng.random(len(space)), seen[family], rng)
        if params is None:
            open_families.discard(family)
            continue
        seen[family].add(config_key(params))
        proposals.append((family, params))
    return proposals


def propose_grid(
    spaces: dict[str, Space], n_trials: int, rng: np.random.Generator
) -> list[Proposal]:
    """A grid per family, the budget split evenly except where a family has fewer configs."""
    capacities = [count_configs(space) for space in spaces.values()]
    shares = split_with_capacity(n_trials, capacities)
    per_family = {
        family: build_family_grid(space, n, rng)
        for (family, space), n in zip(spaces.items(), shares, strict=True)
    }
    return interleave(per_family)


def split_with_capacity(total: int, capacities: list[float]) -> list[int]:
    """Split `total` evenly, giving a part no more than its capacity while others have room.

    A family with six possible configurations should not burn twenty trials on repeats while
    another family's grid could use them. When every part is full the shares sum to less than
    `total`: a configuration is never scored twice.
    """
    shares = [0] * len(capacities)
    remaining = total
    open_parts = [i for i, capacity in enumerate(capacities) if capacity > 0]
    while remaining > 0 and open_parts:
        for part, size in zip(open_parts, split_evenly(remaining, len(open_parts)), strict=True):
            shares[part] += min(size, int(min(capacities[part] - shares[part], total)))
        remaining = total - sum(shares)
        open_parts = [i for i in open_parts if shares[i] < capacities[i]]
    return shares


def interleave(per_family: dict[str, list[dict[str, Any]]]) -> list[Proposal]:
    """Family-by-family lists merged round-robin, so a partial batch still covers every family."""
    proposals: list[Proposal] = []
    longest = max((len(configs) for configs in per_family.values()), default=0)
    for position in range(longest):
        proposals.extend(
            (family, configs[position])
            for family, configs in per_family.items()
            if position < len(configs)
        )
    return proposals


def select_best(results: list[TrialResult]) -> TrialResult:
    """The highest-scoring successful full-cost trial; ties go to the earlier trial for
    reproducibility. A cheap look (halving) is never selected."""
    scored = [result for result in full_cost(results) if math.isfinite(result.score)]
    if not scored:
        raise SearchError(
            f"all {len(results)} search trials failed (score nan); check the evaluator's errors, "
            "the data, or the search ranges"
        )
    return max(scored, key=lambda result: (result.score, -result.trial.index))
