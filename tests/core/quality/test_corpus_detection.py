"""Every corrupted Adult variant is caught by the detector responsible, with a message that names
it."""

from __future__ import annotations

import re

import pytest

from mleng.quality import (
    Finding,
    build_data_report,
    compare_with_reference,
    detect_leakage,
    detect_split_overlap,
    detect_temporal_overlap,
    measure_label_rates,
)
from mleng.quality.columns import resolve_feature_columns
from tests.corpus import CASES, CorruptedCase, adult_card, build_case, load_adult_sample


def run_responsible_detector(case: CorruptedCase) -> list[Finding]:
    """The findings of the detector the case names as responsible, run as the flow would run it."""
    card = case.card()
    frame, settings = case.frame, case.settings
    features = resolve_feature_columns(frame, card)
    if case.responsible == "report":
        return build_data_report(
            frame, card, settings, learning_curve=case.detector == "learning_curve"
        ).findings
    if case.responsible == "leakage":
        return detect_leakage(frame, card, features, settings).findings
    if case.responsible == "split":
        return detect_split_overlap(frame, case.other, list(frame.columns), settings)
    if case.responsible == "temporal":
        return detect_temporal_overlap(frame, case.other, card.timestamp_column, settings)
    if case.responsible == "reference":
        return compare_with_reference(frame, case.other, features.all, settings).findings
    if case.responsible == "labels":
        return measure_label_rates(
            frame, card.target, card.task, card.positive_label, settings
        ).findings
    raise AssertionError(f"case {case.name} names no detector of ours: {case.responsible}")


@pytest.mark.parametrize("name", sorted(CASES))
def test_corrupted_variant_is_caught_with_a_message_naming_column_and_evidence(name: str) -> None:
    case = build_case(name)
    findings = run_responsible_detector(case)
    matching = [f for f in findings if f.detector == case.detector]
    assert matching, (
        f"{name}: expected a '{case.detector}' finding, got {[f.detector for f in findings]}"
    )
    finding = matching[0]
    if case.column is not None:
        assert case.column in finding.columns
        assert f"'{case.column}'" in finding.message
    assert re.search(r"\d", finding.message), "the message must carry the evidence as numbers"
    assert finding.evidence or case.detector == "missing_column"
    assert finding.policy in ("fail", "warn", "drop")


@pytest.mark.parametrize(
    "name", ["target_copy", "id_encodes_target", "known_after_event", "train_test_overlap"]
)
def test_confirmed_leakage_fails_by_default(name: str) -> None:
    case = build_case(name)
    findings = [f for f in run_responsible_detector(case) if f.detector == case.detector]
    assert findings[0].policy == "fail"


def test_clean_sample_raises_no_failing_finding_in_any_detector() -> None:
    clean = load_adult_sample()
    card = adult_card()
    features = resolve_feature_columns(clean, card)
    report = build_data_report(
        clean, card, build_case("target_copy").settings, learning_curve=False
    )
    leakage = detect_leakage(
        clean, card, features, report_settings := build_case("missing_column").settings
    )
    split = detect_split_overlap(
        clean.iloc[:2400], clean.iloc[2400:], list(clean.columns), report_settings
    )
    failing = [
        f.message for f in [*report.findings, *leakage.findings, *split] if f.policy == "fail"
    ]
    assert failing == []


def test_every_case_declares_a_responsible_detector_or_gx() -> None:
    allowed = {"report", "leakage", "split", "temporal", "reference", "labels", "gx"}
    assert {build_case(name).responsible for name in CASES} <= allowed
