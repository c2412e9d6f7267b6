"""Infer what a dataset card says about a file: the task from the target, each column's role.

`mleng card init` guesses what a user would otherwise write by hand: binary, multiclass or
regression from the target's values; id, timestamp, numeric and categorical columns from each
column's values and name. Each guess carries the reason shown beside it in the card, and the
guesses that can go wrong in a way that matters (an identifier taken for a feature, a numeric
code taken for a measurement) are flagged for review. Kept apart from reading and writing files
(`profile`) and from the card's text (`card_yaml`) so the rules can be read and tuned alone.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mleng.card import Task
from mleng.data.loading import looks_like_text
from mleng.errors import CardError, DataError

TASKS: tuple[str, ...] = ("binary", "multiclass", "regression")
MAX_CLASS_LEVELS = 20  # a numeric target with at most this many integer values ...
MAX_CLASS_SHARE = 0.05  # ... and fewer distinct values than this share of rows holds class labels
MAX_CODE_LEVELS = 20  # an integer column with 3..this many values may be a code, not a measure
UNIQUE_SHARE = 0.95  # distinct values per non-null row above which a column identifies rows
MIN_ID_LEVELS = 20  # fewer distinct values than this never make an identifier (tiny files)
DATE_SHARE = 0.95  # share of sampled values that must parse as dates
DATE_SAMPLE = 500
ID_WORDS = frozenset({"id", "ids", "key", "uuid", "guid", "identifier"})
CODE_WORDS = frozenset(
    {"code", "zip", "zipcode", "postcode", "postal", "type", "category", "kind", "class", "group"}
)
DATE_PATTERN = re.compile(
    r"^\s*(\d{4}-\d{1,2}(-\d{1,2})?|\d{1,4}/\d{1,2}/\d{1,4}|\d{1,2}\.\d{1,2}\.\d{4})([ T].*)?$"
)


@dataclass(frozen=True)
class TaskGuess:
    """The task for a target, its positive label (binary) and the reason, for the card."""

    task: Task
    reason: str
    positive_label: object = None
    label_note: str = ""


@dataclass
class ColumnRoles:
    """Every column but the target in one role, with a note per column for the card's comments.

    `flags` hold the guesses a reviewer must check (REVIEW comments); `notes` explain the others;
    `unused` are columns in no role (every value missing, surplus date columns), with the reason.
    """

    id_columns: list[str] = field(default_factory=list)
    timestamp_column: str | None = None
    timestamp_note: str = ""
    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)
    flags: dict[str, str] = field(default_factory=dict)
    unused: dict[str, str] = field(default_factory=dict)


def format_count(value: int) -> str:
    """A count with thousands separators (12,345), as the card and every message show counts."""
    return f"{value:,}"


def _words(name: str) -> set[str]:
    """A column name's words: customerID, customer_id and Customer Id all give {customer, id}."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return set(re.split(r"[^a-z0-9]+", spaced.lower())) - {""}


def looks_like_id_name(name: str) -> bool:
    return bool(_words(name) & ID_WORDS)


def looks_like_code_name(name: str) -> bool:
    return bool(_words(name) & CODE_WORDS) or name.lower().endswith("code")


def _is_number(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _is_integer_valued(present: pd.Series) -> bool:
    if pd.api.types.is_integer_dtype(present):
        return True
    if not pd.api.types.is_float_dtype(present) or present.empty:
        return False
    values = present.to_numpy(dtype="float64")
    return bool(np.isfinite(values).all() and (np.mod(values, 1.0) == 0).all())


def _to_python(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value


def infer_task(target: pd.Series, source: str) -> TaskGuess:
    """Classification for text, booleans and a few integer values; regression otherwise."""
    present = target.dropna()
    rows, levels = len(present), int(present.nunique())
    if levels < 2:
        raise DataError(
            f"Target column '{target.name}' of {source} ({format_count(rows)} labelled rows) has "
            f"{'no value' if levels == 0 else f'a single value ({present.iloc[0]!r})'}; "
            "a model needs a target that varies: pick another --target or fix the file"
        )
    if pd.api.types.is_bool_dtype(present):
        reason = "true/false labels"
    elif not _is_number(present):
        reason = "text labels"
    elif _is_integer_valued(present) and (
        levels == 2 or (levels <= MAX_CLASS_LEVELS and levels < MAX_CLASS_SHARE * rows)
    ):
        reason = (
            f"{levels} distinct integers in {format_count(rows)} rows (at most "
            f"{MAX_CLASS_LEVELS} and under {MAX_CLASS_SHARE:.0%} of rows): class labels"
        )
    else:
        return TaskGuess(
            "regression",
            f"numbers, {format_count(levels)} distinct values in {format_count(rows)} rows",
        )
    reason = f"{reason}, {levels} classes in {format_count(rows)} rows ({_class_counts(present)})"
    if levels > 2:
        return TaskGuess("multiclass", reason)
    return _binary(present, reason)


def _class_counts(present: pd.Series, limit: int = 6) -> str:
    counts = present.value_counts()
    shown = [f"{label}: {format_count(int(n))}" for label, n in counts.head(limit).items()]
    rest = len(counts) - limit
    return ", ".join(shown) + (f" and {rest} more" if rest > 0 else "")


def _binary(present: pd.Series, reason: str) -> TaskGuess:
    """Binary with the minority class as positive label (ties: the last label in sorted order)."""
    counts = present.value_counts()
    ordered = sorted(counts.index, key=lambda label: (-int(counts[label]), str(label)))
    positive = ordered[-1]
    note = (
        f"the minority class ({format_count(int(counts[positive]))} of "
        f"{format_count(int(counts.sum()))} rows), the class that f1, precision and recall score"
    )
    return TaskGuess("binary", reason, _to_python(positive), note)


def override_task(target: pd.Series, task: str, source: str) -> TaskGuess:
    """The user's --task, checked against the target so the card cannot fail to load later."""
    if task not in TASKS:
        raise CardError(f"Unknown --task '{task}'; use one of {', '.join(TASKS)}")
    present = target.dropna()
    levels = int(present.nunique())
    if task == "regression" and not _is_number(present):
        examples = ", ".join(repr(str(v)) for v in present.unique()[:3])
        raise DataError(
            f"Target column '{target.name}' of {source} holds text ({examples}, ...); "
            "--task regression needs numbers: use --task binary or multiclass, or drop --task"
        )
    if task == "binary" and levels != 2:
        raise DataError(
            f"Target column '{target.name}' of {source} has {levels} classes; --task binary "
            f"needs exactly 2: use --task {'multiclass' if levels > 2 else 'regression'}"
        )
    if task == "binary":
        return _binary(present, "set by --task")
    if levels < 2:
        infer_task(target, source)  # raises the single-value error
    return TaskGuess(task, "set by --task")  # type: ignore[arg-type]


def looks_like_dates(present: pd.Series) -> bool:
    """Datetime values, or text that parses as dates (ISO, d/m/y or d.m.y), never plain numbers."""
    if pd.api.types.is_datetime64_any_dtype(present):
        return True
    if _is_number(present) or pd.api.types.is_bool_dtype(present) or present.empty:
        return False
    sample = present.sample(min(DATE_SAMPLE, len(present)), random_state=0).astype(str)
    if sample.str.match(DATE_PATTERN).mean() < DATE_SHARE:
        return False
    return bool(parse_times(sample).notna().mean() >= DATE_SHARE)


def infer_roles(frame: pd.DataFrame, target: str) -> ColumnRoles:
    """Each column but the target as id, timestamp, numeric or categorical, with review flags."""
    roles = ColumnRoles()
    dates: list[str] = []
    for column in frame.columns:
        if column == target:
            continue
        present = frame[column].dropna()
        if present.empty:
            roles.unused[column] = "every value is missing"
        elif looks_like_dates(present):
            dates.append(column)
        elif _is_number(present):
            _numeric_role(roles, frame[column], present)
        else:
            _categorical_role(roles, column, present)
    _timestamp_role(roles, frame, dates)
    return roles


def _unique_share(present: pd.Series) -> tuple[int, float]:
    levels = int(present.nunique())
    return levels, levels / len(present)


def _numeric_role(roles: ColumnRoles, series: pd.Series, present: pd.Series) -> None:
    column, rows = str(series.name), len(present)
    levels, share = _unique_share(present)
    integers = _is_integer_valued(present)
    identifying = integers and levels >= MIN_ID_LEVELS and share >= UNIQUE_SHARE
    if identifying and series.notna().all() and levels == rows and series.is_monotonic_increasing:
        roles.id_columns.append(column)
        roles.notes[column] = (
            "strictly increasing unique integers: a row number or sequence id, kept out of the "
            "model (move it to numeric_columns if it is a measurement)"
        )
        return
    if identifying and looks_like_id_name(column):
        roles.id_columns.append(column)
        roles.notes[column] = (
            f"named like an identifier, {format_count(levels)} distinct integers in "
            f"{format_count(rows)} rows"
        )
        return
    roles.numeric.append(column)
    if levels == 1:
        roles.flags[column] = "a single value: nothing to learn from; remove it from the list"
    elif identifying:
        roles.flags[column] = (
            f"{format_count(levels)} distinct integers in {format_count(rows)} rows: an identifier "
            "taken for a measurement? move it to id_columns if so"
        )
    elif looks_like_id_name(column) and integers:
        roles.flags[column] = (
            f"named like an identifier, {levels} values repeated across rows: a code taken for a "
            "measurement? move it to categorical_columns (or id_columns) if so"
        )
    elif integers and (2 < levels <= MAX_CODE_LEVELS or looks_like_code_name(column)):
        why = "named like a code, " if looks_like_code_name(column) else "only "
        roles.flags[column] = (
            f"{why}{levels} distinct integers: a numeric code taken for a measurement? "
            "move it to categorical_columns if so"
        )


def _categorical_role(roles: ColumnRoles, column: str, present: pd.Series) -> None:
    rows = len(present)
    levels, share = _unique_share(present)
    boolean = pd.api.types.is_bool_dtype(present)
    unique = levels >= MIN_ID_LEVELS and share >= UNIQUE_SHARE and not boolean
    numbers = None if boolean else _numbers_as_text(present)
    if numbers and unique:  # a measurement spoiled by a few bad values, neither id nor category
        roles.unused[column] = roles.flags[column] = (
            f"{numbers}: a measurement? clean the file so the column reads as numbers, then "
            "list it in numeric_columns"
        )
        return
    if looks_like_text(present) and not looks_like_id_name(column):
        roles.id_columns.append(column)
        roles.flags[column] = (
            f"{format_count(levels)} distinct texts of several words in {format_count(rows)} "
            "rows: an id or free text, kept out of the model here; if free text, move it to "
            "text_columns to vectorize it (features.text)"
        )
        return
    if unique:
        roles.id_columns.append(column)
        kind = "named like an identifier" if looks_like_id_name(column) else "an id or free text"
        roles.notes[column] = (
            f"{format_count(levels)} distinct texts in {format_count(rows)} rows: {kind}, never a "
            "useful category (kept out of the model)"
        )
        return
    roles.categorical.append(column)
    if levels == 1:
        roles.flags[column] = "a single value: nothing to learn from; remove it from the list"
    elif looks_like_id_name(column):
        roles.flags[column] = (
            f"named like an identifier but only {format_count(levels)} distinct values: a key "
            "shared by rows? move it to id_columns to keep it out of the model"
        )
    elif numbers:
        roles.flags[column] = (
            f"{numbers}: a measurement? clean the file so the column reads as numbers, then "
            "move it to numeric_columns"
        )


def _numbers_as_text(present: pd.Series) -> str | None:
    """`"95% of values are numbers stored as text (not numbers: '?')"`, or None."""
    numbers = pd.to_numeric(present.astype(str).str.strip(), errors="coerce")
    parsed = float(numbers.notna().mean())
    if parsed < 0.9:
        return None
    bad = present[numbers.isna()].astype(str).unique()[:3]
    return (
        f"{parsed:.0%} of values are numbers stored as text (not numbers: "
        f"{', '.join(repr(v) for v in bad)})"
    )


def _timestamp_role(roles: ColumnRoles, frame: pd.DataFrame, dates: list[str]) -> None:
    problem = find_order_problem(frame[dates[0]], strict=False) if len(dates) == 1 else None
    if problem:
        column = dates[0]
        roles.unused[column] = roles.flags[column] = (
            f"parses as dates, but the split cannot order it as written ({problem}): rewrite it "
            "in one format and timezone (ISO 8601, UTC), then set timestamp_column to it"
        )
        roles.timestamp_note = f"'{column}' holds dates the split cannot order: see below"
        return
    if len(dates) == 1:
        column = dates[0]
        times = parse_times(frame[column]).dropna()
        roles.timestamp_column = column
        roles.timestamp_note = (
            f"'{column}' is the only column that parses as dates ({times.min():%Y-%m-%d} to "
            f"{times.max():%Y-%m-%d}), so the split is temporal: the latest rows are the test set "
            "and the model is tested on a future it never saw. Set it to null for a split by "
            "row key if the model will never predict rows later than those it learns from"
        )
        return
    for column in dates:
        roles.unused[column] = (
            f"parses as dates, one of {len(dates)} date columns ({', '.join(dates)}): set "
            "timestamp_column to the one that orders the rows for a temporal split"
        )
    roles.timestamp_note = (
        "no column parses as dates: the split is by row key (the id columns, or the row's content)"
        if not dates
        else f"{len(dates)} date columns ({', '.join(dates)}): choose one for a temporal split"
    )


def find_order_problem(series: pd.Series, strict: bool) -> str | None:
    """Why the temporal split (strict: the series windowing) cannot parse the column, or None."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pd.to_datetime(series, errors="raise" if strict else "coerce")
    except (ValueError, TypeError, OverflowError) as error:
        return (str(error).strip().splitlines() or [type(error).__name__])[0]
    return None


def parse_times(series: pd.Series) -> pd.Series:
    """Timezone-naive datetimes (UTC for values with an offset); unparsable values are NaT."""
    parsed = series
    if not pd.api.types.is_datetime64_any_dtype(series):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = pd.to_datetime(series, errors="coerce", format="mixed", utc=True)
    return parsed.dt.tz_convert(None) if parsed.dt.tz is not None else parsed
