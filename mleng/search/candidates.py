"""Where one family's fine-round configurations come from: a box, candidates in it, a screen.

The box spans the family's top results in unit (log) space plus a margin that shrinks over the
fine stage; Sobol candidates are drawn inside it (categorical values favour those of the top
results), widened towards the whole space when the box holds too few configurations not yet
scored, and the surrogate keeps the few it ranks highest. This is the geometry of one family;
`mleng.search.fine` decides how many trials each family gets and which ones explore.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mleng.search.space import (
    Space,
    config_key,
    decode_point,
    encode_params,
    is_exhausted,
    sample_unit_points,
    unseen_configs,
)
from mleng.search.surrogate import Surrogate, fit_surrogate, rank_candidates

if TYPE_CHECKING:  # mleng.search.fine imports this module, so only for annotations
    from mleng.search.fine import FineSettings, Observation

Box = tuple[np.ndarray, np.ndarray]
"""The (lower, upper) corners of a box in the unit cube."""


def whole_space(space: Space) -> Box:
    """The box of the whole unit cube."""
    return np.zeros(len(space)), np.ones(len(space))


def search_box(
    points: np.ndarray, scores: np.ndarray, n_top: int, margin: float
) -> tuple[np.ndarray, np.ndarray]:
    """The unit-space box spanning the `n_top` best points, widened by `margin`, inside [0, 1]."""
    top = np.argsort(-scores, kind="stable")[:n_top]
    lower = np.clip(points[top].min(axis=0) - margin, 0.0, 1.0)
    upper = np.clip(points[top].max(axis=0) + margin, 0.0, 1.0)
    return lower, upper


def fine_box(
    space: Space, observations: list[Observation], progress: float, settings: FineSettings
) -> tuple[np.ndarray, np.ndarray]:
    """The box for one family at `progress` through the fine stage, from its results so far."""
    scored = [(params, score) for _, params, score in observations if math.isfinite(score)]
    points = np.array([encode_params(space, params) for params, _ in scored])
    scores = np.array([score for _, score in scored])
    return search_box(points, scores, settings.top_count, box_margin(progress, settings))


def box_margin(progress: float, settings: FineSettings) -> float:
    """The margin around the top results, shrinking geometrically from first to last fine round.

    Tied to progress rather than to the round number, so a budget with eight fine rounds
    narrows as far as one with four, only more gradually; a fixed halving per round refined
    too slowly with few rounds or collapsed too early with many (bench/search.py).
    """
    return settings.first_margin * (settings.last_margin / settings.first_margin) ** progress


def choose_categories(
    space: Space, favoured: list[dict[str, Any]], n_points: int, rng: np.random.Generator
) -> dict[str, list[Any]]:
    """Categorical values for new points: choices seen in the `favoured` results come up more.

    Each choice's probability is its count among the favoured results plus one half, so an
    unseen choice keeps a small chance instead of being ruled out by a handful of trials.
    """
    chosen: dict[str, list[Any]] = {}
    for name, spec in space.items():
        if spec.type != "categorical":
            continue
        assert spec.choices
        counts = (
            np.array([sum(p[name] == c for p in favoured) for c in spec.choices], dtype=float) + 0.5
        )
        picks = rng.choice(len(spec.choices), size=n_points, p=counts / counts.sum())
        chosen[name] = [spec.choices[i] for i in picks]
    return chosen


@dataclass(frozen=True)
class FamilyState:
    """One family as a fine round sees it.

    `seen` holds the keys of every configuration already scored or proposed in this round; it
    grows as the round proposes, so no configuration is proposed twice.
    """

    space: Space
    observations: list[Observation]
    model: Surrogate | None
    seen: set[str]


def draw_candidates(
    family: FamilyState,
    box: Box,
    favoured: list[dict[str, Any]],
    n_candidates: int,
    settings: FineSettings,
    rng: np.random.Generator,
) -> list[dict[str, Any]]:
    """Up to `n_candidates` new configurations inside the box, none in `family.seen`.

    Integer and categorical parameters make repeats likely in a small box; a repeat is redrawn
    uniformly in the box a few times, then dropped: fewer candidates means the box is full.
    """
    space, (lower, upper) = family.space, box
    numeric = [i for i, spec in enumerate(space.values()) if spec.type != "categorical"]
    categories = choose_categories(space, favoured, n_candidates, rng)
    sobol = sample_unit_points(n_candidates, len(numeric), rng)
    drawn: set[str] = set()
    candidates = []
    for row in range(n_candidates):
        for attempt in range(settings.max_redraws + 1):
            point = np.full(len(space), 0.5)
            draw = sobol[row] if attempt == 0 else rng.random(len(numeric))
            point[numeric] = lower[numeric] + draw * (upper[numeric] - lower[numeric])
            params = decode_point(space, point)
            params.update({name: values[row] for name, values in categories.items()})
            key = config_key(params)
            if key not in family.seen and key not in drawn:
                drawn.add(key)
                candidates.append(params)
                break
    return candidates


def gather_candidates(
    family: FamilyState,
    box: Box,
    favoured: list[dict[str, Any]],
    n_wanted: int,
    settings: FineSettings,
    rng: np.random.Generator,
) -> tuple[list[dict[str, Any]], Box]:
    """New candidates for `n_wanted` trials, and the box they came from.

    `candidates_per_trial` are drawn per trial. When the box holds fewer than `n_wanted` new
    configurations (an integer box late in the search), it is widened step by step up to the
    whole space, and in a small space that is nearly used up the configurations left are
    listed. Fewer than `n_wanted` come back only when the family's space has no more.
    """
    if n_wanted <= 0 or is_exhausted(family.space, family.seen):
        return [], box
    n_candidates = n_wanted * settings.candidates_per_trial
    candidates = draw_candidates(family, box, favoured, n_candidates, settings, rng)
    (lower, upper), whole = box, whole_space(family.space)
    for extra in settings.widenings:
        if len(candidates) >= n_wanted or np.array_equal(np.stack(box), np.stack(whole)):
            break
        box = (np.clip(lower - extra, 0.0, 1.0), np.clip(upper + extra, 0.0, 1.0))
        keys = {config_key(params) for params in candidates}
        wider = draw_candidates(family, box, favoured, n_candidates, settings, rng)
        candidates += [params for params in wider if config_key(params) not in keys]
    if len(candidates) < n_wanted:
        left = unseen_configs(family.space, family.seen | {config_key(p) for p in candidates})
        if left:
            picks = rng.choice(len(left), size=min(n_candidates, len(left)), replace=False)
            candidates += [left[i] for i in sorted(picks)]
            box = whole
    return candidates, box


def fit_family_surrogate(
    space: Space, observations: list[Observation], settings: FineSettings
) -> Surrogate | None:
    """A surrogate of one family's scores over its unit cube, once it has enough successes."""
    scored = [(params, score) for _, params, score in observations if math.isfinite(score)]
    if len(scored) < settings.min_observations_to_screen:
        return None
    points = np.array([encode_params(space, params) for params, _ in scored])
    return fit_surrogate(points, np.array([score for _, score in scored]))


def screen_candidates(
    family: FamilyState,
    candidates: list[dict[str, Any]],
    n_chosen: int,
    box_diagonal: float,
    settings: FineSettings,
) -> list[dict[str, Any]]:
    """The `n_chosen` candidates the surrogate ranks highest, a tenth of the box apart.

    Every candidate is new (none scored or proposed yet), so a configuration already scored
    cannot be chosen: the next-best candidate takes the place it would have had.
    """
    if not candidates:
        return []
    encoded = np.array([encode_params(family.space, params) for params in candidates])
    chosen = rank_candidates(
        family.model, encoded, n_chosen, settings.confidence_weight, 0.1 * box_diagonal
    )
    return [candidates[i] for i in chosen]


def propose_in_box(
    family: FamilyState,
    box: Box,
    favoured: list[dict[str, Any]],
    n_points: int,
    settings: FineSettings,
    rng: np.random.Generator,
) -> list[dict[str, Any]]:
    """`n_points` new configurations of one family from the box, fewer if its space runs out."""
    candidates, box = gather_candidates(family, box, favoured, n_points, settings, rng)
    diagonal = float(np.linalg.norm(box[1] - box[0]))
    chosen = screen_candidates(family, candidates, n_points, diagonal, settings)
    family.seen.update(config_key(params) for params in chosen)
    return chosen
