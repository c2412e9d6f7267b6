"""Feature engineering: scikit-learn transformers and the one pipeline saved inside the model.

Names are imported on first use, so `mleng.config` can import `mleng.features.settings` for the
dataset card without loading scikit-learn or meeting an import cycle.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mleng.features.augmentation import augment_training_rows
    from mleng.features.columns import CategoricalEncoder, NumericTransformer
    from mleng.features.encoders import CountEncoder, OddsRatioEncoder
    from mleng.features.pipeline import (
        build_feature_pipeline,
        build_model_pipeline,
        check_feature_settings,
    )
    from mleng.features.report import build_features_report, render_features_markdown
    from mleng.features.selection import CorrelationFilter
    from mleng.features.settings import FeatureSettings, WindowSettings
    from mleng.features.windowing import build_window_examples, split_temporal

_HOMES = {
    "augment_training_rows": "augmentation",
    "CategoricalEncoder": "columns",
    "NumericTransformer": "columns",
    "CountEncoder": "encoders",
    "OddsRatioEncoder": "encoders",
    "build_feature_pipeline": "pipeline",
    "build_model_pipeline": "pipeline",
    "RawInputCoercer": "raw",
    "check_feature_settings": "pipeline",
    "build_features_report": "report",
    "render_features_markdown": "report",
    "CorrelationFilter": "selection",
    "FeatureSettings": "settings",
    "WindowSettings": "settings",
    "build_window_examples": "windowing",
    "split_temporal": "windowing",
}

__all__ = [
    "CategoricalEncoder",
    "CorrelationFilter",
    "CountEncoder",
    "FeatureSettings",
    "NumericTransformer",
    "OddsRatioEncoder",
    "RawInputCoercer",
    "WindowSettings",
    "augment_training_rows",
    "build_feature_pipeline",
    "build_features_report",
    "build_model_pipeline",
    "build_window_examples",
    "check_feature_settings",
    "render_features_markdown",
    "split_temporal",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'mleng.features' has no attribute {name!r}")
    return getattr(import_module(f"mleng.features.{_HOMES[name]}"), name)
