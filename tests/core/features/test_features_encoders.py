"""Categorical encoders: documented values for unseen and missing levels, hand-checked odds ratios,
cross-fitting that hides a row's own target, and the per-column rules of CategoricalEncoder."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mleng.features.columns import CategoricalEncoder
from mleng.features.encoders import CountEncoder, OddsRatioEncoder


def column(*values: object) -> np.ndarray:
    return np.array(values, dtype=object).reshape(-1, 1)


def test_count_encoder_maps_levels_to_training_counts_and_unseen_to_zero() -> None:
    encoder = CountEncoder().fit(column("a", "a", "a", "b", None))
    encoded = encoder.transform(column("a", "b", "never-seen", None, np.nan))
    assert encoded.ravel().tolist() == [3.0, 1.0, 0.0, 1.0, 1.0]


def test_frequency_encoding_is_the_share_of_training_rows() -> None:
    encoder = CountEncoder(normalize=True).fit(column("a", "a", "a", "b"))
    assert encoder.transform(column("a", "b", "c")).ravel().tolist() == [0.75, 0.25, 0.0]


def small_table() -> tuple[np.ndarray, np.ndarray]:
    """Level a: 3 positives, 1 negative; level b: 1 positive, 3 negatives."""
    X = column("a", "a", "a", "a", "b", "b", "b", "b")
    y = np.array([1, 1, 1, 0, 1, 0, 0, 0])
    return X, y


def test_odds_ratio_matches_the_hand_computed_two_by_two_table() -> None:
    X, y = small_table()
    # a: ((3+1)(3+1)) / ((1+1)(1+1)) = 4 against the rest; b is its mirror image, 1/4.
    encoder = OddsRatioEncoder(kind="odds_ratio", smoothing=1.0).fit(X, y)
    assert encoder.transform(column("a", "b")).ravel() == pytest.approx([4.0, 0.25])
    # Haldane's 0.5: a = (3.5 * 3.5) / (1.5 * 1.5).
    log_encoder = OddsRatioEncoder(kind="log_odds_ratio", smoothing=0.5).fit(X, y)
    assert log_encoder.transform(column("a")).item() == pytest.approx(
        math.log(3.5 * 3.5 / (1.5 * 1.5))
    )


def test_odds_ratio_smoothing_keeps_a_one_class_level_finite() -> None:
    X = column("pure", "pure", "mixed", "mixed", "mixed", "mixed")
    y = np.array([1, 1, 1, 0, 0, 0])
    encoded = (
        OddsRatioEncoder(kind="log_odds_ratio", smoothing=0.5).fit(X, y).transform(column("pure"))
    )
    assert np.isfinite(encoded).all() and encoded.item() > 0


def test_odds_ratio_maps_unseen_levels_to_no_evidence() -> None:
    X, y = small_table()
    ratio = OddsRatioEncoder(kind="odds_ratio").fit(X, y).transform(column("zzz", None))
    log_ratio = OddsRatioEncoder(kind="log_odds_ratio").fit(X, y).transform(column("zzz", np.nan))
    assert ratio.ravel().tolist() == [1.0, 1.0]
    assert log_ratio.ravel().tolist() == [0.0, 0.0]


def test_odds_ratio_positive_label_sets_the_direction() -> None:
    X, y = small_table()
    labels = np.where(y == 1, "yes", "no")
    towards_yes = OddsRatioEncoder(positive_label="yes").fit(X, labels).transform(column("a"))
    towards_no = OddsRatioEncoder(positive_label="no").fit(X, labels).transform(column("a"))
    assert towards_yes.item() > 0
    assert towards_no.item() == pytest.approx(-towards_yes.item())


def test_odds_ratio_rejects_a_multiclass_target_with_advice() -> None:
    with pytest.raises(ValueError, match="binary target.*use target encoding"):
        OddsRatioEncoder().fit(column("a", "b", "c"), np.array([0, 1, 2]))


def singleton_frame() -> tuple[np.ndarray, np.ndarray]:
    """200 rows of one common level with balanced classes, plus one row of a level seen once."""
    X = column(*(["common"] * 200 + ["once"]))
    y = np.array([0, 1] * 100 + [1])
    return X, y


def test_cross_fitted_odds_ratio_hides_a_rows_own_target() -> None:
    X, y = singleton_frame()
    encoder = OddsRatioEncoder(cv=5, random_state=0)
    leaky = encoder.fit(X, y).transform(X)[-1, 0]
    cross_fitted = encoder.fit_transform(X, y)[-1, 0]
    assert leaky > 1.0  # fit-then-transform sees the level's only row, which is positive
    assert cross_fitted == 0.0  # out of fold the level is unseen: no evidence


def test_cross_fitted_target_encoding_hides_a_rows_own_target() -> None:
    X = pd.DataFrame({"level": ["common"] * 200 + ["once"]})
    y = np.r_[np.random.default_rng(0).normal(0.0, 1.0, 200), 1000.0]
    encoder = CategoricalEncoder(
        encoder="target", target_type="continuous", target_smoothing=0.0, cv=5
    )
    leaky = encoder.fit(X, y).transform(X)[-1, 0]
    cross_fitted = encoder.fit_transform(X, y)[-1, 0]
    assert leaky == pytest.approx(1000.0)
    assert abs(cross_fitted) < 1.0  # the mean of the other folds' targets, without the 1000


@pytest.mark.parametrize(
    ("encoder", "expected_unseen"),
    [("frequency", 0.0), ("log_odds_ratio", 0.0), ("odds_ratio", 1.0)],
)
def test_categorical_encoder_maps_unseen_and_missing_to_the_documented_value(
    encoder: str, expected_unseen: float
) -> None:
    X = pd.DataFrame({"colour": ["red", "blue"] * 20})
    y = np.array([1, 0, 0, 1] * 10)
    fitted = CategoricalEncoder(encoder=encoder).fit(X, y)
    encoded = fitted.transform(pd.DataFrame({"colour": ["purple", None]}))
    assert encoded.ravel().tolist() == [expected_unseen, expected_unseen]


def test_categorical_target_encoding_maps_unseen_to_the_target_mean() -> None:
    X = pd.DataFrame({"colour": ["red", "blue"] * 20})
    y = np.array([1, 0, 0, 0] * 10)
    fitted = CategoricalEncoder(encoder="target", target_type="binary").fit(X, y)
    encoded = fitted.transform(pd.DataFrame({"colour": ["purple", np.nan]}))
    assert encoded.ravel() == pytest.approx([0.25, 0.25])


def test_one_hot_sends_unseen_levels_to_the_infrequent_column_or_all_zeros() -> None:
    X = pd.DataFrame({"colour": ["red"] * 50 + ["blue"] * 49 + ["teal"]})
    fitted = CategoricalEncoder(encoder="one_hot", min_frequency=0.05).fit(X)
    names = list(fitted.get_feature_names_out())
    encoded = fitted.transform(pd.DataFrame({"colour": ["purple"]}))
    assert encoded[0, names.index("colour_infrequent_sklearn")] == 1.0
    plain = CategoricalEncoder(encoder="one_hot", min_frequency=None).fit(X.iloc[:99])
    assert plain.transform(pd.DataFrame({"colour": ["purple"]})).sum() == 0.0


def test_missing_values_seen_in_training_are_a_level_of_their_own() -> None:
    X = pd.DataFrame({"colour": ["red", None, None, "blue"]})
    fitted = CategoricalEncoder(encoder="frequency").fit(X)
    assert fitted.transform(pd.DataFrame({"colour": [np.nan, "red"]})).ravel().tolist() == [
        0.5,
        0.25,
    ]


def test_high_cardinality_rule_and_column_overrides_pick_each_columns_encoder() -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {
            "city": rng.choice([f"city-{i}" for i in range(40)], size=400),
            "colour": rng.choice(["red", "blue"], size=400),
            "size": rng.choice(["s", "m", "l"], size=400),
        }
    )
    y = rng.integers(0, 2, size=400)
    encoder = CategoricalEncoder(
        encoder="one_hot",
        high_cardinality_threshold=30,
        high_cardinality_encoder="target",
        column_encoders={"size": "count"},
    ).fit(X, y)
    assert encoder.encoders_ == {"city": "target", "colour": "one_hot", "size": "count"}
    assert list(encoder.get_feature_names_out()) == ["city", "colour_blue", "colour_red", "size"]


def test_whole_number_float_codes_get_the_same_label_as_integer_codes() -> None:
    fitted = CategoricalEncoder(encoder="frequency").fit(pd.DataFrame({"code": [3, 3, 7, 7]}))
    as_float = pd.DataFrame({"code": [3.0, 7.0, np.nan]})
    assert fitted.transform(as_float).ravel().tolist() == [0.5, 0.5, 0.0]
    mixed = CategoricalEncoder(encoder="frequency").fit(
        pd.DataFrame({"code": [3.0, 3.0, 2.5, 1.0]})
    )
    assert mixed.transform(pd.DataFrame({"code": [3, 2.5]})).ravel().tolist() == [0.5, 0.25]


def test_count_encoding_is_standardised_so_linear_models_converge() -> None:
    X = pd.DataFrame({"colour": ["red"] * 90 + ["blue"] * 9 + ["green"]})
    encoded = CategoricalEncoder(encoder="count").fit_transform(X).ravel()
    assert encoded.mean() == pytest.approx(0.0, abs=1e-9) and encoded.std() == pytest.approx(1.0)
    assert encoded[0] > encoded[90] > encoded[99]  # more frequent levels still score higher


def test_unknown_encoder_name_is_an_error_naming_the_choices() -> None:
    with pytest.raises(ValueError, match="unknown encoders \\['hash'\\]"):
        CategoricalEncoder(encoder="hash").fit(pd.DataFrame({"colour": ["red"]}))
