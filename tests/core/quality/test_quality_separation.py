"""Leakage without false alarms or misses, on real Adult rows and the real CO2 series.

An integer measurement is not an id, a windowed lag is not a copy of the target, a code whose
levels each carry one class fails, and a column one level of which holds nearly all positives
is asked about (`data_checks.known_at`); honest columns, however strong or many-levelled, pass.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mleng.card import DataChecksSettings, load_card
from mleng.data.loading import build_examples, load_dataset
from mleng.quality import detect_leakage
from mleng.quality.columns import resolve_feature_columns
from mleng.quality.group_metrics import compute_auc
from mleng.quality.leakage import list_window_columns
from mleng.quality.separation import (
    is_ordered_by_value,
    measure_code_purity,
    measure_level_separation,
)
from tests.corpus import add_feature, adult_card, load_adult_sample, positives
from tests.helpers import ADULT, ROOT


def adult_with(column: str, values, kind: str, settings: DataChecksSettings | None = None):
    """The leakage report of the Adult sample with one more feature, as the flow runs it."""
    frame = load_adult_sample().assign(**{column: values})
    changes = add_feature(kind, column)
    if settings is not None:
        changes["data_checks"] = settings.model_dump()
    card = adult_card(**changes)
    return detect_leakage(frame, card, resolve_feature_columns(frame, card), card.data_checks)


def make_spend(shift: float, seed: int = 7) -> np.ndarray:
    """A whole-number amount, mostly unique, larger for the positive class by `shift` log units."""
    rng = np.random.default_rng(seed)
    return np.round(np.exp(rng.normal(8 + shift * positives(load_adult_sample()), 1.0))).astype(int)


def make_hidden_code(seed: int = 7) -> np.ndarray:
    """200 codes, a quarter issued only to positives, the rest only to negatives; 2% at random."""
    rng = np.random.default_rng(seed)
    positive = positives(load_adult_sample())
    kinds = rng.random(200) < 0.25
    rows = len(positive)
    codes = np.where(
        positive,
        rng.choice(np.flatnonzero(kinds), rows),
        rng.choice(np.flatnonzero(~kinds), rows),
    )
    return np.where(rng.random(rows) < 0.02, rng.integers(0, 200, rows), codes)


def make_severity(seed: int = 7) -> np.ndarray:
    """A claim's severity, graded after the outcome: 'severe' for 97% of positives, 2% of others."""
    rng = np.random.default_rng(seed)
    positive = positives(load_adult_sample())
    severe = rng.random(len(positive)) < np.where(positive, 0.97, 0.02)
    return np.where(severe, "severe", rng.choice(["none", "minor", "moderate"], len(positive)))


def test_a_legitimate_integer_count_predicting_at_auc_0_9_raises_no_leakage_finding() -> None:
    spend = make_spend(1.8)
    assert 0.88 < compute_auc(positives(load_adult_sample()), spend) < 0.92
    assert len(np.unique(spend)) / len(spend) > 0.5  # the old rule called it an id
    report = adult_with("annual_spend", spend, "numeric")
    assert report.findings == []
    assert 0.8 < report.single_feature_scores["annual_spend"] < 0.95


def test_a_near_perfect_integer_measurement_warns_and_is_never_an_id() -> None:
    report = adult_with("annual_spend", make_spend(4.5), "numeric")
    (finding,) = report.findings
    assert finding.columns == ("annual_spend",) and finding.policy == "warn"
    assert finding.detector != "id_encodes_target"


@pytest.mark.parametrize("kind", ["categorical", "numeric"])
def test_a_code_hiding_the_target_fails_naming_the_column_levels_and_purity(kind: str) -> None:
    codes = make_hidden_code()
    values = [f"B{c:03d}" for c in codes] if kind == "categorical" else codes
    report = adult_with("branch_code", values, kind)
    (finding,) = [f for f in report.findings if "branch_code" in f.columns]
    assert finding.detector == "code_hides_target" and finding.policy == "fail"
    evidence = finding.evidence
    assert evidence["supported_levels"] >= 190 and evidence["purity"] > 0.98
    assert evidence["chance_purity"] < 0.8 and evidence["lift_over_chance"] > 0.9
    for text in ("'branch_code'", f"{evidence['supported_levels']} levels", "% pure", "Drop"):
        assert text in finding.message
    assert "data_checks.policies.code_hides_target" in finding.message


def test_honest_categoricals_and_mostly_singleton_levels_are_not_codes() -> None:
    frame = load_adult_sample()
    for column in ("sex", "workclass", "occupation", "native-country"):
        code = measure_code_purity(frame[column], frame["class"], 5, 0)
        assert code.lift < 0.2, (column, code)
    rng = np.random.default_rng(3)
    singletons = [f"Z{v}" for v in rng.integers(0, 20_000, len(frame))]
    assert measure_code_purity(pd.Series(singletons), frame["class"], 5, 0).coverage < 0.1
    for levels in (300, 20_000):
        postcode = [f"Z{v}" for v in rng.integers(0, levels, len(frame))]
        assert adult_with("postcode", postcode, "categorical").findings == []


def test_a_threshold_on_integer_levels_is_ordered_not_a_code() -> None:
    rng = np.random.default_rng(5)
    count = pd.Series(rng.integers(0, 31, 3000))
    label = pd.Series(np.where(count > 15, "pos", "neg"))
    assert is_ordered_by_value(count, label, 5)
    shuffled_codes = count.map(dict(enumerate(rng.permutation(31))))
    assert not is_ordered_by_value(shuffled_codes, label, 5)


def test_a_post_event_severity_code_is_flagged_naming_the_column_and_known_at() -> None:
    severity = make_severity()
    frame = load_adult_sample()
    separation = measure_level_separation(pd.Series(severity), frame["class"], 20)
    assert separation.level == "severe" and separation.label == ">50K"
    assert separation.share_of_label > 0.95 and separation.share_of_rest < 0.03
    report = adult_with("claim_severity", severity, "categorical")
    (finding,) = report.findings
    assert finding.detector == "possible_future_feature" and finding.policy == "warn"
    assert "'claim_severity'" in finding.message and "data_checks.known_at" in finding.message
    assert "prediction time" in finding.message
    assert 0.95 < report.single_feature_scores["claim_severity"] < 0.99  # below the 0.99 probe


def test_declaring_when_the_severity_is_known_answers_the_question() -> None:
    before = DataChecksSettings(known_at={"claim_severity": "before_prediction"})
    assert adult_with("claim_severity", make_severity(), "categorical", before).findings == []
    after = DataChecksSettings(known_at={"claim_severity": "after_event"})
    report = adult_with("claim_severity", make_severity(), "categorical", after)
    assert [(f.detector, f.policy) for f in report.findings] == [("future_feature", "fail")]


def test_adults_real_columns_raise_no_fail_level_leakage_finding() -> None:
    frame = pd.read_csv(ADULT)
    card = adult_card()
    report = detect_leakage(frame, card, resolve_feature_columns(frame, card), card.data_checks)
    assert [f.message for f in report.findings if f.policy == "fail"] == []
    assert max(report.single_feature_scores.values()) < 0.8


def co2_examples() -> tuple[pd.DataFrame, object]:
    card = load_card(ROOT / "configs" / "co2_weekly.yaml")
    return build_examples(load_dataset(card), card), card


def test_co2_windows_are_not_target_copies_under_default_policies() -> None:
    examples, card = co2_examples()
    assert card.data_checks.policies == {}  # the card no longer downgrades target_copy
    features = resolve_feature_columns(examples, card)
    assert list_window_columns(card, features.all) == set(features.all)
    report = detect_leakage(examples, card, features, card.data_checks)
    assert [f for f in report.findings if f.detector == "target_copy"] == []
    assert [f.message for f in report.findings if f.policy == "fail"] == []
    assert report.single_feature_scores["co2__last"] > 0.95  # scored, as evidence


def test_a_real_copy_beside_the_co2_windows_still_fails() -> None:
    examples, card = co2_examples()
    examples["co2_reported"] = examples["co2"] * 1.0001 + 0.01
    report = detect_leakage(
        examples, card, resolve_feature_columns(examples, card), card.data_checks
    )
    assert [(f.detector, f.columns, f.policy) for f in report.findings] == [
        ("target_copy", ("co2_reported",), "fail")
    ]
