"""Leakage detectors: copies, near-perfect columns and pairs, ids hiding the label, future
features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mleng.card import DataChecksSettings
from mleng.quality import detect_leakage
from mleng.quality.columns import resolve_feature_columns
from mleng.quality.leakage import detect_future_features, measure_mapping_purity
from mleng.quality.markdown import render_leakage_markdown
from tests.corpus import synthetic_card


def base_frame(rows: int = 1500, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    y = np.where(x + rng.normal(0, 1, rows) > 0, "pos", "neg")
    return pd.DataFrame(
        {"x": x, "noise": rng.normal(size=rows), "c": rng.choice(list("abcd"), rows), "y": y}
    )


def leakage_findings(
    frame: pd.DataFrame, settings: DataChecksSettings | None = None, **card_changes
):
    card = synthetic_card(positive_label="pos", **card_changes)
    settings = settings or DataChecksSettings()
    return detect_leakage(frame, card, resolve_feature_columns(frame, card), settings)


def detectors(report) -> dict[str, set]:
    found: dict[str, set] = {}
    for finding in report.findings:
        found.setdefault(finding.detector, set()).update(finding.columns)
    return found


def test_honest_features_raise_no_leakage() -> None:
    report = leakage_findings(base_frame())
    assert report.findings == []
    assert (
        0.6 < report.single_feature_scores["x"] < 0.9
        and report.single_feature_scores["noise"] < 0.6
    )


@pytest.mark.parametrize(
    "copy",
    [lambda y: y, lambda y: np.where(y == "pos", 1, 0), lambda y: np.where(y == "pos", "Z", "A")],
)
def test_a_relabelled_copy_of_the_target_is_confirmed_leakage(copy) -> None:
    frame = base_frame().assign(label_copy=lambda f: copy(f["y"].to_numpy()))
    report = leakage_findings(frame)
    assert detectors(report)["target_copy"] == {"label_copy"}
    assert report.findings[0].policy == "fail" and "'label_copy'" in report.findings[0].message


def test_mapping_purity_is_one_both_ways_only_for_a_bijection() -> None:
    y = pd.Series(["a", "b", "a", "b"])
    assert measure_mapping_purity(pd.Series([1, 2, 1, 2]), y) == (1.0, 1.0)
    assert measure_mapping_purity(pd.Series([1, 2, 3, 4]), y) == (1.0, 0.5)


def test_a_monotonic_transform_of_a_regression_target_is_a_copy() -> None:
    frame = base_frame().assign(
        r=lambda f: f["x"] * 10 + np.random.default_rng(1).normal(size=len(f))
    )
    frame["log_r"] = np.exp(frame["r"] / 10)
    report = leakage_findings(frame.drop(columns="y"), target="r", task="regression")
    assert detectors(report)["target_copy"] == {"log_r"}


def test_a_noisy_near_copy_is_a_suspected_single_feature_predictor() -> None:
    frame = base_frame()
    flipped = np.random.default_rng(2).random(len(frame)) < 0.003
    frame["score"] = np.where(frame["y"] == "pos", 5.0, 1.0) + np.where(flipped, 4.0, 0) * np.where(
        frame["y"] == "pos", -1, 1
    )
    frame["score"] += np.random.default_rng(3).normal(0, 0.1, len(frame))
    report = leakage_findings(frame)
    assert detectors(report).get("single_feature_predictor") == {"score"}
    assert report.findings[0].policy == "warn"


def test_a_pair_whose_difference_is_the_label_is_flagged() -> None:
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"a": rng.normal(size=2000), "b": rng.normal(size=2000)})
    frame["y"] = np.where(frame["a"] > frame["b"], "pos", "neg")
    report = leakage_findings(frame)
    assert detectors(report)["feature_pair_predictor"] == {"a", "b"}


@pytest.mark.parametrize(
    "make_id",
    [
        lambda y, i: f"{'P' if y == 'pos' else 'N'}{i:07d}",
        lambda y, i: f"{i:07d}{'7' if y == 'pos' else '3'}",
        lambda y, i: f"ref-{i}" + ("-x" if y == "pos" else ""),
    ],
)
def test_an_id_whose_pattern_encodes_the_label_is_found(make_id) -> None:
    frame = base_frame()
    frame["ref"] = [make_id(y, i) for i, y in enumerate(frame["y"])]
    report = leakage_findings(frame)
    assert detectors(report)["id_encodes_target"] == {"ref"}


def test_an_undeclared_integer_row_number_in_label_order_warns_but_is_not_an_id() -> None:
    frame = base_frame().sort_values("y").reset_index(drop=True)
    frame["row_id"] = np.arange(len(frame))
    report = leakage_findings(frame)
    (finding,) = [f for f in report.findings if "row_id" in f.columns]
    assert finding.detector == "single_feature_predictor" and finding.policy == "warn"
    assert "'row_id'" in finding.message and "id_columns" in finding.message
    assert leakage_findings(frame, id_columns=["row_id"]).findings == []


def test_a_random_id_is_not_leakage() -> None:
    frame = base_frame().assign(
        ref=[f"u{n:08d}" for n in np.random.default_rng(5).permutation(1500)]
    )
    assert "id_encodes_target" not in detectors(leakage_findings(frame))


def test_columns_declared_after_the_event_or_with_positive_offsets_are_future_features() -> None:
    frame = base_frame()
    settings = DataChecksSettings(known_at={"x": "after_event", "noise": "P1D", "c": "-P1D"})
    found = detect_future_features(frame, ["x", "noise", "c"], None, settings)
    assert {f.columns[0] for f in found} == {"x", "noise"}


def test_dates_later_than_the_prediction_time_are_recorded_after_prediction() -> None:
    frame = base_frame(300).assign(t=pd.date_range("2023-01-01", periods=300, freq="D"))
    frame["closed_on"] = (frame["t"] + pd.Timedelta(days=5)).dt.strftime("%Y-%m-%d")
    frame["measured_at"] = frame["t"] + pd.Timedelta(hours=2)
    settings = DataChecksSettings(recorded_at={"noise": "measured_at"})
    found = detect_future_features(frame, ["x", "noise", "closed_on"], "t", settings)
    assert {f.columns[0]: f.detector for f in found} == {
        "closed_on": "recorded_after_prediction",
        "noise": "recorded_after_prediction",
    }


def test_multiclass_and_tiny_frames_run_without_errors() -> None:
    frame = base_frame(600).assign(
        y=lambda f: f["c"].map({"a": "k1", "b": "k2", "c": "k3", "d": "k3"})
    )
    report = leakage_findings(frame.assign(c2=lambda f: f["c"]), task="multiclass")
    assert {"c", "c2"} <= detectors(report).get("single_feature_predictor", set()) | detectors(
        report
    ).get("target_copy", set())
    assert leakage_findings(base_frame(8)).findings == []


def test_leakage_markdown_lists_findings_and_per_feature_scores() -> None:
    frame = base_frame().assign(copy=lambda f: f["y"])
    text = render_leakage_markdown(leakage_findings(frame))
    assert "target_copy" in text and "| x |" in text
