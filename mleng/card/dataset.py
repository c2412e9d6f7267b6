"""Dataset cards: one YAML file per dataset, validated strictly so a typo is an error, not a
default."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from mleng.card.base import StrictModel
from mleng.card.costs import CostSettings, check_costs_for_task
from mleng.card.data_checks import DataChecksSettings
from mleng.card.evaluation import EvaluationSettings, HeuristicRule, Requirements
from mleng.card.features import FeatureSettings
from mleng.card.imbalance import ImbalanceSettings
from mleng.card.promotion import PromotionPolicy
from mleng.card.search import (
    CLASSIFICATION_METRICS,
    CLASSIFIER_FAMILIES,
    DEFAULT_SPACES,
    REGRESSION_METRICS,
    REGRESSOR_FAMILIES,
    ParamSpec,
    SearchConfig,
)
from mleng.card.serving import ServingSettings
from mleng.card.source import SqlSource
from mleng.errors import CardError

Task = Literal["binary", "multiclass", "regression"]


class DatasetCard(StrictModel):
    """Everything mleng needs to know about a dataset to validate, train and register a model."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    path: Path | None = None  # a file, a folder of partitions or a glob; required unless sql
    format: Literal["csv", "parquet", "sql"] = "csv"
    sql: SqlSource | None = None
    target: str
    task: Task
    positive_label: str | int | float | bool | None = None
    model_name: str
    id_columns: list[str] = Field(default_factory=list)
    timestamp_column: str | None = None
    categorical_columns: list[str] | None = None
    numeric_columns: list[str] | None = None
    text_columns: list[str] | None = Field(
        default=None,
        description="free-text columns, vectorized (features.text); undeclared string columns "
        "of mostly multi-word values are recognised as text",
    )
    metric: str | None = None
    test_size: float = Field(default=0.2, gt=0.0, lt=0.9)
    search: SearchConfig = Field(default_factory=SearchConfig)
    expectations: Path | None = None
    features: FeatureSettings = Field(default_factory=FeatureSettings)
    data_checks: DataChecksSettings = Field(default_factory=DataChecksSettings)
    promotion: PromotionPolicy = Field(default_factory=PromotionPolicy)
    heuristic_baseline: HeuristicRule | None = None
    requirements: Requirements = Field(default_factory=Requirements)
    evaluation: EvaluationSettings = Field(default_factory=EvaluationSettings)
    imbalance: ImbalanceSettings = Field(default_factory=ImbalanceSettings)
    serving: ServingSettings = Field(default_factory=ServingSettings)
    costs: CostSettings | None = None

    @field_validator("id_columns", "categorical_columns", "numeric_columns", "text_columns")
    @classmethod
    def check_unique(cls, columns: list[str] | None) -> list[str] | None:
        if columns is not None and len(set(columns)) != len(columns):
            raise ValueError(
                f"columns listed twice: {sorted({c for c in columns if columns.count(c) > 1})}"
            )
        return columns

    @model_validator(mode="after")
    def check_source(self) -> DatasetCard:
        if self.format == "sql":
            if self.sql is None:
                raise ValueError(
                    "format 'sql' reads a table or a query: add an sql section "
                    "(sql: {table: sales} or sql: {query: SELECT ...}; the URL comes from "
                    "the environment variable MLENG_DATA_URL, or the one sql.url_env names)"
                )
            if self.path is not None:
                raise ValueError(
                    "path is not read with format 'sql' (the sql section says what to read); "
                    "remove path, or set format to csv or parquet"
                )
        else:
            if self.path is None:
                raise ValueError(
                    f"path: required field is missing for format '{self.format}'; set it to a "
                    f"{self.format} file, a folder of {self.format} partitions or a glob such as "
                    f"data/sales/*.{self.format} (relative to the card's folder), "
                    "or use format: sql with an sql section"
                )
            if self.sql is not None:
                raise ValueError(
                    f"sql is set but format is '{self.format}'; "
                    "set format: sql to read it, or remove the sql section"
                )
        return self

    @model_validator(mode="after")
    def check_consistency(self) -> DatasetCard:
        allowed = REGRESSION_METRICS if self.task == "regression" else CLASSIFICATION_METRICS
        if self.metric is None:
            self.metric = (
                "rmse"
                if self.task == "regression"
                else ("roc_auc" if self.task == "binary" else "log_loss")
            )
        if self.metric not in allowed:
            raise ValueError(
                f"metric '{self.metric}' does not fit task '{self.task}'; "
                f"use one of {list(allowed)}"
            )
        families = CLASSIFIER_FAMILIES if self.task != "regression" else REGRESSOR_FAMILIES
        if self.search.families is None:
            kind = "regression" if self.task == "regression" else "classification"
            self.search.families = {
                family: {k: ParamSpec(**v) for k, v in space.items()}
                for family, space in DEFAULT_SPACES[kind].items()
            }
        unknown = sorted(set(self.search.families) - set(families))
        if unknown:
            raise ValueError(
                f"unknown model families {unknown} for task '{self.task}'; "
                f"use any of {list(families)}"
            )
        declared = [
            self.target,
            *self.id_columns,
            *([self.timestamp_column] if self.timestamp_column else []),
        ]
        overlap = set(declared) & set(
            (self.categorical_columns or [])
            + (self.numeric_columns or [])
            + (self.text_columns or [])
        )
        if overlap:
            raise ValueError(
                f"columns {sorted(overlap)} are target/id/timestamp and cannot also be features"
            )
        text_overlap = set(self.text_columns or []) & set(
            (self.categorical_columns or []) + (self.numeric_columns or [])
        )
        if text_overlap:
            raise ValueError(
                f"columns {sorted(text_overlap)} are listed in text_columns and also in "
                "categorical_columns or numeric_columns; list each column once"
            )
        if self.search.budget < len(self.search.families):
            raise ValueError(
                f"search budget {self.search.budget} is below the number of model families "
                f"({len(self.search.families)}: {list(self.search.families)}); "
                "raise the budget or drop families"
            )
        if self.imbalance.threshold_metric is not None and self.task != "binary":
            raise ValueError(
                f"imbalance.threshold_metric '{self.imbalance.threshold_metric}' "
                f"tunes a binary decision threshold, but the task is '{self.task}'; "
                "remove imbalance.threshold_metric"
            )
        if self.costs is not None:
            check_costs_for_task(self.costs, self.task)
        if self.promotion.primary == "expected_cost" and self.costs is None:
            raise ValueError(
                "promotion.primary 'expected_cost' needs a costs: block; add one or use "
                "promotion.primary: metric"
            )
        if self.search.validation == "adversarial" and self.timestamp_column:
            raise ValueError(
                "search.validation 'adversarial' would validate on rows from any time; "
                "time-ordered data (timestamp_column set) is validated forward in time: "
                "use search.validation: cv"
            )
        return self

    @property
    def display_path(self) -> str:
        """The data path as users see it: relative to the working folder when inside it, else
        the file name, so no machine's absolute paths end up in tags, reports or the UIs. For
        `format: sql`, the table (`sql:sales`) or `sql:query`: never the URL."""
        if self.path is None:
            return f"sql:{self.sql.table}" if self.sql and self.sql.table else "sql:query"
        path = Path(self.path)
        if not path.is_absolute():
            return str(path)
        try:
            return str(path.relative_to(Path.cwd()))
        except ValueError:
            return path.name

    @property
    def lower_is_better(self) -> bool:
        """Whether the primary metric improves downwards (losses and errors)."""
        return self.metric in ("log_loss", "rmse", "mae")

    def with_overrides(
        self,
        budget: int | None = None,
        strategy: str | None = None,
        time_budget_s: float | None = None,
        runner: str | None = None,
    ) -> DatasetCard:
        """A copy of the card with the run's search overrides, validated like the file.

        The CLI flags and the flow's parameters go through here, so a bad `--strategy` is refused
        with the same message as a bad `search.strategy` in the YAML.
        """
        overrides = {"budget": budget, "strategy": strategy, "time_budget_s": time_budget_s}
        given = {name: value for name, value in overrides.items() if value is not None}
        if not given and runner is None:
            return self
        data = self.model_dump()
        data["search"].update(given)
        if runner is not None:  # the kind only: a cluster address stays the card's
            data["search"]["runner"]["kind"] = runner
            given["runner"] = runner
        flags = {"time_budget_s": "time-budget"}
        source = " ".join(f"--{flags.get(name, name)} {value}" for name, value in given.items())
        return validate_card(data, source=f"{self.name} with {source}")


def _format_validation_error(error: ValidationError, source: str) -> str:
    lines = [f"Invalid dataset card {source}:"]
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "(card)"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown field (check its spelling against the card reference in README.md)"
        elif item["type"] == "missing":
            message = "required field is missing"
        lines.append(f"  - {field}: {message}")
    return "\n".join(lines)


def validate_card(data: dict[str, Any], source: str = "<dict>") -> DatasetCard:
    """Validate card data, turning pydantic's report into one that names each bad field."""
    try:
        return DatasetCard.model_validate(data)
    except ValidationError as error:
        raise CardError(_format_validation_error(error, source)) from None


def load_card(path: str | Path) -> DatasetCard:
    """Read a YAML card; relative data paths resolve against the card's own folder."""
    card_path = Path(path)
    if not card_path.is_file():
        raise CardError(
            f"Dataset card {card_path} does not exist; "
            "pass the path of a YAML card such as configs/adult.yaml"
        )
    try:
        data = yaml.safe_load(card_path.read_text())
    except yaml.YAMLError as error:
        raise CardError(f"Dataset card {card_path} is not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise CardError(
            f"Dataset card {card_path} must be a YAML mapping of fields, got {type(data).__name__}"
        )
    card = validate_card(data, source=str(card_path))
    if card.path is not None and not card.path.is_absolute():
        card.path = (card_path.parent / card.path).resolve()
    if card.expectations is not None and not card.expectations.is_absolute():
        card.expectations = (card_path.parent / card.expectations).resolve()
    if card.expectations is None:
        card.expectations = find_project_suite(card_path.resolve().parent, card.name)
    return card


def find_project_suite(card_folder: Path, name: str) -> Path | None:
    """An existing `expectations/<name>.json` in the current folder, else in the card's folder or
    the nearest folder above it (the project root, when cards live in `configs/`), else None.

    So `mleng train /path/to/project/configs/adult.yaml` finds the project's suite from any folder.
    """
    for folder in (Path.cwd(), card_folder, *card_folder.parents):
        candidate = folder / "expectations" / f"{name}.json"
        if candidate.is_file():
            return candidate.resolve()
    return None


def resolve_expectations_path(card: DatasetCard) -> Path:
    """The card's suite path, or `expectations/<name>.json` in the current folder."""
    return card.expectations if card.expectations else Path("expectations") / f"{card.name}.json"
