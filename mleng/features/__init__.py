"""Feature engineering: scikit-learn transformers and the one pipeline saved inside the model."""

from mleng.features.pipeline import build_feature_pipeline, build_model_pipeline

__all__ = ["build_feature_pipeline", "build_model_pipeline"]
