"""Sizeable: rules of thumb on rows, and a learning curve whose verdict follows the evidence."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mleng.card.data_checks import DataChecksSettings, ReportSettings
from mleng.data.loading import FeatureColumns
from mleng.quality.size import (
    CurveScores,
    build_size_findings,
    judge_learning_curve,
    measure_learning_curve,
    measure_size_rules,
)
from tests.corpus import synthetic_card


def signal_frame(rows: int, seed: int = 0, noise: float = 0.5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 3))
    logit = x[:, 0] - x[:, 1] + rng.normal(0, noise, rows)
    return pd.DataFrame(
        {
            "a": x[:, 0],
            "b": x[:, 1],
            "c": rng.choice(["u", "v", "w"], rows),
            "y": np.where(logit > 0, "yes", "no"),
        }
    )


FEATURES = FeatureColumns(["a", "b"], ["c"])
CARD = synthetic_card()
POSITIVE_YES = synthetic_card(positive_label="yes")
DEFAULTS = DataChecksSettings()


def test_rules_of_thumb_count_encoded_features_and_classes() -> None:
    rules = measure_size_rules(signal_frame(50), CARD, FEATURES, DEFAULTS)
    assert rules.encoded_features == 5 and rules.rows_needed_for_features == 50
    assert rules.rows_needed_for_classes == 200 and not rules.enough
    (finding,) = build_size_findings(rules, None, DataChecksSettings())
    assert finding.detector == "too_few_rows" and "50 rows" in finding.message


def test_enough_rows_raise_no_size_finding() -> None:
    rules = measure_size_rules(signal_frame(1000), CARD, FEATURES, DEFAULTS)
    assert rules.enough and build_size_findings(rules, None, DataChecksSettings()) == []


def test_learning_curve_scores_grow_and_beat_chance_on_a_learnable_target() -> None:
    settings = DataChecksSettings(report={"learning_curve_max_rows": 1200})
    curve = measure_learning_curve(signal_frame(1200), POSITIVE_YES, FEATURES, settings)
    assert len(curve.train_sizes) == 5 and curve.train_sizes[-1] == 800
    assert curve.mean_scores[-1] > 0.85 and curve.mean_scores[-1] >= curve.mean_scores[0]
    assert curve.verdict in ("plateau", "more_data_would_help")


def test_learning_curve_says_near_chance_when_labels_are_noise() -> None:
    frame = signal_frame(1200).assign(y=np.random.default_rng(9).choice(["yes", "no"], 1200))
    curve = measure_learning_curve(frame, POSITIVE_YES, FEATURES, DEFAULTS)
    assert curve.verdict == "near_chance"
    (finding,) = build_size_findings(
        measure_size_rules(frame, CARD, FEATURES, DEFAULTS), curve, DEFAULTS
    )
    assert finding.detector == "learning_curve" and "shuffled" in finding.message


def test_verdict_says_more_data_helps_only_when_the_last_gain_beats_its_noise() -> None:
    sizes = [100, 250, 500, 1000]
    options = ReportSettings(chance_margin=0.05, learning_curve_folds=3)
    rising = judge_learning_curve(
        "roc_auc",
        0.5,
        CurveScores(sizes, np.array([0.7, 0.75, 0.8, 0.85]), np.full(4, 0.01)),
        options,
        1500,
        1500,
    )
    noisy = judge_learning_curve(
        "roc_auc",
        0.5,
        CurveScores(sizes, np.array([0.7, 0.75, 0.8, 0.81]), np.full(4, 0.03)),
        options,
        1500,
        1500,
    )
    assert rising.verdict == "more_data_would_help" and noisy.verdict == "plateau"


def test_regression_and_multiclass_curves_use_r2_and_balanced_accuracy() -> None:
    frame = signal_frame(900)
    frame["r"] = frame["a"] * 3 + np.random.default_rng(1).normal(0, 0.1, 900)
    frame["m"] = pd.cut(
        frame["a"], [-np.inf, -0.5, 0.5, np.inf], labels=["lo", "mid", "hi"]
    ).astype(str)
    regression = measure_learning_curve(
        frame, synthetic_card("r", "regression"), FEATURES, DEFAULTS
    )
    multiclass = measure_learning_curve(
        frame, synthetic_card("m", "multiclass"), FEATURES, DEFAULTS
    )
    assert regression.metric == "r2" and regression.mean_scores[-1] > 0.9
    assert multiclass.metric == "balanced_accuracy" and multiclass.chance_score == 1 / 3
    assert multiclass.mean_scores[-1] > 0.8


def test_too_little_data_or_a_single_class_is_reported_not_crashed() -> None:
    tiny = measure_learning_curve(signal_frame(20), CARD, FEATURES, DEFAULTS)
    single = measure_learning_curve(signal_frame(300).assign(y="no"), CARD, FEATURES, DEFAULTS)
    nothing = measure_learning_curve(signal_frame(300), CARD, FeatureColumns([], []), DEFAULTS)
    assert {tiny.verdict, single.verdict, nothing.verdict} == {"not_measured"}
    assert "20 labelled rows" in tiny.explanation and "two classes" in single.explanation


def test_learning_curve_is_deterministic_for_a_seed() -> None:
    first = measure_learning_curve(signal_frame(600), CARD, FEATURES, DEFAULTS, seed=3)
    again = measure_learning_curve(signal_frame(600), CARD, FEATURES, DEFAULTS, seed=3)
    assert first.mean_scores == again.mean_scores
