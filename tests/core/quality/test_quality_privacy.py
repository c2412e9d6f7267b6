"""Personal data is recognised by value shapes and column names; ordinary categories are not."""

from __future__ import annotations

import pandas as pd
import pytest

from mleng.quality.privacy import build_personal_data_findings, detect_personal_data, mask_value

ROWS = 60


def kinds_found(frame: pd.DataFrame) -> dict[str, str]:
    return {item.column: item.kind for item in detect_personal_data(frame)}


@pytest.mark.parametrize(
    "values, kind",
    [
        ([f"user{i}@example.com" for i in range(ROWS)], "email"),
        ([f"+1 555-{i:03d}-{1000 + i}" for i in range(ROWS)], "phone_number"),
        ([f"({200 + i}) 555 01{i:02d}" for i in range(ROWS)], "phone_number"),
        ([f"{100 + i}-45-{6789 - i}" for i in range(ROWS)], "national_id"),
        ([f"{i + 1} Baker Street" for i in range(ROWS)], "street_address"),
        (
            [
                f"{first} {last}"
                for first in ("Ann", "Bob", "Cleo", "Dan", "Eve", "Finn")
                for last in (
                    "Smith",
                    "Jones",
                    "Brown",
                    "Taylor",
                    "Wilson",
                    "Evans",
                    "Thomas",
                    "Roberts",
                    "Walker",
                    "Wright",
                )
            ],
            "person_name",
        ),
        ([f"10.0.{i}.{i + 1}" for i in range(ROWS)], "ip_address"),
        (["4111 1111 1111 1111"] * ROWS, "payment_card_or_iban"),
        (
            [
                "The customer called twice about the delayed delivery of parcel " + str(i)
                for i in range(ROWS)
            ],
            "free_text",
        ),
    ],
)
def test_values_shaped_like_personal_data_are_flagged_with_their_kind(
    values: list[str], kind: str
) -> None:
    assert kinds_found(pd.DataFrame({"field_x": values})) == {"field_x": kind}


@pytest.mark.parametrize(
    "column, kind",
    [
        ("email", "email"),
        ("home_phone", "phone_number"),
        ("surname", "person_name"),
        ("street_address", "street_address"),
        ("date_of_birth", "date_of_birth"),
        ("customer_id", "identifier"),
    ],
)
def test_column_names_alone_flag_personal_data(column: str, kind: str) -> None:
    values = [f"v{i}" for i in range(ROWS)] if kind == "identifier" else ["redacted"] * ROWS
    assert kinds_found(pd.DataFrame({column: values})) == {column: kind}


def test_ordinary_categories_numbers_and_dates_are_not_personal_data(
    adult_frame: pd.DataFrame,
) -> None:
    frame = adult_frame.assign(
        day=[f"2021-03-{1 + i % 28:02d}" for i in range(len(adult_frame))],
        city=["New York", "Los Angeles", "San Diego"] * (len(adult_frame) // 3),
        amount=[f"{i * 1.5:.2f}" for i in range(len(adult_frame))],
    )
    assert kinds_found(frame) == {}


def test_findings_name_the_column_and_mask_the_examples() -> None:
    frame = pd.DataFrame({"contact": [f"jane{i}@corp.example" for i in range(ROWS)]})
    (finding,) = build_personal_data_findings(detect_personal_data(frame), "warn")
    assert "'contact'" in finding.message and "100%" in finding.message
    assert "jane" not in finding.message
    assert mask_value("jane7@corp.example") == "xxxx9@xxxx.xxxxxxx"


def test_missing_values_and_tiny_columns_do_not_break_detection() -> None:
    frame = pd.DataFrame({"a": [None, None], "b": [float("nan"), 1.0], "email": [None, "x@y.org"]})
    assert kinds_found(frame) == {"email": "email"}
