"""Search spaces as unit cubes: every strategy samples in [0, 1]^d and decodes through one place.

Working in the unit cube (log-transformed where a range is log-scale) lets the coarse, fine,
random and grid strategies share one sampler and one decoder, so a value outside its bounds
can only come from one function, which is the one the tests hammer.

A configuration is identified by its decoded values (`config_key`), as the evaluator receives
them: two unit-cube points that round to the same integers are one configuration. No strategy
scores a configuration twice; `new_config` redraws a repeat and, in a small discrete space,
picks among the configurations left, so an exhausted space is known rather than guessed.
"""

from __future__ import annotations

import math
import warnings
from itertools import product
from typing import Any

import numpy as np
from pydantic import ValidationError
from scipy.stats import qmc

from mleng.card import ParamSpec
from mleng.errors import SearchError

Space = dict[str, ParamSpec]

SIGNIFICANT_DIGITS = 6
MAX_REDRAWS = 20
ENUMERATION_LIMIT = 100_000
"""Spaces with at most this many configurations are listed when random redraws find no new one."""


def validate_spaces(spaces: dict[str, Any]) -> dict[str, Space]:
    """Check every family has at least one valid parameter; dicts are parsed into ParamSpec.

    ParamSpec validates itself, but objects built with `model_construct` or plain dicts skip
    that, and an integer range with no integer inside only shows up here.
    """
    if not spaces:
        raise SearchError("the search has no model families; add at least one family with a space")
    checked: dict[str, Space] = {}
    for family, space in spaces.items():
        if not space:
            raise SearchError(
                f"model family '{family}' has an empty search space; give it at least one "
                "parameter or drop the family"
            )
        checked[family] = {
            name: _validate_param(family, name, spec) for name, spec in space.items()
        }
    return checked


def _validate_param(family: str, name: str, spec: Any) -> ParamSpec:
    where = f"parameter '{name}' of family '{family}'"
    try:
        spec = ParamSpec.model_validate(spec.model_dump() if isinstance(spec, ParamSpec) else spec)
    except ValidationError as error:
        reasons = "; ".join(item["msg"].removeprefix("Value error, ") for item in error.errors())
        raise SearchError(f"invalid range for {where}: {reasons}") from None
    if spec.type == "categorical":
        return spec
    assert spec.low is not None and spec.high is not None
    if not (math.isfinite(spec.low) and math.isfinite(spec.high)):
        raise SearchError(
            f"invalid range for {where}: bounds must be finite, got [{spec.low}, {spec.high}]"
        )
    if spec.type == "int" and math.ceil(spec.low) > math.floor(spec.high):
        raise SearchError(
            f"invalid range for {where}: no integer lies in [{spec.low}, {spec.high}]"
        )
    return spec


def decode_value(spec: ParamSpec, unit: float) -> Any:
    """The parameter value at position `unit` of its range, as a plain Python value in bounds.

    Floats keep six significant digits so MLflow params stay readable; ints are rounded;
    both are clipped back into [low, high] after rounding.
    """
    unit = min(max(float(unit), 0.0), 1.0)
    if spec.type == "categorical":
        assert spec.choices
        return spec.choices[min(int(unit * len(spec.choices)), len(spec.choices) - 1)]
    assert spec.low is not None and spec.high is not None
    if spec.log:
        value = math.exp(math.log(spec.low) + unit * (math.log(spec.high) - math.log(spec.low)))
    else:
        value = spec.low + unit * (spec.high - spec.low)
    if spec.type == "int":
        return int(min(max(round(value), math.ceil(spec.low)), math.floor(spec.high)))
    return float(min(max(float(f"{value:.{SIGNIFICANT_DIGITS}g}"), spec.low), spec.high))


def encode_value(spec: ParamSpec, value: Any) -> float:
    """The position in [0, 1] of a value in its (log-)range; categoricals sit mid-cell."""
    if spec.type == "categorical":
        assert spec.choices
        return (spec.choices.index(value) + 0.5) / len(spec.choices)
    assert spec.low is not None and spec.high is not None
    if spec.high == spec.low:
        return 0.5
    if spec.log:
        position = (math.log(value) - math.log(spec.low)) / (
            math.log(spec.high) - math.log(spec.low)
        )
    else:
        position = (value - spec.low) / (spec.high - spec.low)
    return min(max(position, 0.0), 1.0)


def decode_point(space: Space, point: np.ndarray) -> dict[str, Any]:
    """A configuration from one unit-cube point, one coordinate per parameter in space order."""
    return {name: decode_value(spec, point[i]) for i, (name, spec) in enumerate(space.items())}


def encode_params(space: Space, params: dict[str, Any]) -> np.ndarray:
    """The unit-cube point of a configuration, the inverse of `decode_point` up to rounding."""
    return np.array([encode_value(spec, params[name]) for name, spec in space.items()])


def sample_unit_points(n_points: int, n_dims: int, rng: np.random.Generator) -> np.ndarray:
    """`n_points` scrambled Sobol points in [0, 1)^d: random, but spread more evenly than iid.

    Small batches of iid points clump; Sobol keeps each batch covering its box. Scipy warns
    when n is not a power of two; the balance it loses is irrelevant at these sizes.
    """
    if n_points <= 0:
        return np.empty((0, n_dims))
    sampler = qmc.Sobol(d=max(n_dims, 1), scramble=True, rng=rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        points = sampler.random(n_points)
    return points[:, :n_dims]


def count_distinct_values(spec: ParamSpec) -> float:
    """How many different values the parameter can take (infinite for floats with a range).

    Repeated choices count once: they reach the evaluator as the same value.
    """
    if spec.type == "categorical":
        assert spec.choices
        return len({repr(choice) for choice in spec.choices})
    assert spec.low is not None and spec.high is not None
    if spec.type == "int":
        return math.floor(spec.high) - math.ceil(spec.low) + 1
    return 1 if spec.low == spec.high else math.inf


def count_configs(space: Space) -> float:
    """How many different configurations the space holds (infinite with a float range)."""
    return math.prod(count_distinct_values(spec) for spec in space.values())


def config_key(params: dict[str, Any]) -> str:
    """A hashable identity of a configuration: equal when the evaluator gets equal values."""
    return repr(sorted(params.items()))


def distinct_values(spec: ParamSpec) -> list[Any]:
    """Every value a parameter of a finite range can take, in order (one per repeated choice)."""
    if spec.type == "categorical":
        assert spec.choices
        return list({repr(choice): choice for choice in spec.choices}.values())
    assert spec.low is not None and spec.high is not None
    if spec.type == "int":
        return list(range(math.ceil(spec.low), math.floor(spec.high) + 1))
    assert spec.low == spec.high, "a float range has no finite list of values"
    return [decode_value(spec, 0.5)]


def unseen_configs(space: Space, seen: set[str]) -> list[dict[str, Any]]:
    """Every configuration not in `seen`, in grid order; [] if there are too many to list.

    Only spaces of at most `ENUMERATION_LIMIT` configurations are listed: in a larger one, a
    random redraw finds a new configuration long before the space runs out.
    """
    if count_configs(space) > ENUMERATION_LIMIT:
        return []
    names = list(space)
    configs = (
        dict(zip(names, values, strict=True))
        for values in product(*(distinct_values(spec) for spec in space.values()))
    )
    return [params for params in configs if config_key(params) not in seen]


def is_exhausted(space: Space, seen: set[str]) -> bool:
    """Whether every configuration of the space is in `seen` (keys of this space only)."""
    return len(seen) >= count_configs(space)


def new_config(
    space: Space, point: np.ndarray, seen: set[str], rng: np.random.Generator
) -> dict[str, Any] | None:
    """The configuration at `point`, or, if it is in `seen`, a new one; None if none is left.

    A repeat is redrawn uniformly over the space up to `MAX_REDRAWS` times, then chosen at
    random among the configurations left (small spaces). No randomness is used unless the
    point repeats, so a space where repeats cannot happen draws exactly what it always did.
    """
    if is_exhausted(space, seen):
        return None
    params = decode_point(space, point)
    for _ in range(MAX_REDRAWS):
        if config_key(params) not in seen:
            return params
        params = decode_point(space, rng.random(len(space)))
    if config_key(params) not in seen:
        return params
    left = unseen_configs(space, seen)
    return left[int(rng.integers(len(left)))] if left else None


def grid_levels(spec: ParamSpec, n_levels: int) -> list[Any]:
    """`n_levels` evenly spaced values (log-spaced where log) at cell centres, duplicates dropped.

    Cell centres, not the bounds: the edges of a range are rarely where the optimum lies, and a
    one-level grid then tries the middle of the range instead of its lower bound.
    """
    values: list[Any] = []
    for level in range(n_levels):
        value = decode_value(spec, (level + 0.5) / n_levels)
        if value not in values:
            values.append(value)
    return values


def build_family_grid(
    space: Space, n_configs: int, rng: np.random.Generator
) -> list[dict[str, Any]]:
    """`n_configs` different configurations from the coarsest full grid with that many points.

    A full grid rarely has exactly the budget's size, so it is subsampled at random (seeded)
    rather than truncated, which would freeze the last parameters at their first levels. No
    configuration repeats: a space with fewer configurations than asked gives all it has, and a
    grid that stops growing first (log-spaced integers) is topped up with random new ones.
    """
    if n_configs <= 0:
        return []
    levels_per_param = {name: grid_levels(spec, 1) for name, spec in space.items()}
    n_levels = 1
    while math.prod(len(v) for v in levels_per_param.values()) < n_configs:
        n_levels += 1
        grown = {name: grid_levels(spec, n_levels) for name, spec in space.items()}
        saturated = all(
            len(grown[name]) >= count_distinct_values(spec) for name, spec in space.items()
        )
        levels_per_param = grown
        # log-spaced integers can need far more levels than configs before every value shows up
        if saturated or n_levels > 4 * n_configs:
            break
    names = list(levels_per_param)
    grid = [dict(zip(names, values, strict=True)) for values in product(*levels_per_param.values())]
    if len(grid) >= n_configs:
        chosen = np.sort(rng.choice(len(grid), size=n_configs, replace=False))
        return [grid[i] for i in chosen]
    seen = {config_key(params) for params in grid}
    while len(grid) < n_configs:
        params = new_config(space, rng.random(len(space)), seen, rng)
        if params is None:
            break
        seen.add(config_key(params))
        grid.append(params)
    return grid
