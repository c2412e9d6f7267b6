"""Epsilon-delta robustness: sampled sensitivity never exceeds the exact worst case, which brute
force confirms."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import KBinsDiscretizer, StandardScaler

from mleng.assessment.robustness import (
    Perturbation,
    compute_feature_radii,
    measure_robustness,
    render_robustness_markdown,
)
from mleng.features.pipeline import build_feature_pipeline, build_model_pipeline

NUMERIC = ["x1", "x2"]


def make_frame(
    rows: int = 300, seed: int = 0, missing: bool = False
) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "x1": rng.normal(10, 3, rows),
            "x2": rng.normal(0, 0.5, rows),
            "c": rng.choice(["a", "b", "c"], rows),
        }
    )
    score = (frame["x1"] - 10) / 3 + 2 * frame["x2"] + (frame["c"] == "a") + rng.normal(0, 1, rows)
    if missing:
        frame.loc[frame.index[::7], "x1"] = np.nan
    return frame, pd.Series(np.where(score > 0, "yes", "no"))


def fit_project_pipeline(estimator, frame: pd.DataFrame, target: pd.Series) -> Pipeline:
    features = build_feature_pipeline(NUMERIC, ["c"])
    return build_model_pipeline(features, estimator, NUMERIC, ["c"]).fit(frame, target)


def brute_force_change(
    model, rows: pd.DataFrame, radii: dict[str, float], output: str
) -> np.ndarray:
    """The largest output change per row over a 21 x 21 grid of the box, corners included."""
    steps = np.linspace(-1, 1, 21)
    grid = np.array(list(itertools.product(steps, steps)))
    repeated = rows.loc[rows.index.repeat(len(grid))].reset_index(drop=True)
    offsets = np.tile(grid, (len(rows), 1))
    moved = repeated.assign(
        x1=repeated["x1"] + offsets[:, 0] * radii["x1"],
        x2=repeated["x2"] + offsets[:, 1] * radii["x2"],
    )
    predict = model.predict_proba if output == "proba" else model.predict
    base = np.repeat(np.asarray(predict(rows)), len(grid), axis=0)
    new = np.asarray(predict(moved))
    if output == "proba":
        change = np.abs(new - base).max(axis=1)
    elif new.dtype.kind in "OUS":
        change = (new != base).astype(float)
    else:
        change = np.abs(new - base)
    return change.reshape(len(rows), len(grid)).max(axis=1)


class RecordingClassifier(ClassifierMixin, BaseEstimator):
    """Predicts one half for every row and keeps every frame it is asked about."""

    def fit(self, X, y):
        self.classes_ = np.array([0, 1])
        self.seen_ = []
        return self

    def predict_proba(self, X):
        self.seen_.append(X.copy())
        return np.full((len(X), 2), 0.5)


def test_a_constant_model_is_perfectly_robust() -> None:
    frame, target = make_frame()
    for model, output in [
        (fit_project_pipeline(DummyClassifier(strategy="prior"), frame, target), "proba"),
        (fit_project_pipeline(DummyClassifier(strategy="prior"), frame, target), "prediction"),
        (
            fit_project_pipeline(DummyRegressor(), frame, target.eq("yes").astype(float)),
            "prediction",
        ),
    ]:
        report = measure_robustness(
            model,
            frame,
            NUMERIC,
            epsilon=0.0,
            perturbation=Perturbation(delta=1.0, n_samples=5),
            output=output,
        )
        assert report.share_sensitive == 0.0 and report.max_change == 0.0
        assert not report.violations_per_row.any()


@pytest.mark.parametrize("sampling", ["uniform", "vertices"])
def test_sampled_sensitivity_never_exceeds_the_exact_worst_case(sampling: str) -> None:
    frame, target = make_frame(missing=True)
    model = fit_project_pipeline(LogisticRegression(max_iter=1000), frame, target)
    report = measure_robustness(
        model,
        frame,
        NUMERIC,
        epsilon=0.03,
        perturbation=Perturbation(delta=0.1, n_samples=10, sampling=sampling),
    )
    assert report.exact is not None
    sampled_rows = report.violations_per_row > 0
    exact_rows = report.exact.change_per_row > report.epsilon
    assert not (sampled_rows & ~exact_rows).any()
    assert np.all(report.max_change_per_row <= report.exact.change_per_row + 1e-12)
    assert 0 < report.share_sensitive <= report.exact.share_sensitive
    if sampling == "vertices":
        # Corners are where a linear model moves furthest, so they come close to the exact share.
        assert report.share_sensitive > 0.8 * report.exact.share_sensitive


def test_the_closed_form_matches_a_brute_force_search_on_two_features() -> None:
    frame, target = make_frame(rows=200)
    numeric = frame[NUMERIC]
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(numeric, target)
    report = measure_robustness(
        model, numeric, NUMERIC, epsilon=0.05, perturbation=Perturbation(delta=0.3, n_samples=3)
    )
    probe = numeric.iloc[:12]
    brute = brute_force_change(model, probe, report.radii, "proba")
    np.testing.assert_allclose(report.exact.change_per_row[:12], brute, atol=1e-10)
    flips = measure_robustness(
        model,
        numeric,
        NUMERIC,
        epsilon=0.0,
        perturbation=Perturbation(delta=0.3, n_samples=3),
        output="prediction",
    )
    np.testing.assert_array_equal(
        flips.exact.change_per_row[:12], brute_force_change(model, probe, flips.radii, "prediction")
    )
    assert 0 < flips.exact.share_sensitive < 1


def test_the_regression_worst_case_is_delta_times_the_weighted_l1_norm_through_the_scaler() -> None:
    frame, _ = make_frame(rows=200)
    numeric, values = frame[NUMERIC], frame["x1"] * 2 - frame["x2"] * 5
    model = make_pipeline(StandardScaler(), Ridge(alpha=1.0)).fit(numeric, values)
    report = measure_robustness(
        model,
        numeric,
        NUMERIC,
        epsilon=0.5,
        perturbation=Perturbation(delta=0.2, n_samples=3),
        output="prediction",
    )
    raw_slopes = model[-1].coef_ / model[0].scale_
    np.testing.assert_allclose([report.exact.slopes[c] for c in NUMERIC], raw_slopes, rtol=1e-8)
    reach = sum(report.radii[c] * abs(w) for c, w in zip(NUMERIC, raw_slopes, strict=True))
    np.testing.assert_allclose(report.exact.change_per_row, reach, rtol=1e-8)
    brute = brute_force_change(model, numeric.iloc[:5], report.radii, "prediction")
    np.testing.assert_allclose(brute, reach, rtol=1e-8)
    assert report.exact.share_sensitive == float(reach > 0.5)


def test_a_larger_delta_never_lowers_the_share_of_sensitive_rows() -> None:
    frame, target = make_frame()
    model = fit_project_pipeline(LogisticRegression(max_iter=1000), frame, target)
    reports = [
        measure_robustness(
            model,
            frame,
            NUMERIC,
            epsilon=0.05,
            perturbation=Perturbation(delta=delta, n_samples=5, seed=3),
        )
        for delta in [0.0, 0.02, 0.05, 0.1, 0.3]
    ]
    sampled = [r.share_sensitive for r in reports]
    exact = [r.exact.share_sensitive for r in reports]
    assert sampled == sorted(sampled) and exact == sorted(exact)
    assert sampled[0] == exact[0] == 0.0 and exact[-1] > exact[1]


def test_only_numeric_features_move_and_each_within_its_own_radius() -> None:
    frame, _ = make_frame(rows=50, missing=True)
    spy = RecordingClassifier().fit(frame, None)
    report = measure_robustness(
        spy, frame, NUMERIC, epsilon=0.1, perturbation=Perturbation(delta=0.5, n_samples=4)
    )
    original, *perturbed = spy.seen_
    assert len(perturbed) == 4
    for moved in perturbed:
        pd.testing.assert_series_equal(moved["c"], original["c"])
        for column in NUMERIC:
            offset = (moved[column] - original[column]).abs()
            assert offset.isna().equals(original[column].isna())
            assert offset.max() <= report.radii[column] + 1e-12
            assert offset.max() > 0.5 * report.radii[column]


def test_radii_are_delta_times_the_standard_deviation_or_the_iqr() -> None:
    frame = pd.DataFrame({"v": np.arange(1.0, 101.0), "flat": 3.0, "text": ["7"] * 100})
    by_std = compute_feature_radii(frame, ["v", "flat", "text"], delta=0.5, spread="std")
    assert by_std == pytest.approx(
        {"v": 0.5 * np.std(np.arange(1, 101), ddof=1), "flat": 0.0, "text": 0.0}
    )
    assert compute_feature_radii(frame, ["v"], delta=0.5, spread="iqr") == pytest.approx(
        {"v": 0.5 * 49.5}
    )


def test_non_linear_models_have_no_closed_form_and_say_why() -> None:
    frame, target = make_frame(rows=200)
    numeric = frame[NUMERIC]
    binned = make_pipeline(
        KBinsDiscretizer(n_bins=4, quantile_method="averaged_inverted_cdf"), LogisticRegression()
    )
    trees = HistGradientBoostingClassifier(max_iter=10)
    multiclass_target = pd.cut(numeric["x1"], 3, labels=["low", "mid", "high"]).astype(str)
    cases = [
        (binned.fit(numeric, target), "not affine"),
        (trees.fit(numeric, target), "not a scikit-learn linear model"),
        (LogisticRegression().fit(numeric, multiclass_target), "multiclass"),
    ]
    for model, reason in cases:
        report = measure_robustness(
            model, numeric, NUMERIC, epsilon=0.05, perturbation=Perturbation(delta=0.1, n_samples=3)
        )
        assert report.exact is None and reason in report.exact_note


def test_probabilities_of_a_regressor_are_refused_with_the_fix() -> None:
    frame, _ = make_frame(rows=30)
    model = Ridge().fit(frame[NUMERIC], frame["x1"])
    with pytest.raises(ValueError, match="output='prediction'"):
        measure_robustness(
            model,
            frame[NUMERIC],
            NUMERIC,
            epsilon=0.1,
            perturbation=Perturbation(delta=0.1, n_samples=20),
        )


def test_report_serialises_to_json_and_renders_both_shares() -> None:
    frame, target = make_frame(rows=80)
    model = fit_project_pipeline(LogisticRegression(max_iter=1000), frame, target)
    perturbation = Perturbation(delta=0.1, n_samples=3)
    report = measure_robustness(model, frame, NUMERIC, epsilon=0.02, perturbation=perturbation)
    payload = json.loads(json.dumps(report.to_dict()))
    assert (
        len(payload["violations_per_row"]) == 80 and len(payload["exact"]["change_per_row"]) == 80
    )
    text = render_robustness_markdown(report)
    assert "exact share" in text and "| x1 |" in text


def test_a_negative_radius_or_no_samples_are_refused() -> None:
    with pytest.raises(ValueError, match="delta >= 0 and n_samples >= 1"):
        Perturbation(delta=-0.1, n_samples=3)
    with pytest.raises(ValueError, match="delta >= 0 and n_samples >= 1"):
        Perturbation(delta=0.1, n_samples=0)
