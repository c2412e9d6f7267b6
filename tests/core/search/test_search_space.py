"""Search spaces: decoding into bounds, grids, and refusing invalid ranges with a useful message."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np
import pytest

from mleng.card import ParamSpec
from mleng.errors import SearchError
from mleng.search.engine import Trial, TrialResult, run_search
from mleng.search.space import build_family_grid, decode_value, encode_value
from tests.search_helpers import SIX_PARAMETERS, float_param, int_param


def constant_scores(trials: list[Trial]) -> list[TrialResult]:
    return [TrialResult(trial, 0.0, 0.0, 0.0) for trial in trials]


def test_grid_levels_are_log_spaced_cell_centres_where_log() -> None:
    results = run_search(
        {"linear": {"C": float_param(1e-3, 1e1, log=True)}}, 4, constant_scores, strategy="grid"
    )
    np.testing.assert_allclose(
        [r.trial.params["C"] for r in results],
        [1e-3 * 10**0.5, 1e-3 * 10**1.5, 1e-3 * 10**2.5, 1e-3 * 10**3.5],
        rtol=1e-5,
    )


def test_grid_moves_budget_from_a_small_discrete_family_to_the_others() -> None:
    spaces = {"tiny": {"k": int_param(1, 3)}, "wide": {"C": float_param(1e-3, 1e3, log=True)}}
    results = run_search(spaces, 12, constant_scores, strategy="grid")
    per_family = Counter(r.trial.family for r in results)
    assert per_family == {"tiny": 3, "wide": 9}
    assert sorted(r.trial.params["k"] for r in results if r.trial.family == "tiny") == [1, 2, 3]


def test_grid_subsamples_a_full_grid_without_repeating_configurations() -> None:
    grid = build_family_grid(SIX_PARAMETERS, 20, np.random.default_rng(0))
    assert len(grid) == 20
    assert len({repr(sorted(g.items())) for g in grid}) == 20


def test_integers_are_rounded_and_clipped_and_floats_keep_six_digits() -> None:
    assert decode_value(int_param(1.5, 7.5), 0.0) == 2
    assert decode_value(int_param(1.5, 7.5), 1.0) == 7
    assert decode_value(float_param(1e-3, 1.0, log=True), 1 / 3) == 0.01
    assert decode_value(float_param(0.0, 1.0), 0.123456789) == 0.123457
    spec = float_param(1e-4, 1e4, log=True)
    assert encode_value(spec, decode_value(spec, 0.37)) == pytest.approx(0.37, abs=1e-6)


def unchecked(**fields: Any) -> ParamSpec:
    """A ParamSpec that skipped pydantic validation, as `model_construct` or a bad caller makes."""
    return ParamSpec.model_construct(
        **({"low": None, "high": None, "log": False, "choices": None} | fields)
    )


@pytest.mark.parametrize(
    ("spaces", "message"),
    [
        ({}, "no model families"),
        ({"linear": {}}, "family 'linear' has an empty search space"),
        (
            {"m": {"x": unchecked(type="float", low=2.0, high=1.0)}},
            "'low' \\(2.0\\) is above 'high'",
        ),
        ({"m": {"x": unchecked(type="float", low=0.0, high=1.0, log=True)}}, "needs 'low' > 0"),
        ({"m": {"x": unchecked(type="categorical", choices=[])}}, "non-empty 'choices'"),
        ({"m": {"x": int_param(1.2, 1.8)}}, "no integer lies in"),
        ({"m": {"x": float_param(0.0, math.inf)}}, "bounds must be finite"),
    ],
)
def test_invalid_spaces_are_refused_with_the_parameter_named(
    spaces: dict[str, Any], message: str
) -> None:
    with pytest.raises(SearchError, match=message) as error:
        run_search(spaces, 5, constant_scores)
    if spaces and spaces.get("m"):
        assert "parameter 'x' of family 'm'" in str(error.value)
