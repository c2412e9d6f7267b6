"""The power-law extrapolation of the learning curve: known exponents, floors and rows."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from mleng.card.data_checks import DataChecksSettings
from mleng.data.loading import FeatureColumns
from mleng.quality.extrapolation import PowerLaw, extrapolate_rows, fit_power_law
from mleng.quality.markdown import render_data_report_markdown
from mleng.quality.report import build_data_report
from mleng.quality.size import measure_learning_curve
from tests.corpus import synthetic_card

SIZES = np.array([80, 144, 240, 400, 800])


def noisy_curve(law: PowerLaw, noise: float, seed: int) -> np.ndarray:
    losses = np.array([law.loss_at(n) for n in SIZES])
    return losses + np.random.default_rng(seed).normal(0.0, noise, len(SIZES))


def test_fit_recovers_the_exponent_floor_and_scale_of_an_exact_power_law() -> None:
    for exponent in (0.3, 0.5, 0.9):
        truth = PowerLaw(floor=0.08, scale=1.5, exponent=exponent)
        fitted = fit_power_law(SIZES, noisy_curve(truth, 0.0, 0), np.full(5, 1e-3))
        assert fitted is not None
        assert abs(fitted.exponent - exponent) < 0.01
        assert abs(fitted.floor - 0.08) < 0.002


def test_exponent_interval_covers_the_true_exponent_at_about_the_nominal_rate() -> None:
    truth = PowerLaw(floor=0.1, scale=2.0, exponent=0.5)
    noise = 0.003
    covered = 0
    runs = 25
    for seed in range(runs):
        losses = noisy_curve(truth, noise, seed)
        found = extrapolate_rows(
            "roc_auc", list(SIZES), list(1 - losses), [noise] * 5, gain=0.005, seed=seed
        )
        assert found is not None
        low, high = found.exponent_interval
        covered += low <= 0.5 <= high
    assert covered / runs >= 0.8  # nominal 95%; a five-point curve's bootstrap runs a little short


def test_rows_needed_match_the_law_when_the_gain_is_reachable() -> None:
    truth = PowerLaw(floor=0.05, scale=3.0, exponent=0.5)
    losses = noisy_curve(truth, 0.0, 0)
    found = extrapolate_rows("accuracy", list(SIZES), list(1 - losses), [1e-4] * 5, gain=0.01)
    assert found is not None
    expected = truth.rows_for_loss(truth.loss_at(800) - 0.01)
    assert math.isclose(found.rows_needed, expected, rel_tol=0.02)
    assert found.rows_needed_interval[0] <= found.rows_needed <= found.rows_needed_interval[1]
    assert "training rows" in found.explanation and found.reachable_share > 0.9


def test_a_gain_below_the_floor_is_reported_as_not_reachable_by_more_data() -> None:
    truth = PowerLaw(floor=0.2, scale=1.0, exponent=1.0)  # at 800 rows: 0.00125 above the floor
    losses = noisy_curve(truth, 0.0, 0)
    found = extrapolate_rows("roc_auc", list(SIZES), list(1 - losses), [1e-4] * 5, gain=0.01)
    assert found is not None and math.isinf(found.rows_needed)
    assert "not reachable by more data of this kind" in found.explanation
    assert abs(found.ceiling - 0.8) < 0.005


def test_errors_extrapolate_downwards_with_a_relative_default_gain() -> None:
    truth = PowerLaw(floor=10.0, scale=400.0, exponent=0.6)
    errors = noisy_curve(truth, 0.0, 0)
    found = extrapolate_rows("rmse", list(SIZES), list(errors), [0.01] * 5)
    assert found is not None
    assert math.isclose(found.gain, 0.01 * truth.loss_at(800), rel_tol=0.01)
    assert found.rows_needed > 800 and found.explanation.startswith("-")


def test_too_few_points_give_no_extrapolation() -> None:
    assert extrapolate_rows("roc_auc", [100, 200, 400], [0.7, 0.75, 0.78], [0.01] * 3) is None


def learnable_frame(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 3))
    value = 3 * x[:, 0] - 2 * x[:, 1] + x[:, 2] ** 2 + rng.normal(0, 1.0, rows)
    return pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": value})


def test_learning_curve_extrapolates_in_the_cards_own_metric() -> None:
    card = synthetic_card(task="regression", metric="rmse")
    settings = DataChecksSettings(report={"learning_curve_max_rows": 3000})
    features = FeatureColumns(["a", "b", "c"], [])
    curve = measure_learning_curve(learnable_frame(3000), card, features, settings, seed=1)
    assert curve.metric == "r2"  # the verdict's probe metric
    assert curve.extrapolation is not None and curve.extrapolation.metric == "rmse"
    # the probe's RMSE at 2,000 training rows: the noise (1.0) plus what 30 trees miss
    assert 0.9 < curve.extrapolation.current_score < 3.0


def test_data_report_states_the_rows_needed_for_more_accuracy() -> None:
    card = synthetic_card(task="regression", metric="rmse")
    report = build_data_report(learnable_frame(3000), card, DataChecksSettings(), seed=1)
    markdown = render_data_report_markdown(report)
    assert "More data: -" in markdown and "rmse" in markdown
