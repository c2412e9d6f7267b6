"""Data validation with Great Expectations 1.x: profile a suite from reference data, check new data.

Suites live as plain JSON (GX's own `ExpectationSuite.to_json_dict()` format) so they can be
reviewed, diffed and edited; every check is run by GX itself. GX is imported lazily because its
import costs 3-5 s and most commands never validate.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mleng.card import DatasetCard
from mleng.errors import DataError, MlengError
from mleng.reports.formatting import to_jsonable
from mleng.validation.report import (
    ExpectationOutcome,
    ValidationReport,
    raise_for_failures,
    render_validation_html,
    render_validation_markdown,
    to_python,
)

if TYPE_CHECKING:
    from types import ModuleType

__all__ = [
    "ExpectationOutcome",
    "SuiteError",
    "ValidationReport",
    "build_suite",
    "load_suite",
    "raise_for_failures",
    "render_validation_html",
    "render_validation_markdown",
    "save_suite",
    "validate_frame",
]

# Numeric dtypes GX recognises by these exact names; pandas nullable dtypes only match as
# "...Dtype".
NUMERIC_TYPE_NAMES = [
    *(f"{kind}{bits}" for kind in ("int", "uint") for bits in (8, 16, 32, 64)),
    "float16",
    "float32",
    "float64",
    *(f"{kind}{bits}Dtype" for kind in ("Int", "UInt") for bits in (8, 16, 32, 64)),
    "Float32Dtype",
    "Float64Dtype",
]
BOOL_TYPE_NAMES = ["bool", "BooleanDtype"]
OUTLIER_SHARE = 0.01  # share of values allowed outside the widened reference range
NEW_CATEGORY_SHARE = 0.01  # share of values allowed outside the reference categories
MAX_PROFILED_CATEGORIES = 1000  # above this a column is an identifier, not a category set
HARD_BOUND_SPANS = 10.0  # no value may lie this many reference spans beyond the reference range
FLOAT_MAX = float(np.finfo(np.float64).max)  # bounds at +-FLOAT_MAX make inf fail, NaN stays null


class SuiteError(MlengError):
    """The expectation suite file is missing, unreadable or invalid."""


@functools.cache
def _load_gx() -> ModuleType:
    """Import GX once, quieting its INFO chatter (one line per context about a temporary folder)."""
    import great_expectations

    # GX pins this module's logger to INFO at import; an explicit user setting elsewhere still wins.
    logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)
    gx_logger = logging.getLogger("great_expectations")
    if gx_logger.level == logging.NOTSET:
        gx_logger.setLevel(logging.WARNING)
    return great_expectations


def build_suite(
    df: pd.DataFrame,
    card: DatasetCard,
    numeric_columns: list[str],
    categorical_columns: list[str],
    tolerance: float = 0.1,
    min_row_fraction: float = 0.1,
) -> dict:
    """Profile a reference frame into a GX suite (JSON dict) that new data of the same kind passes.

    Ranges widen by `tolerance` x span and tolerate OUTLIER_SHARE outliers, category sets tolerate
    NEW_CATEGORY_SHARE unseen values, null shares may grow by a margin, so honest drift passes
    while broken exports fail. The row minimum is `min_row_fraction` of the reference (at least 1):
    a batch far smaller than usual is almost always a truncated file or a failed join.
    """
    if not 0.0 <= tolerance <= 1.0 or not 0.0 <= min_row_fraction <= 1.0:
        raise ValueError(
            f"tolerance ({tolerance}) and min_row_fraction ({min_row_fraction}) must lie in [0, 1]"
        )
    if df.empty:
        raise DataError(f"Cannot profile expectations for '{card.name}' from an empty frame")
    gxe = _load_gx().expectations
    numeric = [c for c in numeric_columns if c != card.target]
    categorical = [c for c in categorical_columns if c != card.target]
    extra = [*card.id_columns, *([card.timestamp_column] if card.timestamp_column else [])]
    required = list(dict.fromkeys([card.target, *extra, *numeric, *categorical]))
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DataError(f"Columns {missing} of card '{card.name}' are not in the reference data")
    expectations = [
        gxe.ExpectTableColumnsToMatchSet(column_set=required, exact_match=False),
        gxe.ExpectTableRowCountToBeBetween(min_value=max(1, math.ceil(min_row_fraction * len(df)))),
        *_profile_target(df[card.target], card, tolerance),
    ]
    for column in [*extra, *numeric, *categorical]:
        expectations.append(_profile_nulls(df[column], tolerance))
        if column in numeric:
            expectations.extend(_profile_numeric(df[column], tolerance))
        elif column in categorical:
            expectations.extend(_profile_categorical(df[column]))
    profile = {
        "card": card.name,
        "reference_rows": len(df),
        "tolerance": tolerance,
        "target": card.target,
        "numeric_columns": numeric,
        "categorical_columns": categorical,
    }
    suite = _load_gx().ExpectationSuite(
        name=card.name, expectations=[e for e in expectations if e], meta={"mleng": profile}
    )
    return to_jsonable(suite.to_json_dict())


def _profile_target(target: pd.Series, card: DatasetCard, tolerance: float) -> list:
    """The target is never null; labels come from a closed set, regression values stay in range."""
    gxe = _load_gx().expectations
    not_null = gxe.ExpectColumnValuesToNotBeNull(
        column=target.name, notes="a row without a target cannot train"
    )
    if card.task == "regression":
        return [not_null, *_profile_numeric(target, tolerance)]
    labels = [to_python(value) for value in pd.unique(target.dropna())]
    if card.positive_label is not None and card.positive_label not in labels:
        labels.append(card.positive_label)
    in_set = gxe.ExpectColumnValuesToBeInSet(
        column=target.name,
        value_set=sorted(labels, key=str),
        notes="an unknown label is a data error",
    )
    return [not_null, in_set]


def _profile_nulls(series: pd.Series, tolerance: float) -> Any:
    """Null share may grow by `tolerance` of itself, and at least tolerance/10 (1 point by
    default)."""
    null_fraction = float(series.isna().mean())
    mostly = 1.0 - null_fraction - max(tolerance * null_fraction, tolerance / 10)
    mostly = max(0.0, math.floor(mostly * 10_000) / 10_000)
    if mostly == 0.0:
        return None  # a column (nearly) always null in the reference has no null share to guard
    return _load_gx().expectations.ExpectColumnValuesToNotBeNull(
        column=series.name, mostly=mostly, notes=f"reference null share {null_fraction:.2%}"
    )


def _profile_numeric(series: pd.Series, tolerance: float) -> list:
    """Type, a soft range widened by tolerance x span, and hard bounds that no value may cross.

    Hard bounds lie HARD_BOUND_SPANS spans beyond the reference (never below 0 for a non-negative
    column): heavy tails pass (a 2,000-row Adult sample sees only half of fnlwgt's range), while a
    single sentinel, unit slip or inf fails even though the soft range tolerates outliers.
    """
    gxe = _load_gx().expectations
    if pd.api.types.is_bool_dtype(series.dtype):
        return [gxe.ExpectColumnValuesToBeInTypeList(column=series.name, type_list=BOOL_TYPE_NAMES)]
    if not pd.api.types.is_numeric_dtype(series.dtype):
        raise DataError(f"Column '{series.name}' is listed as numeric but has dtype {series.dtype}")
    checks = [
        gxe.ExpectColumnValuesToBeInTypeList(column=series.name, type_list=NUMERIC_TYPE_NAMES)
    ]
    values = series.to_numpy(dtype="float64", na_value=np.nan)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        lowest, highest = -FLOAT_MAX, FLOAT_MAX
    else:
        low, high = float(finite.min()), float(finite.max())
        span = (high - low) or max(abs(low), 1.0)
        floor = 0.0 if low >= 0 else -FLOAT_MAX
        soft_low, soft_high = max(floor, low - tolerance * span), high + tolerance * span
        checks.append(
            gxe.ExpectColumnValuesToBeBetween(
                column=series.name,
                min_value=_round_down(soft_low),
                max_value=_round_up(soft_high),
                mostly=1.0 - OUTLIER_SHARE,
                notes=f"reference range [{low:g}, {high:g}] widened by {tolerance:g} x span",
            )
        )
        lowest, highest = max(floor, low - HARD_BOUND_SPANS * span), high + HARD_BOUND_SPANS * span
    checks.append(
        gxe.ExpectColumnValuesToBeBetween(
            column=series.name,
            min_value=_round_down(lowest),
            max_value=_round_up(highest),
            notes=f"hard bounds: {HARD_BOUND_SPANS:g} spans beyond the reference; inf fails",
        )
    )
    return checks


def _profile_categorical(series: pd.Series) -> list:
    """Type (text stays text) and the reference category set, tolerating a few unseen values."""
    gxe = _load_gx().expectations
    checks = []
    if pd.api.types.is_bool_dtype(series.dtype):
        checks.append(
            gxe.ExpectColumnValuesToBeInTypeList(column=series.name, type_list=BOOL_TYPE_NAMES)
        )
    elif pd.api.types.is_numeric_dtype(series.dtype):
        checks.append(
            gxe.ExpectColumnValuesToBeInTypeList(column=series.name, type_list=NUMERIC_TYPE_NAMES)
        )
    elif pd.api.types.is_string_dtype(series.dtype):
        # "str" passes pandas 3's str dtype and object columns holding text; GX's type list does
        # not.
        checks.append(gxe.ExpectColumnValuesToBeOfType(column=series.name, type_="str"))
    categories = [to_python(value) for value in pd.unique(series.dropna())]
    if 0 < len(categories) <= MAX_PROFILED_CATEGORIES:
        checks.append(
            gxe.ExpectColumnValuesToBeInSet(
                column=series.name,
                value_set=sorted(categories, key=str),
                mostly=1.0 - NEW_CATEGORY_SHARE,
                notes=f"{len(categories)} reference categories; a few new ones pass",
            )
        )
    return checks


def save_suite(suite: dict, path: Path, overwrite: bool = False) -> None:
    """Write the suite as pretty strict JSON, atomically, so a reader never sees half a file."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise SuiteError(
            f"Expectation suite {path} already exists; delete it or save with overwrite=True to "
            "replace it"
        )
    text = json.dumps(suite, indent=2, allow_nan=False) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_suite(path: Path) -> dict:
    """Read a suite file and prove every expectation in it loads (GX would skip bad ones
    silently)."""
    path = Path(path)
    if not path.is_file():
        raise SuiteError(
            f"Expectation suite {path} does not exist; create it from the reference data with "
            f"`mleng expectations init CARD` (CARD is the dataset card, e.g. configs/adult.yaml)"
        )
    try:
        suite = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SuiteError(f"Expectation suite {path} is not valid JSON: {error}") from None
    _to_gx_suite(suite, source=str(path))
    return suite


def _to_gx_suite(suite: dict, source: str = "<dict>"):
    """Build a GX ExpectationSuite, raising on any expectation GX cannot load instead of
    skipping it."""
    gx = _load_gx()
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    if (
        not isinstance(suite, dict)
        or not isinstance(suite.get("expectations"), list)
        or not suite.get("name")
    ):
        raise SuiteError(f"Expectation suite {source} needs a 'name' and an 'expectations' list")
    for index, expectation in enumerate(suite["expectations"]):
        try:
            ExpectationConfiguration(**expectation).to_domain_obj()
        except Exception as error:  # noqa: BLE001 - GX raises pydantic, TypeError or its own errors
            kind = (
                expectation.get("type", "?")
                if isinstance(expectation, dict)
                else type(expectation).__name__
            )
            message = str(error).replace("\n", "; ")
            raise SuiteError(
                f"Expectation suite {source}: expectation #{index} ({kind}) is invalid: {message}. "
                f"Fix it or regenerate the suite with `mleng expectations init CARD`"
            ) from None
    gx_suite = gx.ExpectationSuite(**suite)
    if len(gx_suite.expectations) != len(suite["expectations"]):
        raise SuiteError(
            f"Expectation suite {source}: GX loaded {len(gx_suite.expectations)} of "
            f"{len(suite['expectations'])} expectations; regenerate it with "
            "`mleng expectations init CARD`"
        )
    return gx_suite


def validate_frame(df: pd.DataFrame, suite: dict, source: str = "") -> ValidationReport:
    """Run the suite on the frame with GX and flatten the result into a report."""
    gx = _load_gx()
    gx_suite = _to_gx_suite(
        suite, source=f"'{suite.get('name', '?')}'" if isinstance(suite, dict) else "<suite>"
    )
    # A fresh ephemeral context per call: cheap (~30 ms) and safe when tasks run in threads.
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False, "metric_calculations": False}
    batch = (
        context.data_sources.add_pandas("mleng")
        .add_dataframe_asset("frame")
        .add_batch_definition_whole_dataframe("whole")
        .get_batch(batch_parameters={"dataframe": df})
    )
    result = batch.validate(gx_suite, result_format="SUMMARY")
    order = {_config_key(e.configuration): i for i, e in enumerate(gx_suite.expectations)}
    results = sorted(
        result.results, key=lambda r: order.get(_config_key(r.expectation_config), len(order))
    )
    outcomes = [_to_outcome(item, set(df.columns)) for item in results]
    complete = len(outcomes) == len(gx_suite.expectations)
    return ValidationReport(
        suite_name=gx_suite.name,
        source=source,
        n_rows=len(df),
        success=bool(result.success) and complete and all(o.success for o in outcomes),
        outcomes=outcomes,
    )


def _config_key(configuration: Any) -> str:
    kwargs = {k: v for k, v in configuration.kwargs.items() if k != "batch_id"}
    return json.dumps([configuration.type, kwargs], sort_keys=True, default=str)


def _to_outcome(item: Any, columns: set) -> ExpectationOutcome:
    """Flatten one GX result: counts for row checks, observed values or missing columns
    otherwise."""
    config, result = item.expectation_config, item.result or {}
    kwargs = {k: v for k, v in config.kwargs.items() if k != "batch_id"}
    observed: Any = result.get("observed_value")
    if "details" in result and "mismatched" in result["details"]:
        observed = result["details"]["mismatched"]
    elif "partial_unexpected_counts" in result:
        observed = result["partial_unexpected_counts"]
    errors = _exception_messages(item.exception_info)
    if errors and kwargs.get("column") is not None and kwargs["column"] not in columns:
        errors = [f"column '{kwargs['column']}' is missing"]  # GX's own message varies by check
    if errors:
        observed = {"error": "; ".join(errors)}
    return ExpectationOutcome(
        expectation=config.type,
        column=kwargs.get("column"),
        success=bool(item.success) and not errors,
        unexpected_count=result.get("unexpected_count"),
        unexpected_percent=result.get("unexpected_percent"),
        observed=to_jsonable(observed, spell_non_finite=True),
        kwargs=to_jsonable(kwargs, spell_non_finite=True),
    )


def _exception_messages(info: Any) -> list[str]:
    """GX reports errors either flat or keyed by metric id; collect the distinct messages."""
    if not isinstance(info, dict):
        return []
    entries = (
        [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, dict)]
    )
    messages = [str(e.get("exception_message")) for e in entries if e.get("raised_exception")]
    return list(dict.fromkeys(messages))


def _round_down(value: float) -> float:
    return value if abs(value) > 1e12 else math.floor(value * 1e6) / 1e6


def _round_up(value: float) -> float:
    return value if abs(value) > 1e12 else math.ceil(value * 1e6) / 1e6
