"""OpenAPI pieces for bodies the app reads raw: the docs and schemathesis see the real contract.

`row_schema` is filled from the loaded champion's contract when the schema is served, so a
client generator (or a fuzzer) knows every column and its type.
"""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "status": {"type": "integer"},
                "message": {"type": "string"},
                "field": {"type": "string"},
            },
            "required": ["status", "message"],
        }
    },
    "required": ["error"],
}
_ERROR = {"content": {"application/json": {"schema": ERROR_SCHEMA}}}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": description, **_ERROR}
    for status, description in {
        400: "Invalid input: the message names the column and the row",
        401: "No valid API key",
        403: "The key's role does not allow this",
        404: "Unknown request id",
        409: "The registry's state does not allow this (no challenger, unknown version)",
        413: "Too many rows or too large a body",
        415: "Unsupported content type",
        422: "A field of the body is invalid",
        503: "No champion loaded, or the prediction log is not committing",
    }.items()
}


def row_schema(numeric: list[str], categorical: list[str]) -> dict[str, Any]:
    """One input row of the model's contract: every column required, nulls allowed."""
    properties = {c: {"type": ["number", "null"]} for c in numeric}
    properties |= {c: {"type": ["string", "null"]} for c in categorical}
    return {
        "type": "object",
        "properties": properties,
        "required": [*numeric, *categorical],
        "additionalProperties": False,
    }


def predict_body(row: dict[str, Any] | None = None) -> dict[str, Any]:
    row = row or {"type": "object"}
    columns = list(row.get("properties", {}))
    records = {
        "type": "object",
        "properties": {"dataframe_records": {"type": "array", "items": row, "minItems": 1}},
        "required": ["dataframe_records"],
        "additionalProperties": False,
    }
    split = {
        "type": "object",
        "properties": {
            "dataframe_split": {
                "type": "object",
                "properties": {
                    "columns": {"type": "array", "items": {"type": "string"}},
                    "data": {"type": "array", "items": {"type": "array"}},
                },
                "required": ["columns", "data"],
            }
        },
        "required": ["dataframe_split"],
        "additionalProperties": False,
    }
    if columns:
        split["properties"]["dataframe_split"]["properties"]["columns"]["example"] = columns
    return {
        "required": True,
        "content": {
            "application/json": {"schema": {"oneOf": [records, split]}},
            "text/csv": {"schema": {"type": "string"}},
        },
    }


PREDICT_BODY = predict_body()
FEEDBACK_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "request_id": {"type": "string"},
                    "outcome": {"type": ["string", "number", "boolean", "null"]},
                    "reward": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
                },
                "required": ["request_id"],
                "additionalProperties": False,
            }
        }
    },
}
ADMIN_STRATEGY_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "kind": {"type": "string", "enum": ["single", "shadow", "canary", "bandit"]},
                    "fraction": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                    "version": {"type": "string"},
                },
                "required": ["kind"],
            }
        }
    },
}
