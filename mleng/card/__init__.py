"""The dataset card: every settings model of a card, one module per section, validated strictly.

Each section is a pydantic model that forbids unknown fields, so a typo in a card is an error
that names the field rather than a silently ignored default. This package depends on nothing
else in mleng, so any layer can import the settings it reads.
"""

from mleng.card.base import StrictModel
from mleng.card.costs import CostSettings
from mleng.card.data_checks import DEFAULT_POLICIES, DETECTORS, DataChecksSettings, Policy
from mleng.card.dataset import (
    DatasetCard,
    Task,
    find_project_suite,
    load_card,
    resolve_expectations_path,
    validate_card,
)
from mleng.card.evaluation import EvaluationSettings, HeuristicRule, Requirements
from mleng.card.features import FeatureSettings, WindowSettings
from mleng.card.imbalance import ImbalanceSettings
from mleng.card.promotion import PromotionPolicy
from mleng.card.sampling import SamplingSettings
from mleng.card.search import (
    CLASSIFICATION_METRICS,
    CLASSIFIER_FAMILIES,
    DEFAULT_SPACES,
    REGRESSION_METRICS,
    REGRESSOR_FAMILIES,
    FamilySpace,
    ParamSpec,
    SearchConfig,
)

__all__ = [
    "CLASSIFICATION_METRICS",
    "CLASSIFIER_FAMILIES",
    "DEFAULT_POLICIES",
    "DEFAULT_SPACES",
    "DETECTORS",
    "REGRESSION_METRICS",
    "REGRESSOR_FAMILIES",
    "CostSettings",
    "DataChecksSettings",
    "DatasetCard",
    "EvaluationSettings",
    "FamilySpace",
    "FeatureSettings",
    "HeuristicRule",
    "ImbalanceSettings",
    "ParamSpec",
    "Policy",
    "PromotionPolicy",
    "Requirements",
    "SamplingSettings",
    "SearchConfig",
    "StrictModel",
    "Task",
    "WindowSettings",
    "find_project_suite",
    "load_card",
    "resolve_expectations_path",
    "validate_card",
]
