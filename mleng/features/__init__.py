"""Feature engineering: scikit-learn transformers and the one pipeline saved inside the model."""

from mleng.features.augmentation import augment_training_rows
from mleng.features.columns import CategoricalEncoder, NumericTransformer
from mleng.features.encoders import CountEncoder, OddsRatioEncoder
from mleng.features.pipeline import (
    build_feature_pipeline,
    build_model_pipeline,
    check_feature_settings,
)
from mleng.features.raw import RawInputCoercer
from mleng.features.report import build_features_report, render_features_markdown
from mleng.features.selection import CorrelationFilter
from mleng.features.windowing import build_window_examples, split_temporal

__all__ = [
    "CategoricalEncoder",
    "CorrelationFilter",
    "CountEncoder",
    "NumericTransformer",
    "OddsRatioEncoder",
    "RawInputCoercer",
    "augment_training_rows",
    "build_feature_pipeline",
    "build_features_report",
    "build_model_pipeline",
    "build_window_examples",
    "check_feature_settings",
    "render_features_markdown",
    "split_temporal",
]
