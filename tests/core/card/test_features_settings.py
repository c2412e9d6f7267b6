"""Feature settings: an empty block is today's behaviour, typos and impossible values are errors."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from mleng.card.features import FeatureSettings, WindowSettings

EXAMPLE_CARD_BLOCK = """
features:
  numeric:
    imputation: median
    add_indicator: true
    scaling: standard
    binning: none
    columns:
      age: {strategy: quantile, n_bins: 8}
      capital-gain: {strategy: kmeans, n_bins: 4}
  categorical:
    encoder: one_hot
    min_frequency: 0.01
    max_categories: 50
    high_cardinality_threshold: 30
    high_cardinality_encoder: target
    columns:
      sex: log_odds_ratio
      occupation: count
    odds_smoothing: 0.5
    cv_folds: 5
  selection:
    correlation_threshold: 0.95
    k_best: null
    model_based: false
  augmentation:
    copies: 0
    noise_fraction: 0.05
"""

EXAMPLE_SERIES_BLOCK = """
features:
  windows:
    length: 52
    stride: 1
    horizon: 1
    gap_policy: interpolate
    max_gap: 4
    frequency: 7D
"""


def test_an_empty_features_block_equals_the_defaults() -> None:
    assert FeatureSettings.model_validate({}) == FeatureSettings()
    defaults = FeatureSettings()
    assert (defaults.categorical.encoder, defaults.numeric.binning, defaults.windows) == (
        "one_hot",
        "none",
        None,
    )
    assert (defaults.selection.k_best, defaults.augmentation.copies) == (None, 0)


def test_the_example_card_blocks_validate() -> None:
    settings = FeatureSettings.model_validate(yaml.safe_load(EXAMPLE_CARD_BLOCK)["features"])
    assert settings.categorical.columns == {"sex": "log_odds_ratio", "occupation": "count"}
    assert settings.numeric.columns["age"].n_bins == 8
    assert settings.uses_odds_encoding()
    series = FeatureSettings.model_validate(yaml.safe_load(EXAMPLE_SERIES_BLOCK)["features"])
    assert series.windows == WindowSettings(length=52, frequency="7D")


@pytest.mark.parametrize(
    ("block", "field"),
    [
        ({"categorical": {"encodr": "count"}}, "categorical.encodr"),
        (
            {"numeric": {"columns": {"age": {"strategy": "quantile", "bins": 3}}}},
            "numeric.columns.age.bins",
        ),
        ({"selection": {"kbest": 5}}, "selection.kbest"),
    ],
)
def test_a_misspelled_field_is_an_error_naming_it(block: dict, field: str) -> None:
    with pytest.raises(ValidationError) as error:
        FeatureSettings.model_validate(block)
    assert [".".join(map(str, e["loc"])) for e in error.value.errors()] == [field]
    assert error.value.errors()[0]["type"] == "extra_forbidden"


@pytest.mark.parametrize(
    "block",
    [
        {"categorical": {"encoder": "hashing"}},
        {"categorical": {"odds_smoothing": 0}},
        {"categorical": {"cv_folds": 1}},
        {"numeric": {"n_bins": 1}},
        {"numeric": {"binning": "entropy"}},
        {"selection": {"correlation_threshold": 1.5}},
        {"augmentation": {"copies": -1}},
        {"windows": {"length": 1}},
        {"windows": {"horizon": 0}},
        {"windows": {"statistics": []}},
        {"windows": {"statistics": ["mean", "mean"]}},
    ],
)
def test_impossible_values_are_rejected(block: dict) -> None:
    with pytest.raises(ValidationError):
        FeatureSettings.model_validate(block)


def test_odds_encoding_is_detected_wherever_it_is_chosen() -> None:
    assert not FeatureSettings().uses_odds_encoding()
    assert FeatureSettings.model_validate(
        {"categorical": {"columns": {"sex": "odds_ratio"}}}
    ).uses_odds_encoding()
    rule = {"high_cardinality_threshold": 10, "high_cardinality_encoder": "log_odds_ratio"}
    assert FeatureSettings.model_validate({"categorical": rule}).uses_odds_encoding()
    unused_rule = {"high_cardinality_encoder": "log_odds_ratio"}
    assert not FeatureSettings.model_validate({"categorical": unused_rule}).uses_odds_encoding()
