"""Typed settings for a dataset card's `features:` block; an empty block means today's pipeline.

Every field has a default chosen so that `FeatureSettings()` builds a pipeline whose output equals
`build_feature_pipeline(numeric, categorical)` without settings: median imputation with missing
indicators and standard scaling for numerics, one-hot encoding with rare levels grouped for
categoricals, no selection, no augmentation, no windowing.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from mleng.card.base import StrictModel

CategoricalEncoding = Literal[
    "one_hot", "target", "count", "frequency", "odds_ratio", "log_odds_ratio"
]
BinningStrategy = Literal["none", "uniform", "quantile", "kmeans"]
WindowStatistic = Literal["mean", "std", "min", "max", "last", "slope", "returns"]

ODDS_ENCODINGS: tuple[str, ...] = ("odds_ratio", "log_odds_ratio")
WINDOW_STATISTICS: tuple[str, ...] = ("mean", "std", "min", "max", "last", "slope", "returns")


class CategoricalSettings(StrictModel):
    """How categorical columns are encoded: one default, a cardinality rule, per-column overrides.

    Precedence for a column: `columns[name]`, then the high-cardinality rule (when the column has
    more than `high_cardinality_threshold` levels in the training rows), then `encoder`.
    """

    encoder: CategoricalEncoding = "one_hot"
    min_frequency: float | int = Field(
        default=0.01, ge=0, description="one-hot: levels rarer than this are grouped as infrequent"
    )
    max_categories: int | None = Field(
        default=50, ge=2, description="one-hot: cap on columns per feature"
    )
    high_cardinality_threshold: int | None = Field(
        default=None,
        ge=1,
        description="columns with more levels than this use high_cardinality_encoder",
    )
    high_cardinality_encoder: CategoricalEncoding = "target"
    columns: dict[str, CategoricalEncoding] = Field(default_factory=dict)
    target_smoothing: float | Literal["auto"] = Field(
        default="auto",
        description="TargetEncoder `smooth`: weight of the global mean; 'auto' = empirical Bayes",
    )
    odds_smoothing: float = Field(
        default=0.5, gt=0, description="pseudo-count added to each cell of a level's 2x2 table"
    )
    cv_folds: int = Field(
        default=5, ge=2, description="folds for cross-fitted (target, odds) encoders"
    )


class BinningSpec(StrictModel):
    """One numeric column's binning: a KBinsDiscretizer strategy and number of bins."""

    strategy: BinningStrategy
    n_bins: int = Field(default=5, ge=2)


class NumericSettings(StrictModel):
    """How numeric columns are imputed, scaled or binned; `columns` overrides binning per column."""

    imputation: Literal["median", "mean"] = "median"
    add_indicator: bool = True
    scaling: Literal["standard", "robust", "minmax", "none"] = "standard"
    binning: BinningStrategy = "none"
    n_bins: int = Field(default=5, ge=2)
    bin_encoding: Literal["onehot-dense", "ordinal"] = "onehot-dense"
    columns: dict[str, BinningSpec] = Field(default_factory=dict)


class SelectionSettings(StrictModel):
    """Feature selection after encoding; each step is off unless configured."""

    correlation_threshold: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="drop one of each pair with |Pearson r| at or above this",
    )
    k_best: int | None = Field(
        default=None, ge=1, description="keep the k columns with most mutual information"
    )
    model_based: bool = Field(
        default=False, description="keep columns an extra-trees model finds important"
    )
    model_threshold: float | str = Field(
        default="median",
        description="SelectFromModel threshold, e.g. 'median', 'mean', '1.25*mean' or 0.01",
    )


class AugmentationSettings(StrictModel):
    """Noisy copies of training rows; `copies: 0` (the default) turns augmentation off."""

    copies: int = Field(default=0, ge=0)
    noise_fraction: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="noise standard deviation as a fraction of each column's std",
    )


class TextAugmentationSettings(StrictModel):
    """Perturbed copies of training rows' text columns; `copies: 0` (the default) turns it off.

    Each copy drops, swaps (with the next word) or masks each word with the given probabilities,
    seeded by the run's seed; validation and test rows are never perturbed.
    """

    copies: int = Field(default=0, ge=0, description="perturbed copies of each training row")
    word_dropout: float = Field(
        default=0.1, ge=0, lt=1, description="probability that a word is dropped"
    )
    swap: float = Field(
        default=0.05, ge=0, le=1, description="probability that a word swaps with the next one"
    )
    mask: float = Field(
        default=0.0, ge=0, le=1, description="probability that a word becomes `mask_token`"
    )
    mask_token: str = Field(
        default="[MASK]", min_length=1, description="the word a masked word becomes"
    )


class TextSettings(StrictModel):
    """How free-text columns become features: one vectorizer per column, sparse output.

    `tfidf` learns a vocabulary of at most `max_features` terms (pruned by `min_df`); `hashing`
    needs no vocabulary and maps terms to `max_features` columns. Models that need dense input
    (histogram gradient boosting) get the text reduced to `svd_components` by TruncatedSVD.
    """

    vectorizer: Literal["tfidf", "hashing"] = "tfidf"
    max_features: int = Field(
        default=20_000, ge=1, le=1_000_000, description="cap on columns per text column"
    )
    ngram_range: tuple[int, int] = Field(
        default=(1, 2), description="smallest and largest word n-gram, e.g. [1, 2]"
    )
    min_df: int | float = Field(
        default=2,
        gt=0,
        description="tfidf: drop terms in fewer rows than this (an int) or this share (a float)",
    )
    sublinear_tf: bool = Field(default=True, description="tfidf: use 1 + log(term frequency)")
    lowercase: bool = True
    svd_components: int = Field(
        default=100,
        ge=1,
        description="dense-only models: text reduced to this many TruncatedSVD components",
    )
    augmentation: TextAugmentationSettings = Field(default_factory=TextAugmentationSettings)

    @model_validator(mode="after")
    def check_ngram_range(self) -> TextSettings:
        low, high = self.ngram_range
        if not 1 <= low <= high:
            raise ValueError(
                "ngram_range must be [low, high] with 1 <= low <= high, "
                f"got {list(self.ngram_range)}"
            )
        if isinstance(self.min_df, float) and self.min_df >= 1:
            raise ValueError(
                f"min_df as a float is a share of rows below 1, got {self.min_df}; "
                "give a row count as an integer"
            )
        return self


class WindowSettings(StrictModel):
    """Turning an ordered series into examples: window shape, target horizon, missing-step policy.

    `gap_policy: interpolate` fills runs of at most `max_gap` missing steps linearly between the
    neighbouring observations; a window is kept only if it then has no missing step and its last
    step was observed (a filled last step would borrow from its own future). `drop` keeps only
    windows with every step observed. Targets are never filled.
    """

    length: int = Field(default=12, ge=2, description="steps per window")
    stride: int = Field(
        default=1, ge=1, description="steps between the starts of consecutive windows"
    )
    horizon: int = Field(
        default=1, ge=1, description="target = value this many steps after the window's end"
    )
    statistics: list[WindowStatistic] = Field(default_factory=lambda: list(WINDOW_STATISTICS))
    gap_policy: Literal["interpolate", "drop"] = "interpolate"
    max_gap: int = Field(
        default=4, ge=1, description="longest run of missing steps that is interpolated"
    )
    frequency: str | None = Field(
        default=None,
        description="pandas offset such as '7D'; absent timestamps become missing steps",
    )

    @model_validator(mode="after")
    def check_statistics(self) -> WindowSettings:
        if not self.statistics:
            raise ValueError(
                "statistics is empty; list at least one of " + ", ".join(WINDOW_STATISTICS)
            )
        if len(set(self.statistics)) != len(self.statistics):
            raise ValueError(f"statistics listed twice: {self.statistics}")
        return self


class FeatureSettings(StrictModel):
    """The `features:` block of a dataset card; defaults reproduce the pipeline without settings."""

    numeric: NumericSettings = Field(default_factory=NumericSettings)
    categorical: CategoricalSettings = Field(default_factory=CategoricalSettings)
    selection: SelectionSettings = Field(default_factory=SelectionSettings)
    augmentation: AugmentationSettings = Field(default_factory=AugmentationSettings)
    text: TextSettings = Field(default_factory=TextSettings)
    windows: WindowSettings | None = None

    def uses_odds_encoding(self) -> bool:
        """Whether any categorical column may be odds-ratio encoded, which needs a binary target."""
        chosen = {self.categorical.encoder, *self.categorical.columns.values()}
        if self.categorical.high_cardinality_threshold is not None:
            chosen.add(self.categorical.high_cardinality_encoder)
        return bool(chosen & set(ODDS_ENCODINGS))
