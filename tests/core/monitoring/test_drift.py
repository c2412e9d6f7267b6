"""Drift: calibrated against seeded synthetic windows (false alarms, power), and edge cases."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from mleng.monitoring.drift import (
    MIN_EXPECTED,
    RARE,
    UNSEEN,
    level_counts,
    measure_feature_drift,
    measure_prediction_drift,
    pool_rare_levels,
)
from mleng.monitoring.stability import count_non_finite

ROWS = 5_000
WINDOWS = 300
NUMERIC = ["normal", "shifted", "lognormal", "counts", "integers", "with_missing", "uniform"]
CATEGORICAL = ["colour", "region", "product"]
COLOURS = np.array(["red", "green", "blue", "black", "white"])
COLOUR_SHARES = np.array([0.30, 0.25, 0.20, 0.15, 0.10])
REGIONS = np.array([f"r{i}" for i in range(12)])
REGION_SHARES = np.r_[np.full(11, 0.9995 / 11), 0.0005]  # r11: a rare level (~2.5 rows)
PRODUCTS = np.array([f"p{i}" for i in range(20)])
PRODUCT_SHARES = (1 / np.arange(1, 21)) / (1 / np.arange(1, 21)).sum()  # Zipf-like


def make_window(rng: np.random.Generator, shift: float = 0.0, colour_red: float = 0.30):
    """Ten features of mixed types; `shift` moves the mean of "shifted" by that many sd and
    `colour_red` sets the share of the colour "red" (the other colours scale down)."""
    with_missing = rng.normal(size=ROWS)
    with_missing[rng.random(ROWS) < 0.02] = np.nan
    colours = np.r_[colour_red, COLOUR_SHARES[1:] * (1 - colour_red) / COLOUR_SHARES[1:].sum()]
    return pd.DataFrame(
        {
            "normal": rng.normal(size=ROWS),
            "shifted": rng.normal(size=ROWS) + shift,
            "lognormal": rng.lognormal(0.0, 1.0, ROWS),
            "counts": rng.poisson(3.0, ROWS),  # heavy ties
            "integers": rng.integers(0, 100, ROWS),
            "with_missing": with_missing,
            "uniform": rng.random(ROWS),
            "colour": rng.choice(COLOURS, ROWS, p=colours),
            "region": rng.choice(REGIONS, ROWS, p=REGION_SHARES),
            "product": rng.choice(PRODUCTS, ROWS, p=PRODUCT_SHARES),
        }
    )


def run_windows(seed: int, windows: int = WINDOWS, **current_settings):
    """The drift reports of `windows` seeded (reference, current) pairs, each drawn afresh."""
    rng = np.random.default_rng(seed)
    return [
        measure_feature_drift(
            make_window(rng), make_window(rng, **current_settings), NUMERIC, CATEGORICAL
        )
        for _ in range(windows)
    ]


@pytest.fixture(scope="module")
def null_reports():
    return run_windows(seed=11)


@pytest.fixture(scope="module")
def shifted_reports():
    return run_windows(seed=12, shift=0.1)


def test_false_alarms_per_window_stay_within_alpha(null_reports):
    # 11 tests a window (7 KS, one missing share, 3 chi-square), each at 0.05 / 11.
    assert {len(report.tests) for report in null_reports} == {11}
    rate = np.mean([report.any_drift for report in null_reports])
    print(f"false-alarm rate: {rate:.3f} of {WINDOWS} windows")
    # Monte Carlo sd at 0.05 and 300 windows is 0.013; 0.075 is two of them above alpha.
    assert rate <= 0.075


def test_power_for_a_tenth_of_a_standard_deviation(shifted_reports):
    detected = np.mean(["shifted" in report.drifted_columns for report in shifted_reports])
    others = np.mean(
        [any(c != "shifted" for c in report.drifted_columns) for report in shifted_reports]
    )
    print(f"KS power at 0.1 sd: {detected:.3f} of {WINDOWS} windows; others flagged {others:.3f}")
    assert detected >= 0.80
    assert others <= 0.075


def test_distance_rules_miss_the_shift_that_ks_catches(shifted_reports):
    """The issue's figures: normalised Wasserstein >= 0.1 catches about half, PSI >= 0.1 none."""
    details = [report.for_column("shifted")[0].detail for report in shifted_reports]
    wasserstein = np.mean([d["wasserstein_sd"] >= 0.1 for d in details])
    psi = np.mean([d["psi"] >= 0.1 for d in details])
    shift = np.mean([d["mean_shift_sd"] for d in details])
    print(f"at 0.1 sd: Wasserstein >= 0.1 catches {wasserstein:.3f}, PSI >= 0.1 {psi:.3f}")
    assert 0.3 <= wasserstein <= 0.7
    assert psi == 0.0
    assert shift == pytest.approx(0.1, abs=0.01)


def test_a_level_share_moving_from_30_to_36_percent_is_detected():
    reports = run_windows(seed=13, windows=200, colour_red=0.36)
    detected = np.mean(["colour" in report.drifted_columns for report in reports])
    tvd = np.mean([report.for_column("colour")[0].detail["total_variation"] for report in reports])
    print(f"chi-square power, 30% -> 36%: {detected:.3f} of {len(reports)} windows")
    assert detected >= 0.80
    assert tvd == pytest.approx(0.06, abs=0.01)
    assert reports[0].for_column("colour")[0].detail["most_moved_level"] == "red"


def test_unseen_levels_are_pooled_and_count_as_drift():
    rng = np.random.default_rng(3)
    reference, current = make_window(rng), make_window(rng)
    current.loc[current.index[:250], "colour"] = "purple"  # 5% of a level never seen
    current.loc[current.index[250:252], "region"] = "nowhere"  # too few to matter
    report = measure_feature_drift(reference, current, NUMERIC, CATEGORICAL)
    colour = report.for_column("colour")[0]
    assert colour.drifted
    assert colour.detail["current_unseen_share"] == pytest.approx(0.05)
    region = report.for_column("region")[0]
    assert not region.drifted
    assert 0 < region.detail["current_unseen_share"] < 0.001


def test_rare_levels_are_pooled_until_every_expected_count_reaches_five():
    reference = pd.Series(["a"] * 500 + ["b"] * 300 + ["c"] * 3 + ["d"] * 2)
    current = pd.Series(["a"] * 480 + ["b"] * 310 + ["c"] * 1 + ["e"] * 3)
    counts = level_counts(reference, current)
    assert UNSEEN in counts.index  # "e"
    pooled = pool_rare_levels(counts)
    assert RARE in pooled.index
    expected = pooled.sum(axis=1).to_numpy()[:, None] * pooled.sum(axis=0).to_numpy()
    assert (expected / pooled.to_numpy().sum()).min() >= MIN_EXPECTED
    assert pooled.to_numpy().sum() == counts.to_numpy().sum()


def test_all_missing_current_columns_are_drift():
    rng = np.random.default_rng(4)
    reference, current = make_window(rng), make_window(rng)
    current["normal"] = np.nan
    current["colour"] = None
    current.loc[current.index[:10], "product"] = np.nan  # None and NaN: one missing level
    current.loc[current.index[10:20], "product"] = None
    report = measure_feature_drift(reference, current, NUMERIC, CATEGORICAL)
    [normal] = report.for_column("normal")  # no values left to compare: the missing test only
    assert (normal.kind, normal.test, normal.drifted) == ("missing", "fisher_exact", True)
    assert normal.statistic == 1.0
    assert report.for_column("colour")[0].drifted
    product = report.for_column("product")[0]  # 20 missing against none: drift too
    assert product.detail["levels"] == 21 and product.drifted


def test_infinite_values_count_as_missing_and_a_few_do_not_fake_drift():
    rng = np.random.default_rng(5)
    reference, current = make_window(rng), make_window(rng)
    current.loc[current.index[:2], "uniform"] = np.inf
    report = measure_feature_drift(reference, current, NUMERIC, CATEGORICAL)
    values, missing = report.for_column("uniform")
    assert (values.test, values.current_rows) == ("ks", ROWS - 2)
    assert missing.detail["current_missing"] == 2
    assert not missing.drifted
    assert len(report.tests) == 12


@pytest.mark.parametrize("empty", ["reference", "current"])
def test_an_empty_window_is_an_error_naming_it(empty):
    frames = {"reference": make_window(np.random.default_rng(6))}
    frames["current"] = frames["reference"]
    frames[empty] = frames[empty].iloc[:0]
    with pytest.raises(ValueError, match=f"the {empty} window is empty"):
        measure_feature_drift(frames["reference"], frames["current"], NUMERIC, CATEGORICAL)


def test_input_errors_name_the_problem():
    frame = make_window(np.random.default_rng(7))
    with pytest.raises(ValueError, match=r"\['absent'\] are missing from the reference"):
        measure_feature_drift(frame, frame, ["absent"], [])
    with pytest.raises(ValueError, match="numeric column 'colour'"):
        measure_feature_drift(frame, frame, ["colour"], [])
    with pytest.raises(ValueError, match="both numeric and categorical"):
        measure_feature_drift(frame, frame, ["normal"], ["normal"])
    with pytest.raises(ValueError, match="alpha"):
        measure_feature_drift(frame, frame, ["normal"], [], alpha=0.0)


def test_markdown_lists_drifted_tests_first_with_effect_sizes():
    rng = np.random.default_rng(8)
    reference, current = make_window(rng), make_window(rng, shift=0.5)
    report = measure_feature_drift(reference, current, NUMERIC, CATEGORICAL)
    text = report.to_markdown()
    assert text.startswith("1 of 10 columns drifted; 11 tests")
    first = text.splitlines()[4]
    assert first.startswith("| shifted | numeric | ks |") and "| yes |" in first
    assert re.search(r"mean shift 0\.4\d* sd, Wasserstein 0\.4\d* sd, PSI 0\.2", first)


def test_prediction_drift_for_probabilities_labels_and_values():
    rng = np.random.default_rng(9)
    reference = rng.beta(2, 5, ROWS)
    same = measure_prediction_drift(reference, rng.beta(2, 5, ROWS))
    moved = measure_prediction_drift(reference, rng.beta(2.4, 5, ROWS))
    assert not same.any_drift and moved.drifted_columns == ("prediction",)
    assert moved.tests[0].kind == "probability" and moved.tests[0].threshold == 0.05
    labels = measure_prediction_drift(
        rng.choice(["no", "yes"], ROWS, p=[0.7, 0.3]),
        rng.choice(["no", "yes"], ROWS, p=[0.6, 0.4]),
        kind="label",
    )
    assert labels.any_drift and labels.tests[0].test == "chi_square"
    broken = rng.normal(size=ROWS)
    broken[:100] = np.nan
    values = measure_prediction_drift(rng.normal(size=ROWS), broken, kind="value")
    assert [t.kind for t in values.tests] == ["value", "missing"]
    assert values.tests[1].drifted and values.tests[0].threshold == 0.025
    with pytest.raises(ValueError, match="unknown prediction kind"):
        measure_prediction_drift(reference, reference, kind="score")
    with pytest.raises(ValueError, match="current predictions are empty"):
        measure_prediction_drift(reference, [])


def test_count_non_finite_separates_nan_from_inf_in_every_dtype():
    frame = pd.DataFrame(
        {
            "float": [1.0, np.nan, np.inf, -np.inf],
            "nullable": pd.array([1, None, 3, 4], dtype="Int64"),
            "object": ["a", None, float("inf"), "b"],
            "text": pd.array(["a", None, "c", "d"], dtype="string"),
            "flag": [True, False, True, False],
            "when": pd.to_datetime(["2024-01-01", None, "2024-01-02", "2024-01-03"]),
        }
    )
    assert count_non_finite(frame) == {
        "float": {"nan": 1, "inf": 2},
        "nullable": {"nan": 1, "inf": 0},
        "object": {"nan": 1, "inf": 1},
        "text": {"nan": 1, "inf": 0},
        "flag": {"nan": 0, "inf": 0},
        "when": {"nan": 1, "inf": 0},
    }
    outputs = count_non_finite(pd.DataFrame({"prediction": [0.2, np.nan, 0.9]}))
    assert outputs == {"prediction": {"nan": 1, "inf": 0}}
