"""Accessible: find columns that look like personal data, by their names and a sample of values.

Personal data in a training table is a legal question before it is a modelling one, so the
report names every such column; the card's policy may warn, fail or drop them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from mleng.quality.findings import Finding, Policy
from mleng.reports.formatting import format_number

# Specific patterns first: on a tie the earlier kind wins (an SSN also looks like a phone number).
VALUE_PATTERNS: dict[str, re.Pattern[str]] = {
    "email": re.compile(r"^[\w.+'-]+@[\w-]+(\.[\w-]+)+$"),
    "national_id": re.compile(r"^\d{3}-\d{2}-\d{4}$|^[A-Z]{2}\d{6}[A-D]$"),
    "payment_card_or_iban": re.compile(r"^(\d[ -]?){13,19}$|^[A-Z]{2}\d{2}[A-Z0-9 ]{11,30}$"),
    "ip_address": re.compile(r"^(\d{1,3}\.){3}\d{1,3}$|^(?=.*:.*:)[0-9a-fA-F:]{15,39}$"),
    "street_address": re.compile(
        r"^\d+[A-Za-z]?\s+([\w.'-]+\s+){0,4}(street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|"
        r"court|ct|way|place|pl|square|sq|terrace|highway|hwy)\b\.?",
        re.IGNORECASE,
    ),
    "phone_number": re.compile(r"^(\+|00)?[\d\s().\-/]{7,22}$"),
    "person_name": re.compile(r"^[A-Z][a-z'\-]+(\s[A-Z]\.?)?(\s[A-Z][a-z'\-]+){1,2}$"),
}
DATE_LIKE = re.compile(r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|^\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}")
NAME_PATTERNS: dict[str, re.Pattern[str]] = {
    "email": re.compile(r"e_?mail", re.IGNORECASE),
    "phone_number": re.compile(r"phone|mobile|\btel\b|fax", re.IGNORECASE),
    "person_name": re.compile(
        r"^(first|last|full|given|family|middle|sur|maiden|user|customer|patient)?_?name$|^surname$",
        re.IGNORECASE,
    ),
    "street_address": re.compile(
        r"address|street|\baddr\b|postcode|zip_?code|postal", re.IGNORECASE
    ),
    "national_id": re.compile(
        r"ssn|social_?security|passport|national_?id|tax_?id|licen[cs]e_?(no|number)", re.IGNORECASE
    ),
    "payment_card_or_iban": re.compile(
        r"iban|credit_?card|card_?number|account_?(no|number)", re.IGNORECASE
    ),
    "ip_address": re.compile(r"ip_?addr|\bip\b", re.IGNORECASE),
    "date_of_birth": re.compile(r"\bdob\b|birth_?(date|day)|date_?of_?birth", re.IGNORECASE),
}
ID_NAME = re.compile(r"(^|_|\b)(id|uuid|guid|ref|reference|number|no)$|[a-z]Id$", re.IGNORECASE)
FREE_TEXT_MIN_LENGTH = 40


@dataclass(frozen=True)
class PersonalDataColumn:
    """A column that looks like personal data: what kind, and why we think so."""

    column: str
    kind: str
    matched_fraction: float
    by_name: bool
    examples_masked: list[str]

    def to_dict(self) -> dict[str, object]:
        return {
            "column": self.column,
            "kind": self.kind,
            "matched_fraction": round(self.matched_fraction, 4),
            "by_name": self.by_name,
            "examples_masked": self.examples_masked,
        }


def mask_value(value: str) -> str:
    """Keep the shape of a value but hide its content, so the report itself leaks nothing."""
    return re.sub(r"[A-Za-z]", "x", re.sub(r"\d", "9", value))[:24]


def passes_payment_check(value: str) -> bool:
    """IBANs pass; digit strings must pass the Luhn checksum, which plain long ids rarely do."""
    digits = re.sub(r"[ -]", "", value)
    if not digits.isdigit():
        return True
    total = 0
    for position, digit in enumerate(reversed(digits)):
        number = int(digit) * (2 if position % 2 else 1)
        total += number - 9 if number > 9 else number
    return total % 10 == 0


def match_value_kind(values: pd.Series) -> tuple[str | None, float]:
    """The personal-data kind most of the values match, and the share that matches it."""
    best_kind, best_share = None, 0.0
    for kind, pattern in VALUE_PATTERNS.items():
        matches = values.str.match(pattern)
        if kind == "phone_number":
            digits = values.str.count(r"\d")
            matches &= digits.between(7, 15) & ~values.str.match(DATE_LIKE)
            matches &= values.str.contains(r"[\s().\-+/]") | values.str.startswith("+")
        if kind == "payment_card_or_iban":
            matches &= values.map(passes_payment_check).astype(bool)
        share = float(matches.mean()) if len(values) else 0.0
        if share > best_share:
            best_kind, best_share = kind, share
    return best_kind, best_share


def classify_column(
    name: str, series: pd.Series, sample_size: int, match_fraction: float, seed: int
) -> PersonalDataColumn | None:
    """The personal-data kind of one column, from its values first and its name second."""
    values = series.dropna()
    if len(values) > sample_size:
        values = values.sample(sample_size, random_state=seed)
    text = values.astype(str).str.strip()
    text = text[text != ""]
    is_text = not pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    kind, share = match_value_kind(text) if is_text and len(text) else (None, 0.0)
    examples = [mask_value(v) for v in text.unique()[:3]]
    # Names repeat little; a few title-case values repeated (city names) are not people.
    many_distinct = kind != "person_name" or text.nunique() >= 0.3 * len(text)
    if kind is not None and share >= match_fraction and many_distinct:
        return PersonalDataColumn(name, kind, share, False, examples)
    for name_kind, pattern in NAME_PATTERNS.items():
        if pattern.search(name):
            return PersonalDataColumn(
                name, name_kind, share if kind == name_kind else 0.0, True, examples
            )
    if is_text and len(text) and float(text.str.len().mean()) >= FREE_TEXT_MIN_LENGTH:
        return PersonalDataColumn(name, "free_text", 1.0, False, examples)
    unique_ratio = series.nunique() / max(len(series.dropna()), 1)
    if ID_NAME.search(name) and unique_ratio >= 0.9 and len(series.dropna()) >= 20:
        return PersonalDataColumn(name, "identifier", float(unique_ratio), True, examples)
    return None


def detect_personal_data(
    frame: pd.DataFrame, sample_size: int = 2000, match_fraction: float = 0.5, seed: int = 0
) -> list[PersonalDataColumn]:
    """Every column whose name or sampled values look like personal data, in column order."""
    found = [
        classify_column(str(column), frame[column], sample_size, match_fraction, seed)
        for column in frame.columns
    ]
    return [item for item in found if item is not None]


def build_personal_data_findings(found: list[PersonalDataColumn], policy: Policy) -> list[Finding]:
    """One finding per personal-data column, with a message saying what to do."""
    findings = []
    for item in found:
        kind = item.kind.replace("_", " ")
        reason = (
            f"its name suggests {kind}"
            if item.by_name
            else f"{format_number(100 * item.matched_fraction)}% of sampled values look like {kind}"
        )
        message = (
            f"Column '{item.column}' looks like personal data ({reason}, e.g. "
            f"{item.examples_masked[:2]}). Drop it, pseudonymise it, or confirm you may use it and "
            "describe it in data_checks.descriptions."
        )
        evidence = {
            "kind": item.kind,
            "matched_fraction": round(item.matched_fraction, 4),
            "by_name": item.by_name,
        }
        findings.append(Finding("personal_data", (item.column,), evidence, policy, message))
    return findings
