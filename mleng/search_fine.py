"""The fine stage: new configurations concentrated around the best results so far.

Each fine round shares its trials among families by how close each family's best score is to
the overall best, then, per family, draws Sobol points inside a box spanning its top results
(in unit/log space) widened by a margin that shrinks round after round. Sampling a box instead
of laying a grid around the best keeps the cost linear in the number of parameters: a grid
needs 2^d points just to touch every corner, which is why "random, then grid" loses to plain
random search beyond a few parameters. A small share of each round explores the full space.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from mleng.search_space import Space, decode_point, encode_params, sample_unit_points

Observation = tuple[str, dict[str, Any], float]
"""(family, params, score) of one evaluated trial; score is higher-is-better, nan if it failed."""


@dataclass(frozen=True)
class FineSettings:
    """Knobs of the fine stage; the defaults were tuned on bench/search.py."""

    top_fraction: float = 0.25
    min_top: int = 3
    first_margin: float = 0.15
    margin_shrink: float = 0.5
    family_sharpness: float = 4.0
    exploration_share: float = 0.1
    max_redraws: int = 20
    shape: str = "span"
    coordinate_exploration: float = 0.0
    screen_factor: int = 0
    jitter: float = 0.25
    screen_kappa: float = 1.0


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
    weights = {family: math.exp(-sharpness * (best - value) / scale) for family, value in finite.items()}
    total = sum(weights.values())
    quotas = {family: n_trials * weight / total for family, weight in weights.items()}
    shares = {family: math.floor(quota) for family, quota in quotas.items()}
    # largest remainder, ties to the better family, so shares sum to n_trials exactly
    by_remainder = sorted(finite, key=lambda f: (quotas[f] - shares[f], finite[f]), reverse=True)
    for family in by_remainder[: n_trials - sum(shares.values())]:
        shares[family] += 1
    return {family: shares.get(family, 0) for family in family_best}


def search_box(points: np.ndarray, scores: np.ndarray, n_top: int, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """The unit-space box spanning the `n_top` best points, widened by `margin`, inside [0, 1]."""
    top = np.argsort(-scores, kind="stable")[:n_top]
    lower = np.clip(points[top].min(axis=0) - margin, 0.0, 1.0)
    upper = np.clip(points[top].max(axis=0) + margin, 0.0, 1.0)
    return lower, upper


def round_margin(round_number: int, settings: FineSettings) -> float:
    """The box margin of fine round `round_number` (1-based): it halves every round by default."""
    return settings.first_margin * settings.margin_shrink ** (round_number - 1)


def choose_categories(
    space: Space, params_top: list[dict[str, Any]], n_points: int, rng: np.random.Generator
) -> dict[str, list[Any]]:
    """Categorical values for the fine points: choices seen among the top results are favoured.

    Each choice's probability is its count among the top results plus one half, so an unseen
    choice keeps a small chance instead of being ruled out by a handful of trials.
    """
    chosen: dict[str, list[Any]] = {}
    for name, spec in space.items():
        if spec.type != "categorical":
            continue
        assert spec.choices
        counts = np.array([sum(p[name] == c for p in params_top) for c in spec.choices], dtype=float) + 0.5
        picks = rng.choice(len(spec.choices), size=n_points, p=counts / counts.sum())
        chosen[name] = [spec.choices[i] for i in picks]
    return chosen


def propose_family_points(
    space: Space,
    observations: list[Observation],
    n_points: int,
    round_number: int,
    seen: set[str],
    settings: FineSettings,
    rng: np.random.Generator,
) -> list[dict[str, Any]]:
    """`n_points` configurations of one family drawn inside the box around its best results."""
    if n_points <= 0:
        return []
    ok = [(params, score) for _, params, score in observations if math.isfinite(score)]
    points = np.array([encode_params(space, params) for params, _ in ok])
    scores = np.array([score for _, score in ok])
    n_top = max(settings.min_top, math.ceil(settings.top_fraction * len(ok)))
    margin = round_margin(round_number, settings)
    if settings.shape == "span":
        lower, upper = search_box(points, scores, n_top, margin)
    else:
        order = np.argsort(-scores, kind="stable")[:n_top]
        best = points[order[0]]
        reach = np.maximum(np.abs(points[order] - best).max(axis=0), margin)
        lower, upper = np.clip(best - reach, 0, 1), np.clip(best + reach, 0, 1)
        if settings.shape == "gauss":
            elite = points[order]
            weights = np.log(n_top + 0.5) - np.log(np.arange(1, n_top + 1)); weights /= weights.sum()
            parents = rng.choice(n_top, size=n_points, p=weights)
            sd = np.maximum(elite.std(axis=0), margin)
            gauss_points = np.clip(elite[parents] + rng.normal(size=(n_points, len(space))) * sd, 0, 1)
    top_params = [ok[i][0] for i in np.argsort(-scores, kind="stable")[:n_top]]
    n_final = n_points
    if settings.screen_factor > 1 and len(ok) >= 5:
        n_points = n_points * settings.screen_factor
    categories = choose_categories(space, top_params, n_points, rng)
    numeric = [i for i, spec in enumerate(space.values()) if spec.type != "categorical"]
    unit = sample_unit_points(n_points, len(numeric), rng)
    proposals = []
    for row in range(n_points):
        for attempt in range(settings.max_redraws + 1):
            point = np.full(len(space), 0.5)
            draw = unit[row] if attempt == 0 else rng.random(len(numeric))
            point[numeric] = lower[numeric] + draw * (upper[numeric] - lower[numeric])
            if settings.shape == "gauss" and attempt == 0:
                point[numeric] = gauss_points[row][numeric]
            if settings.shape == "recombine":
                elite = points[np.argsort(-scores, kind="stable")[:n_top]]
                donors = rng.integers(len(elite), size=len(numeric))
                jitter = (2 * draw - 1) * settings.jitter * (upper[numeric] - lower[numeric])
                point[numeric] = np.clip(elite[donors, numeric] + jitter, lower[numeric], upper[numeric])
            if numeric and rng.random() < settings.coordinate_exploration:
                point[numeric[rng.integers(len(numeric))]] = rng.random()
            params = decode_point(space, point)
            params.update({name: values[row] for name, values in categories.items()})
            if attempt == settings.max_redraws or config_key(params) not in seen:
                break
        if n_final == n_points:
            seen.add(config_key(params))
        proposals.append(params)
    if n_final < n_points:
        proposals = screen(space, proposals, points, scores, n_final, settings, rng)
        seen.update(config_key(p) for p in proposals)
    return proposals


def screen(space, candidates, points, scores, n_final, settings, rng):
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel
    d = points.shape[1]
    kernel = ConstantKernel(1.0, (1e-2, 1e2)) * Matern(length_scale=np.full(d, 0.3), length_scale_bounds=(1e-2, 1e1), nu=2.5) + WhiteKernel(1e-2, (1e-6, 1e0))
    gp = GaussianProcessRegressor(kernel, normalize_y=True, random_state=int(rng.integers(2**31)), n_restarts_optimizer=0)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gp.fit(points, scores)
    X = np.array([encode_params(space, c) for c in candidates])
    mu, sd = gp.predict(X, return_std=True)
    acq = mu + settings.screen_kappa * sd
    chosen = []
    order = np.argsort(-acq, kind="stable")
    min_dist = 0.05
    for i in order:
        if all(np.linalg.norm(X[i] - X[j]) > min_dist for j in chosen):
            chosen.append(i)
        if len(chosen) == n_final:
            break
    for i in order:
        if len(chosen) == n_final:
            break
        if i not in chosen:
            chosen.append(i)
    return [candidates[i] for i in chosen]


def config_key(params: dict[str, Any]) -> str:
    """A hashable identity of a configuration, to avoid proposing the same one twice."""
    return repr(sorted(params.items()))


def propose_fine_round(
    spaces: dict[str, Space],
    history: list[Observation],
    n_trials: int,
    round_number: int,
    rng: np.random.Generator,
    settings: FineSettings = FineSettings(),
) -> list[tuple[str, dict[str, Any]]]:
    """The (family, params) proposals of one fine round, given every observation so far."""
    family_best = {
        family: max((s for f, _, s in history if f == family and math.isfinite(s)), default=math.nan)
        for family in spaces
    }
    n_explore = math.floor(settings.exploration_share * n_trials)
    if all(math.isnan(best) for best in family_best.values()):
        n_explore = n_trials  # nothing worked yet: there is no best to refine around
    shares = allocate_fine_trials(
        family_best, [s for _, _, s in history], n_trials - n_explore, settings.family_sharpness
    )
    proposals: list[tuple[str, dict[str, Any]]] = []
    for family, n_points in shares.items():
        observations = [o for o in history if o[0] == family]
        seen = {config_key(params) for _, params, _ in observations}
        points = propose_family_points(spaces[family], observations, n_points, round_number, seen, settings, rng)
        proposals.extend((family, params) for params in points)
    proposals.extend(propose_exploration(spaces, history, n_explore, rng))
    return proposals


def propose_exploration(
    spaces: dict[str, Space], history: list[Observation], n_trials: int, rng: np.random.Generator
) -> list[tuple[str, dict[str, Any]]]:
    """Uniform draws over whole spaces, each going to the family evaluated least so far.

    Exploring where we know least guards against a family judged on one unlucky coarse trial.
    """
    counts = {family: sum(f == family for f, _, _ in history) for family in spaces}
    proposals = []
    for _ in range(n_trials):
        family = min(spaces, key=lambda f: counts[f])
        counts[family] += 1
        proposals.append((family, decode_point(spaces[family], rng.random(len(spaces[family])))))
    return proposals
