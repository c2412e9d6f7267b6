"""The formatting every report shares: values made JSON-ready, numbers made short, markdown tables.

Data, validation, assessment and model-card reports all go through these three functions, so a
number or a missing value reads the same in every artifact.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd


def to_jsonable(value: Any, spell_non_finite: bool = False) -> Any:
    """Nested results as values `json.dumps(..., allow_nan=False)` accepts.

    Numpy scalars and arrays become Python numbers and lists, dates ISO text, objects with a
    `to_dict()` their dict, anything else its text. NaN and infinities become null, or with
    `spell_non_finite` their text ("nan", "inf"): for values that are themselves the evidence,
    such as the bad values a validation saw, where null would read as a missing value.
    """
    if isinstance(value, dict):
        return {str(key): to_jsonable(item, spell_non_finite) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, np.ndarray)):
        return [to_jsonable(item, spell_non_finite) for item in value]
    if hasattr(value, "to_dict") and not isinstance(value, (pd.DataFrame, pd.Series)):
        return to_jsonable(value.to_dict(), spell_non_finite)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if math.isfinite(number):
            return number
        return str(number) if spell_non_finite else None
    if isinstance(value, (pd.Timestamp, datetime, date)):
        return None if pd.isna(value) else value.isoformat()
    if isinstance(value, (pd.Timedelta, timedelta)):
        return None if pd.isna(value) else pd.Timedelta(value).isoformat()
    if value is None or isinstance(value, str):
        return value
    if value is pd.NA or value is pd.NaT:
        return None
    return str(value)


def format_number(value: Any, digits: int = 3, decimals: int | None = None) -> str:
    """A short human form of a number for messages and tables: "n/a" when missing or not
    finite, whole numbers with thousands separators, other numbers with `digits` significant
    digits or, given `decimals`, with that many decimals (`0.8120` for metrics)."""
    if value is None or (isinstance(value, (float, np.floating)) and not math.isfinite(value)):
        return "n/a"
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return f"{int(value):,}"
    if decimals is not None:
        return f"{float(value):.{decimals}f}"
    return f"{float(value):.{digits}g}"


def format_cell(value: Any) -> str:
    """Table-safe text: numbers by `format_number`, backslashes and pipes escaped, line breaks
    flattened, so no value can break the table's layout."""
    is_number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )
    text = format_number(value) if is_number else str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def render_table(
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    right_aligned: Collection[str] = (),
) -> str:
    """A markdown pipe table; the columns named in `right_aligned` (counts, shares) align right."""
    rule = "|" + "".join("---:|" if name in right_aligned else "---|" for name in header)
    lines = ["| " + " | ".join(header) + " |", rule]
    lines += ["| " + " | ".join(format_cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)
