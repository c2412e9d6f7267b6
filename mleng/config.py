"""Dataset cards: one YAML file per dataset, validated strictly so a typo is an error, not a default."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from mleng.errors import CardError
from mleng.features.settings import FeatureSettings
from mleng.imbalance_settings import ImbalanceSettings
from mleng.promotion import PromotionPolicy
from mleng.quality.settings import DataChecksSettings
from mleng.strict import StrictModel

Task = Literal["binary", "multiclass", "regression"]

CLASSIFICATION_METRICS = ("accuracy", "balanced_accuracy", "f1", "roc_auc", "log_loss")
REGRESSION_METRICS = ("rmse", "mae", "r2")


class ParamSpec(StrictModel):
    """One hyperparameter's range: numeric bounds (log scale where natural) or a set of choices."""

    type: Literal["float", "int", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: list[Any] | None = None

    @model_validator(mode="after")
    def check_bounds(self) -> ParamSpec:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical parameter needs a non-empty 'choices' list")
            return self
        if self.low is None or self.high is None:
            raise ValueError(f"a {self.type} parameter needs 'low' and 'high'")
        if self.low > self.high:
            raise ValueError(f"'low' ({self.low}) is above 'high' ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log-scale parameter needs 'low' > 0, got {self.low}")
        return self


FamilySpace = dict[str, ParamSpec]

CLASSIFIER_FAMILIES = ("logistic_regression", "sgd", "mlp", "random_forest", "extra_trees", "hist_gradient_boosting")
REGRESSOR_FAMILIES = ("ridge", "sgd", "mlp", "random_forest", "extra_trees", "hist_gradient_boosting")

_DEFAULT_TREE_SPACE = {
    "n_estimators": {"type": "int", "low": 30, "high": 200, "log": True},
    "max_depth": {"type": "int", "low": 3, "high": 30, "log": True},
    "min_samples_leaf": {"type": "int", "low": 1, "high": 50, "log": True},
    "max_features": {"type": "float", "low": 0.1, "high": 1.0},
}
_DEFAULT_HGB_SPACE = {
    "learning_rate": {"type": "float", "low": 0.01, "high": 0.5, "log": True},
    "max_leaf_nodes": {"type": "int", "low": 7, "high": 127, "log": True},
    "min_samples_leaf": {"type": "int", "low": 5, "high": 200, "log": True},
    "l2_regularization": {"type": "float", "low": 1e-6, "high": 10.0, "log": True},
    "max_iter": {"type": "int", "low": 50, "high": 400, "log": True},
}
_DEFAULT_SGD_SPACE = {
    "alpha": {"type": "float", "low": 1e-6, "high": 1e-1, "log": True},
    "penalty": {"type": "categorical", "choices": ["l2", "l1", "elasticnet"]},
}
DEFAULT_SPACES: dict[str, dict[str, dict[str, Any]]] = {
    "classification": {
        "logistic_regression": {"C": {"type": "float", "low": 1e-3, "high": 100.0, "log": True}},
        "random_forest": _DEFAULT_TREE_SPACE,
        "hist_gradient_boosting": _DEFAULT_HGB_SPACE,
    },
    "regression": {
        "ridge": {"alpha": {"type": "float", "low": 1e-3, "high": 1000.0, "log": True}},
        "random_forest": _DEFAULT_TREE_SPACE,
        "hist_gradient_boosting": _DEFAULT_HGB_SPACE,
    },
}


class SearchConfig(StrictModel):
    """The hyperparameter search: total evaluations, CV folds and one space per model family."""

    budget: int = Field(default=40, ge=1, description="total number of evaluated configurations")
    cv_folds: int = Field(default=3, ge=2, le=20)
    strategy: Literal["coarse_to_fine", "random", "grid"] = "coarse_to_fine"
    max_rows: int | None = Field(
        default=10_000, ge=100, description="rows (stratified sample) used to score trials; the winner is refit on all"
    )
    families: dict[str, FamilySpace] | None = Field(
        default=None, description="model family -> parameter -> range; defaults per task"
    )
    patience: int | None = Field(
        default=None,
        ge=1,
        description="coarse_to_fine stops after this many fine rounds in a row without a gain above "
        "min_improvement; None spends the whole budget",
    )
    min_improvement: float = Field(
        default=0.0, ge=0.0, description="smallest gain in the CV score that resets patience"
    )
    validation: Literal["cv", "adversarial"] = Field(
        default="cv",
        description="cv: k-fold (forward-chaining when time-ordered); adversarial: score every trial "
        "on the training rows most like the test rows (their features only, never their labels)",
    )
    adversarial_fraction: float = Field(
        default=0.2, gt=0.0, lt=0.5, description="share of training rows held out by adversarial validation"
    )


class HeuristicRule(StrictModel):
    """A rule a domain expert would use without a model, evaluated with `DataFrame.eval` on raw columns:
    a condition for classification (rows where it holds get `then`, others `otherwise`) or a value
    for regression. Backquote column names with dashes: "`capital-gain` > 5000"."""

    expression: str
    then: str | int | float | bool | None = None
    otherwise: str | int | float | bool | None = None


class Requirements(StrictModel):
    """What the model must satisfy, used to choose candidate model families before searching."""

    explainability: bool = Field(default=False, description="a reviewer must read the model: linear families only")
    larger_than_memory: bool = Field(default=False, description="incremental learners (partial_fit) only")
    nonlinearity: Literal["unknown", "expected", "none"] = "unknown"
    max_latency_ms: float | None = Field(default=None, gt=0, description="single-row prediction latency budget")


class EvaluationSettings(StrictModel):
    """How far the evaluation goes beyond test metrics: slices, robustness, shift, intervals."""

    bootstrap_method: Literal["percentile", "bca"] = "percentile"
    slice_columns: list[str] = Field(default_factory=list, description="metrics with intervals per group of these columns")
    robustness_epsilon: float = Field(default=0.05, gt=0, description="output change that counts as unstable")
    robustness_delta: float = Field(default=0.1, gt=0, description="perturbation radius, in each feature's std")
    robustness_samples: int = Field(default=10, ge=1)
    robustness_rows: int = Field(default=1000, ge=10, description="test rows perturbed (a seeded sample)")
    shift_permutations: int = Field(default=19, ge=0, description="permutations for the no-shift test; 0 skips it")
    shift_rows: int = Field(default=5000, ge=100)


class DatasetCard(StrictModel):
    """Everything mleng needs to know about a dataset to validate, train and register a model."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    path: Path
    format: Literal["csv", "parquet"] = "csv"
    target: str
    task: Task
    positive_label: str | int | float | bool | None = None
    model_name: str
    id_columns: list[str] = Field(default_factory=list)
    timestamp_column: str | None = None
    categorical_columns: list[str] | None = None
    numeric_columns: list[str] | None = None
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

    @field_validator("id_columns", "categorical_columns", "numeric_columns")
    @classmethod
    def check_unique(cls, columns: list[str] | None) -> list[str] | None:
        if columns is not None and len(set(columns)) != len(columns):
            raise ValueError(f"columns listed twice: {sorted({c for c in columns if columns.count(c) > 1})}")
        return columns

    @model_validator(mode="after")
    def check_consistency(self) -> DatasetCard:
        allowed = REGRESSION_METRICS if self.task == "regression" else CLASSIFICATION_METRICS
        if self.metric is None:
            self.metric = "rmse" if self.task == "regression" else ("roc_auc" if self.task == "binary" else "log_loss")
        if self.metric not in allowed:
            raise ValueError(f"metric '{self.metric}' does not fit task '{self.task}'; use one of {list(allowed)}")
        families = CLASSIFIER_FAMILIES if self.task != "regression" else REGRESSOR_FAMILIES
        if self.search.families is None:
            kind = "regression" if self.task == "regression" else "classification"
            self.search.families = {
                family: {k: ParamSpec(**v) for k, v in space.items()}
                for family, space in DEFAULT_SPACES[kind].items()
            }
        unknown = sorted(set(self.search.families) - set(families))
        if unknown:
            raise ValueError(f"unknown model families {unknown} for task '{self.task}'; use any of {list(families)}")
        declared = [self.target, *self.id_columns, *([self.timestamp_column] if self.timestamp_column else [])]
        overlap = set(declared) & set((self.categorical_columns or []) + (self.numeric_columns or []))
        if overlap:
            raise ValueError(f"columns {sorted(overlap)} are target/id/timestamp and cannot also be features")
        if self.search.budget < len(self.search.families):
            raise ValueError(
                f"search budget {self.search.budget} is below the number of model families "
                f"({len(self.search.families)}: {list(self.search.families)}); raise the budget or drop families"
            )
        if self.imbalance.threshold_metric is not None and self.task != "binary":
            raise ValueError(
                f"imbalance.threshold_metric '{self.imbalance.threshold_metric}' tunes a binary decision "
                f"threshold, but the task is '{self.task}'; remove imbalance.threshold_metric"
            )
        if self.search.validation == "adversarial" and self.timestamp_column:
            raise ValueError(
                "search.validation 'adversarial' would validate on rows from any time; time-ordered data "
                "(timestamp_column set) is validated forward in time: use search.validation: cv"
            )
        return self

    @property
    def lower_is_better(self) -> bool:
        """Whether the primary metric improves downwards (losses and errors)."""
        return self.metric in ("log_loss", "rmse", "mae")

    def with_budget(self, budget: int) -> DatasetCard:
        """A copy of the card whose search budget is `budget`, validated like the file."""
        data = self.model_dump()
        data["search"]["budget"] = budget
        return validate_card(data, source="--budget")


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
        raise CardError(f"Dataset card {card_path} does not exist; pass the path of a YAML card such as configs/adult.yaml")
    try:
        data = yaml.safe_load(card_path.read_text())
    except yaml.YAMLError as error:
        raise CardError(f"Dataset card {card_path} is not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise CardError(f"Dataset card {card_path} must be a YAML mapping of fields, got {type(data).__name__}")
    card = validate_card(data, source=str(card_path))
    if not card.path.is_absolute():
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
