"""Build the feature pipeline: fitted on training rows only, saved inside the registered model.

Without settings, `build_feature_pipeline` returns the original ColumnTransformer (parameter names
`features__numeric__impute__strategy`, `features__categorical__one_hot__min_frequency`, ...).
With `FeatureSettings` it returns a Pipeline whose tunable parameters, under the model
pipeline's `features` step, are:

- `features__columns__numeric__{imputation,add_indicator,scaling,binning,n_bins,bin_encoding,
  column_binning}`
- `features__columns__categorical__{encoder,high_cardinality_threshold,high_cardinality_encoder,
  column_encoders,min_frequency,max_categories,target_smoothing,odds_smoothing,cv}`
- `features__columns__text__{vectorizer,max_features,ngram_range,min_df,sublinear_tf,lowercase,
  output,svd_components}` (without settings: `features__text__...`), when there are text columns
- `features__correlation`, `features__k_best`, `features__model_based`: a selector or
  "passthrough" (off); when on, e.g. `features__correlation__threshold`, `features__k_best__k`,
  `features__model_based__threshold`.
"""

from __future__ import annotations

from typing import Any

from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mleng.card.features import CategoricalSettings, FeatureSettings, TextSettings
from mleng.features.columns import CategoricalEncoder, NumericTransformer
from mleng.features.raw import RawInputCoercer
from mleng.features.selection import CorrelationFilter, build_k_best_selector, build_model_selector
from mleng.features.text import build_text_vectorizer, find_text_columns, find_text_vectorizers

TARGET_TYPES = {
    "binary": "binary",
    "multiclass": "multiclass",
    "regression": "continuous",
    None: "auto",
}


def build_feature_pipeline(  # noqa: PLR0913 - one builder for every column kind and setting
    numeric_columns: list[str],
    categorical_columns: list[str],
    settings: FeatureSettings | None = None,
    task: str | None = None,
    positive_label: Any = None,
    seed: int = 0,
    text_columns: list[str] | None = None,
) -> ColumnTransformer | Pipeline:
    """Impute and scale numerics; one-hot categoricals with rare levels grouped, unseen ones
    ignored; vectorize text columns (`TextVectorizer`, sparse, missing text as "").

    Categoricals are imputed with a constant so a missing value is a level of its own, which keeps
    the information that a value was absent instead of guessing it. With `settings` the encoders,
    binning and selection follow the card (see the module docstring for parameter names);
    without, rare levels are grouped by the defaults of `CategoricalSettings` (`min_frequency`,
    `max_categories`). `task` picks the target encoding type and the selection scorers; `seed`
    (the run's) seeds cross-fitting folds and selection models. Text columns follow
    `settings.text` (its defaults without settings).
    """
    text_columns = list(text_columns or [])
    if settings is not None:
        return _build_configured_pipeline(
            (numeric_columns, categorical_columns, text_columns),
            settings,
            task,
            positive_label,
            seed,
        )
    rare = CategoricalSettings()
    numeric = Pipeline(
        [
            (
                "impute",
                SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            ),
            ("scale", StandardScaler()),
        ]
    )
    categorical = Pipeline(
        [
            (
                "impute",
                SimpleImputer(
                    strategy="constant", fill_value="__missing__", keep_empty_features=True
                ),
            ),
            (
                "one_hot",
                OneHotEncoder(
                    handle_unknown="infrequent_if_exist",
                    min_frequency=rare.min_frequency,
                    max_categories=rare.max_categories,
                    sparse_output=False,
                ),
            ),
        ]
    )
    transformers = []
    if numeric_columns:
        transformers.append(("numeric", numeric, list(numeric_columns)))
    if categorical_columns:
        transformers.append(("categorical", categorical, list(categorical_columns)))
    if text_columns:
        transformers.append(("text", build_text_vectorizer(TextSettings(), seed), text_columns))
    return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=True)


def build_model_pipeline(
    features: ColumnTransformer | Pipeline,
    estimator: BaseEstimator,
    numeric_columns: list[str] | None = None,
    categorical_columns: list[str] | None = None,
) -> Pipeline:
    """The registered artifact: raw columns in, predictions out, so serving cannot skew from
    training.

    Given the raw column lists, the pipeline starts with `RawInputCoercer`, so rows read straight
    from a CSV or a JSON request are coerced exactly as the training rows were; the text columns
    it keeps as text are those the feature step vectorizes. Text features are sparse: for an
    estimator whose tags refuse sparse input (histogram gradient boosting) they are reduced to
    dense TruncatedSVD components instead.
    """
    if not _accepts_sparse(estimator):
        for path in find_text_vectorizers(features):
            features.set_params(**{f"{path}__output" if path else "output": "svd"})
    steps: list[tuple[str, Any]] = [("features", features), ("model", estimator)]
    if numeric_columns is not None or categorical_columns is not None:
        coercer = RawInputCoercer(
            list(numeric_columns or []),
            list(categorical_columns or []),
            find_text_columns(features),
        )
        steps.insert(0, ("inputs", coercer))
    return Pipeline(steps)


def _accepts_sparse(estimator: BaseEstimator) -> bool:
    try:
        return bool(estimator.__sklearn_tags__().input_tags.sparse)
    except AttributeError:  # not a scikit-learn estimator: assume it needs dense input
        return False


def check_feature_settings(
    settings: FeatureSettings,
    numeric_columns: list[str],
    categorical_columns: list[str],
    task: str | None,
) -> None:
    """Fail before training when settings name unknown columns or need a task they do not have."""
    unknown_numeric = sorted(set(settings.numeric.columns) - set(numeric_columns))
    if unknown_numeric:
        raise ValueError(
            f"features.numeric.columns names {unknown_numeric}, which are not numeric columns "
            f"{list(numeric_columns)}"
        )
    unknown_categorical = sorted(set(settings.categorical.columns) - set(categorical_columns))
    if unknown_categorical:
        raise ValueError(
            f"features.categorical.columns names {unknown_categorical}, "
            f"which are not categorical columns {list(categorical_columns)}"
        )
    if task not in TARGET_TYPES:
        raise ValueError(
            f"task must be one of {[t for t in TARGET_TYPES if t]} or None, got {task!r}"
        )
    if settings.uses_odds_encoding() and task != "binary":
        raise ValueError(
            f"odds-ratio encodings need a binary task, got {task!r}; use 'target' encoding instead"
        )
    selecting = settings.selection.k_best is not None or settings.selection.model_based
    if selecting and task is None:
        raise ValueError(
            "features.selection.k_best and model_based need the task (binary, multiclass or "
            "regression)"
        )


def _build_configured_pipeline(
    columns: tuple[list[str], list[str], list[str]],
    settings: FeatureSettings,
    task: str | None,
    positive_label: Any,
    seed: int,
) -> Pipeline:
    numeric_columns, categorical_columns, text_columns = columns
    check_feature_settings(settings, numeric_columns, categorical_columns, task)
    numeric, categorical, selection = settings.numeric, settings.categorical, settings.selection
    transformers: list[tuple[str, BaseEstimator, list[str]]] = []
    if numeric_columns:
        numeric_transformer = NumericTransformer(
            imputation=numeric.imputation,
            add_indicator=numeric.add_indicator,
            scaling=numeric.scaling,
            binning=numeric.binning,
            n_bins=numeric.n_bins,
            bin_encoding=numeric.bin_encoding,
            column_binning={name: spec.model_dump() for name, spec in numeric.columns.items()}
            or None,
            random_state=seed,
        )
        transformers.append(("numeric", numeric_transformer, list(numeric_columns)))
    if categorical_columns:
        categorical_encoder = CategoricalEncoder(
            encoder=categorical.encoder,
            high_cardinality_threshold=categorical.high_cardinality_threshold,
            high_cardinality_encoder=categorical.high_cardinality_encoder,
            column_encoders=dict(categorical.columns) or None,
            min_frequency=categorical.min_frequency,
            max_categories=categorical.max_categories,
            target_type=TARGET_TYPES[task],
            target_smoothing=categorical.target_smoothing,
            odds_smoothing=categorical.odds_smoothing,
            positive_label=positive_label,
            cv=categorical.cv_folds,
            random_state=seed,
        )
        transformers.append(("categorical", categorical_encoder, list(categorical_columns)))
    if text_columns:
        vectorizer = build_text_vectorizer(settings.text, seed)
        if selection.correlation_threshold is not None or selection.k_best or selection.model_based:
            vectorizer.set_params(output="svd")  # the selectors score dense columns
        transformers.append(("text", vectorizer, text_columns))
    encoded = ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=True)
    correlation: BaseEstimator | str = "passthrough"
    if selection.correlation_threshold is not None:
        correlation = CorrelationFilter(threshold=selection.correlation_threshold)
    k_best: BaseEstimator | str = "passthrough"
    if selection.k_best is not None:
        k_best = build_k_best_selector(selection.k_best, str(task), seed)
    model_based: BaseEstimator | str = "passthrough"
    if selection.model_based:
        model_based = build_model_selector(str(task), selection.model_threshold, seed)
    return Pipeline(
        [
            ("columns", encoded),
            ("correlation", correlation),
            ("k_best", k_best),
            ("model_based", model_based),
        ]
    )
