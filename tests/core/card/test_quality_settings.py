"""The data_checks block: every field defaults, typos are errors, policies behave as documented."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
import yaml
from pydantic import ValidationError

from mleng.card import DEFAULT_POLICIES, DataChecksSettings
from mleng.quality import (
    Finding,
    apply_leakage_policy,
    apply_policies,
)

EXAMPLE_YAML = """
descriptions:
  age: Age in years at the census.
  bonus_paid: Bonus paid at the end of the year, in dollars.
sensitive_columns: [sex, race]
known_at:
  age: before_prediction
  bonus_paid: after_event
  lab_result: P2D
  last_login: -PT1H
recorded_at:
  lab_result: lab_result_time
label_time_column: label_time
label_delay: P30D
reference_path: data/reference.csv
policies:
  personal_data: drop
  single_feature_predictor: fail
leakage: {max_rows: 4000, min_single_feature_score: 0.98}
bias: {ks_statistic: 0.15}
report: {learning_curve_max_rows: 8000, stale_after: P365D}
sampling: {max_rows: 100000, strategy: systematic}
"""


def test_empty_block_gets_every_default() -> None:
    settings = DataChecksSettings()
    assert settings.known_at == {} and settings.sensitive_columns == []
    assert settings.policy_for("target_copy") == "fail"
    assert settings.policy_for("missing_values") == "warn"


def test_example_yaml_block_parses_with_offsets_as_timedeltas() -> None:
    settings = DataChecksSettings.model_validate(yaml.safe_load(EXAMPLE_YAML))
    assert settings.known_at["lab_result"] == timedelta(days=2)
    assert settings.known_at["last_login"] == timedelta(hours=-1)
    assert settings.policy_for("personal_data") == "drop"
    assert settings.leakage.max_rows == 4000 and settings.report.stale_after == timedelta(days=365)


def test_after_event_and_positive_offsets_count_as_after_the_prediction() -> None:
    settings = DataChecksSettings.model_validate(yaml.safe_load(EXAMPLE_YAML))
    assert settings.is_after_prediction("bonus_paid")
    assert settings.is_after_prediction("lab_result")
    assert not settings.is_after_prediction("last_login")
    assert not settings.is_after_prediction("age")
    assert not settings.is_after_prediction("undeclared")


@pytest.mark.parametrize(
    "data, field",
    [
        ({"descriptons": {}}, "descriptons"),
        ({"known_at": {"x": "afterwards"}}, "known_at.x"),
        ({"policies": {"target_copy": "ignore"}}, "policies.target_copy"),
        ({"policies": {"no_such_detector": "warn"}}, "policies.no_such_detector"),
        ({"leakage": {"max_row": 10}}, "leakage.max_row"),
        ({"sampling": {"strategy": "clustered"}}, "sampling.strategy"),
    ],
)
def test_invalid_settings_name_the_bad_field(data: dict, field: str) -> None:
    with pytest.raises(ValidationError) as error:
        DataChecksSettings.model_validate(data)
    assert field.split(".")[-1] in str(error.value)


def test_drop_policy_is_refused_for_detectors_about_rows() -> None:
    with pytest.raises(ValidationError, match="about rows or the whole table"):
        DataChecksSettings(policies={"split_overlap": "drop"})


def test_every_detector_has_a_default_policy() -> None:
    assert set(DEFAULT_POLICIES) == set(
        DataChecksSettings.model_fields["policies"].annotation.__args__[0].__args__
    )


def test_policies_drop_columns_collect_failures_and_warn_about_the_rest() -> None:
    frame = pd.DataFrame({"a": [1], "b": [2], "c": [3]})
    findings = [
        Finding("target_copy", ("a",), {}, "fail", "a copies the target"),
        Finding("personal_data", ("b",), {}, "drop", "b holds emails"),
        Finding("outliers", ("c",), {}, "warn", "c has outliers"),
    ]
    kept, failures, warnings = apply_leakage_policy(findings, frame)
    assert list(kept.columns) == ["a", "c"]
    assert failures == ["a copies the target"]
    assert "c has outliers" in warnings and any("Dropped column(s) ['b']" in w for w in warnings)
    assert apply_policies(findings, frame).dropped_columns == ["b"]


def test_finding_to_dict_is_json_ready() -> None:
    finding = Finding(
        "outliers", ("c",), {"share": float("nan"), "count": pd.Series([3]).iloc[0]}, "warn", "m"
    )
    assert finding.to_dict()["evidence"] == {"share": None, "count": 3}
