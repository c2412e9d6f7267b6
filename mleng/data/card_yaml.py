"""Render a drafted dataset card as commented YAML: every inferred field, its reason beside it.

The card must read back exactly as `mleng train` loads it (values YAML would misread are
quoted, floats stay floats) and be reviewable as text: each guess is explained in a comment and
the risky ones carry `REVIEW:` on their line. The text is composed from `CardFacts`, which
`profile.draft_card` fills from the file, so rendering touches no file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import yaml

from mleng.card import (
    CLASSIFICATION_METRICS,
    DEFAULT_SPACES,
    REGRESSION_METRICS,
    SearchConfig,
    Task,
)
from mleng.data.inference import ColumnRoles, TaskGuess, format_count

DEFAULT_METRICS = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}
METRIC_CHOICES = {
    "binary": CLASSIFICATION_METRICS,
    "multiclass": CLASSIFICATION_METRICS,
    "regression": REGRESSION_METRICS,
}


def _yaml(value: object) -> str:
    """One YAML flow value, quoted when YAML would misread it ('>50K', 'yes', '1', ...)."""
    return yaml.safe_dump([value], default_flow_style=True, width=10**6).strip()[1:-1]


def _comment_lines(text: str, width: int = 98) -> list[str]:
    lines, line = [], "#"
    for word in text.split():
        if len(line) + 1 + len(word) > width:
            lines.append(line)
            line = "#"
        line += " " + word
    return [*lines, line]


def _column_block(key: str, columns: list[str], roles: ColumnRoles) -> list[str]:
    if not columns:
        return [f"{key}: []"]
    lines = [f"{key}:"]
    for column in columns:
        item = f"  - {_yaml(column)}"
        if column in roles.flags:
            item += f"  # REVIEW: {roles.flags[column]}"
        elif column in roles.notes:
            item += f"  # {roles.notes[column]}"
        lines.append(item)
    return lines


def _search_block(task: Task) -> list[str]:
    defaults = SearchConfig()
    kind = "regression" if task == "regression" else "classification"
    lines = [
        *_comment_lines(
            f"The default search for {kind}: {len(DEFAULT_SPACES[kind])} families, each "
            "parameter's range as mleng would pick it. budget counts every evaluation "
            "(mleng train --budget overrides it); trials score a sample of at most max_rows rows, "
            "the winner is refit on all"
        ),
        "search:",
        f"  budget: {defaults.budget}",
        f"  cv_folds: {defaults.cv_folds}",
        f"  strategy: {defaults.strategy}",
        f"  max_rows: {_yaml(defaults.max_rows)}",
        "  families:",
    ]
    for family, space in DEFAULT_SPACES[kind].items():
        lines.append(f"    {family}:")
        for parameter, spec in space.items():
            lines.append(f"      {parameter}: {_flow_mapping(spec)}")
    return lines


def _yaml_float(value: float) -> str:
    """A float YAML 1.1 reads back as a float: 1e-06 would be a string, 1.0e-06 is a number."""
    text = repr(value)
    mantissa, _, exponent = text.partition("e")
    return f"{mantissa}.0e{exponent}" if exponent and "." not in mantissa else text


def _flow_mapping(spec: dict) -> str:
    parts = []
    for key, value in spec.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"non-finite bound {value} in the default search space")
        text = _yaml_float(value) if isinstance(value, float) else _yaml(value)
        parts.append(f"{key}: {text}")
    return "{" + ", ".join(parts) + "}"


@dataclass(frozen=True)
class CardFacts:
    """What the card says about its file, as inferred: the input of `render_card`."""

    name: str
    model_name: str  # the registered model's name, from `profile.model_name_for`
    data_path: str  # as written in the card: relative to the card's folder
    file_format: str
    target: str
    source: str  # the file's name, for the header
    shape: tuple[int, int]
    card_path: str  # as the user will pass it to `mleng train`
    task: TaskGuess
    roles: ColumnRoles
    windows: dict | None = None
    windows_note: str = ""


def render_card(facts: CardFacts) -> str:
    """The card as commented YAML: every inferred field, each guess explained beside it."""
    task, roles = facts.task, facts.roles
    rows, columns = facts.shape
    header = (
        f"Dataset card drafted by `mleng card init` from {facts.source} "
        f"({format_count(rows)} rows, {columns} columns). Every role below was inferred from the "
        f"data: review it, above all the lines marked REVIEW, then run "
        f"`mleng train {facts.card_path}`. Field reference: README.md, 'The dataset card'"
    )
    suite = f"expectations/{facts.name}.json"
    lines = [
        *_comment_lines(header),
        f"name: {_yaml(facts.name)}  # MLflow experiment name; suite {suite}",
        f"path: {_yaml(facts.data_path)}  # "
        + (
            "absolute: the file shares no folder with the card"
            if Path(facts.data_path).is_absolute()
            else "relative to this card's folder"
        ),
        f"format: {facts.file_format}",
        f"target: {_yaml(facts.target)}",
        *_comment_lines(f"task inferred from the target: {task.reason}"),
        f"task: {task.task}  # binary | multiclass | regression",
    ]
    if task.task == "binary":
        lines.append(f"positive_label: {_yaml(task.positive_label)}  # {task.label_note}")
    lines.append(f"model_name: {_yaml(facts.model_name)}  # registered model name")
    lines.append(
        f"# metric: {DEFAULT_METRICS[task.task]} (the default for {task.task}); "
        f"or one of {', '.join(METRIC_CHOICES[task.task])}"
    )
    ids = _column_block("id_columns", roles.id_columns, roles)
    ids[0] += (
        "  # never model inputs; they key the stable train/test split"
        if roles.id_columns
        else "  # never model inputs; none found, so a row's content keys the split"
    )
    lines += [*ids, *_comment_lines(roles.timestamp_note)]
    lines.append(f"timestamp_column: {_yaml(roles.timestamp_column)}")
    if facts.windows is None:
        lines += _comment_lines(
            "Model inputs by kind (numbers are scaled; categories one-hot encoded, rare levels "
            "grouped). A column in neither list is not an input"
        )
        lines += _column_block("numeric_columns", roles.numeric, roles)
        lines += _column_block("categorical_columns", roles.categorical, roles)
    for column, why in roles.unused.items():
        review = "REVIEW: " if column in roles.flags else ""
        lines.append(f"# {review}not an input: {_yaml(column)}: {why}")
    lines.append("test_size: 0.2  # share of rows held out for test (the latest, when by time)")
    if facts.windows is not None:
        lines += _comment_lines(
            f"features.windows: {facts.windows_note}; the model's inputs are the window statistics"
        )
        lines += ["features:", f"  windows: {_flow_mapping(facts.windows)}"]
    lines += _search_block(task.task)
    lines += _comment_lines(
        "promotion: the first run's data report may raise warnings (missing values, columns "
        "without descriptions, ...); they keep the model from becoming champion until you "
        "review them and list the detectors you accept, for example:"
    )
    lines.append("# promotion: {allow_data_warnings: [missing_values, undocumented_column]}")
    return "\n".join(lines) + "\n"
