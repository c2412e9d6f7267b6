"""The fine stage: new configurations concentrated around the best results so far.

Each fine round
1. shares its trials among families by how close each family's best score is to the overall
   best (the best family gets most, a close runner-up some, a distant one none);
2. per family, builds a box in unit (log) space spanning its top three results, widened by a
   margin that shrinks from 15% to 2% of each range over the fine rounds, so the box narrows
   as the top results agree;
3. draws many Sobol candidates inside the box (categorical values favour those seen in the top
   results) and keeps the few a Gaussian-process surrogate ranks highest (`search_surrogate`);
4. spends a small share of the fine stage (about one trial in seven, spread over the rounds)
   on exploration: candidates over the whole space of the least-evaluated family, screened
   the same way, in case the coarse round misjudged a region or a family.

Candidates are only configurations not scored yet, so when the surrogate's favourite has been
scored, the next-best candidate takes its place. A box of integers can run out of new
configurations late in the search: it is then widened, up to the whole space, and trials a
used-up family cannot take go to the best family with room.

Sampling a box instead of laying a grid around the best keeps the cost linear in the number
of parameters: a grid needs 2^d points just to touch every corner, which is why "random, then
grid" loses to plain random search beyond a few parameters.

This module plans the rounds (steps 1 and 4, and the hand-over of trials a family cannot
take); the box and candidates of one family (steps 2 and 3) are in `mleng.search.candidates`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from mleng.search.candidates import (
    FamilyState,
    fine_box,
    fit_family_surrogate,
    propose_in_box,
    whole_space,
)
from mleng.search.space import MAX_REDRAWS, Space, config_key

Observation = tuple[str, dict[str, Any], float]
"""(family, params, score) of one evaluated trial; score is higher-is-better, nan if it failed."""
Proposal = tuple[str, dict[str, Any]]


@dataclass(frozen=True)
class FineSettings:
    """Knobs of the fine stage; the defaults were chosen on bench/search.py.

    Margins are fractions of a parameter's (log) range; `candidates_per_trial` candidates are
    drawn for each trial a round evaluates; `confidence_weight` is the surrogate's kappa.
    `widenings` are the extra margins tried in turn when a box holds too few configurations not
    yet scored (1.0 reaches the whole space).
    """

    top_count: int = 3
    first_margin: float = 0.15
    last_margin: float = 0.02
    family_sharpness: float = 4.0
    exploration_share: float = 0.15
    candidates_per_trial: int = 8
    confidence_weight: float = 1.0
    min_observations_to_screen: int = 5
    max_redraws: int = MAX_REDRAWS
    widenings: tuple[float, ...] = (0.1, 0.3, 1.0)


def allocate_fine_trials(
    family_best: dict[str, float], all_scores: list[float], n_trials: int, sharpness: float
) -> dict[str, int]:
    """Share `n_trials` among families: the best family gets most, close runners-up some.

    A family's weight decays exponentially with its gap to the overall best, measured in units
    of how far the best sits above the median result, so the split does not depend on the
    metric's scale. Families that only failed get nothing.
    """
    finite = {family: best for family, best in family_best.items() if math.isfinite(best)}
    if not finite or n_trials <= 0:
        return {family: 0 for family in family_best}
    best = max(finite.values())
    scale = best - float(np.median([s for s in all_scores if math.isfinite(s)]))
    scale = scale if scale > 1e-12 else 1.0
    weights = {
        family: math.exp(-sharpness * (best - value) / scale) for family, value in finite.items()
    }
    total = sum(weights.values())
    quotas = {family: n_trials * weight / total for family, weight in weights.items()}
    shares = {family: math.floor(quota) for family, quota in quotas.items()}
    # largest remainder, ties to the better family, so shares sum to n_trials exactly
    by_remainder = sorted(finite, key=lambda f: (quotas[f] - shares[f], finite[f]), reverse=True)
    for family in by_remainder[: n_trials - sum(shares.values())]:
        shares[family] += 1
    return {family: shares.get(family, 0) for family in family_best}


def fine_progress(round_number: int, n_rounds: int) -> float:
    """Where fine round `round_number` (1-based) of `n_rounds` sits, from 0 (first) to 1 (last)."""
    return (round_number - 1) / (n_rounds - 1) if n_rounds > 1 else 0.0


def propose_family_points(
    family: FamilyState,
    n_points: int,
    progress: float,
    settings: FineSettings,
    rng: np.random.Generator,
) -> list[dict[str, Any]]:
    """`n_points` configurations of one family from the box around its best results.

    A family with no success yet has no best to refine around: it draws over its whole space.
    """
    if n_points <= 0:
        return []
    scored = [(params, score) for _, params, score in family.observations if math.isfinite(score)]
    if not scored:
        return propose_in_box(family, whole_space(family.space), [], n_points, settings, rng)
    box = fine_box(family.space, family.observations, progress, settings)
    top = sorted(scored, key=lambda ps: -ps[1])[: settings.top_count]
    favoured = [params for params, _ in top]
    return propose_in_box(family, box, favoured, n_points, settings, rng)


def choose_exploration_families(
    spaces: dict[str, Space], history: list[Observation], n_trials: int
) -> list[str]:
    """The family of each exploration trial: the working family evaluated least so far.

    Exploring where we know least guards against a family judged on one unlucky coarse trial;
    families whose every fit failed are left out unless nothing has worked at all.
    """
    working = {f for f, _, s in history if math.isfinite(s)} or set(spaces)
    counts = {
        family: sum(f == family for f, _, _ in history) for family in spaces if family in working
    }
    families = []
    for _ in range(n_trials):
        family = min(counts, key=lambda f: counts[f])
        counts[family] += 1
        families.append(family)
    return families


def propose_exploration(
    family: FamilyState, settings: FineSettings, rng: np.random.Generator
) -> dict[str, Any] | None:
    """One configuration from the whole space, the best of a few candidates by the surrogate.

    None if the family's space has no configuration left that has not been scored.
    """
    chosen = propose_in_box(family, whole_space(family.space), [], 1, settings, rng)
    return chosen[0] if chosen else None


def count_exploration_trials(n_trials: int, round_number: int, share: float) -> int:
    """How many of round `round_number`'s `n_trials` explore, so `share` holds over the rounds.

    The share is rounded cumulatively (trials due by the end of this round minus those due
    by the end of the last), not per round: with rounds of three, rounding 15% of each round
    gives no exploration at all, and measured on bench/search.py that lost to TPE far more
    often (60% of pairs at 32 evaluations against 72% with cumulative rounding, seeds 100-109).
    """
    due_by_end, due_before = (
        math.floor(share * n_trials * rounds + 0.5) for rounds in (round_number, round_number - 1)
    )
    return min(n_trials, due_by_end - due_before)


@dataclass(frozen=True)
class FineRound:
    """Fine round `number` (1-based) of `n_rounds`, which evaluates `n_trials` trials."""

    number: int
    n_rounds: int
    n_trials: int

    @property
    def progress(self) -> float:
        """Where the round sits in the fine stage, from 0 (first) to 1 (last)."""
        return fine_progress(self.number, self.n_rounds)


def propose_fine_round(
    spaces: dict[str, Space],
    history: list[Observation],
    fine_round: FineRound,
    rng: np.random.Generator,
    settings: FineSettings = FineSettings(),
) -> list[Proposal]:
    """The (family, params) proposals of one fine round, none of them already in `history`.

    Fewer than `fine_round.n_trials` come back only when every family's space is used up.
    Trials a used-up family cannot take go to the others, best family first.
    """
    n_trials = fine_round.n_trials
    family_best = {
        family: max(
            (s for f, _, s in history if f == family and math.isfinite(s)), default=math.nan
        )
        for family in spaces
    }
    n_explore = count_exploration_trials(n_trials, fine_round.number, settings.exploration_share)
    if all(math.isnan(best) for best in family_best.values()):
        n_explore = n_trials  # nothing worked yet: there is no best to refine around
    shares = allocate_fine_trials(
        family_best, [s for _, _, s in history], n_trials - n_explore, settings.family_sharpness
    )
    explored = choose_exploration_families(spaces, history, n_explore)
    states: dict[str, FamilyState] = {}

    def state_of(family: str) -> FamilyState:
        """The family's state, its surrogate fitted on first use only."""
        if family not in states:
            observations = [o for o in history if o[0] == family]
            states[family] = FamilyState(
                spaces[family],
                observations,
                fit_family_surrogate(spaces[family], observations, settings),
                {config_key(params) for _, params, _ in observations},
            )
        return states[family]

    proposals: list[Proposal] = []
    for family, n_points in shares.items():
        if n_points > 0:
            points = propose_family_points(
                state_of(family), n_points, fine_round.progress, settings, rng
            )
            proposals.extend((family, params) for params in points)
    for family in explored:
        params = propose_exploration(state_of(family), settings, rng)
        if params is not None:
            proposals.append((family, params))
    # a family whose space ran out leaves trials over: the best family with room takes them
    by_best = sorted(
        spaces, key=lambda f: math.inf if math.isnan(family_best[f]) else -family_best[f]
    )
    for family in by_best:
        shortfall = n_trials - len(proposals)
        if shortfall <= 0:
            break
        points = propose_family_points(
            state_of(family), shortfall, fine_round.progress, settings, rng
        )
        proposals.extend((family, params) for params in points)
    return proposals
