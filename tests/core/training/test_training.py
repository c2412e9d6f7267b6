"""Trial pipelines: feature choices are searchable, augmentation touches training folds only."""

import numpy as np
import pandas as pd
import pytest

from mleng.card import DatasetCard
from mleng.data.loading import FeatureColumns
from mleng.errors import DataError
from mleng.training.cv import (
    FoldSetup,
    build_pipeline,
    check_holdout_classes,
    cross_validate_pipeline,
    make_augmenter,
    make_folds,
)
from tests.helpers import ADULT, ADULT_CATEGORICAL, ADULT_NUMERIC

COLUMNS = FeatureColumns(ADULT_NUMERIC, ADULT_CATEGORICAL)


@pytest.fixture(scope="module")
def adult() -> pd.DataFrame:
    return pd.read_csv(ADULT).sample(n=600, random_state=1)


def card(**changes) -> DatasetCard:
    values = {
        "name": "a",
        "path": str(ADULT),
        "target": "class",
        "task": "binary",
        "positive_label": ">50K",
        "model_name": "a",
    }
    return DatasetCard.model_validate(values | changes)


def test_step_path_parameters_tune_the_feature_pipeline():
    pipeline = build_pipeline(
        card(),
        COLUMNS,
        "logistic_regression",
        {"C": 0.5, "features__columns__categorical__encoder": "count"},
        0,
    )
    assert pipeline.get_params()["features__columns__categorical__encoder"] == "count"
    assert pipeline.get_params()["model__C"] == 0.5


def test_searched_encoder_changes_the_cross_validated_score(adult):
    scores = {
        encoder: cross_validate_pipeline(
            build_pipeline(
                card(),
                COLUMNS,
                "logistic_regression",
                {"features__columns__categorical__encoder": encoder},
                0,
            ),
            adult[COLUMNS.all],
            adult["class"],
            FoldSetup(card(), seed=0),
        ).mean
        for encoder in ("one_hot", "count")
    }
    assert scores["one_hot"] != scores["count"] and all(
        0.6 < value < 1 for value in scores.values()
    )


def test_augmented_copies_only_enter_training_folds(adult):
    seen_sizes = []

    def spy(features, target):
        seen_sizes.append(len(features))
        return features, target

    augmented = card(features={"augmentation": {"copies": 2, "noise_fraction": 0.05}})
    cross_validate_pipeline(
        build_pipeline(augmented, COLUMNS, "logistic_regression", {}, 0),
        adult[COLUMNS.all],
        adult["class"],
        FoldSetup(augmented, 0, augment=spy),
    )
    assert seen_sizes == [400, 400, 400]  # each training fold (2/3 of 600), never a validation fold
    augment = make_augmenter(augmented, COLUMNS, 0)
    more_x, more_y = augment(adult[COLUMNS.all].head(100), adult["class"].head(100))
    assert len(more_x) == 300 and len(more_y) == 300


def test_an_adversarial_holdout_gives_one_split_scoring_only_the_held_out_rows(adult):
    holdout = np.zeros(len(adult), dtype=bool)
    holdout[::5] = True
    (split,) = list(make_folds(card(), 0, holdout).split(adult[COLUMNS.all], adult["class"]))
    np.testing.assert_array_equal(split[1], np.flatnonzero(holdout))
    np.testing.assert_array_equal(split[0], np.flatnonzero(~holdout))
    score = cross_validate_pipeline(
        build_pipeline(card(), COLUMNS, "logistic_regression", {}, 0),
        adult[COLUMNS.all],
        adult["class"],
        FoldSetup(card(), 0, holdout=holdout),
    )
    assert score.std == 0.0 and 0.5 < score.mean <= 1.0  # one split, so no spread


def test_adversarial_validation_is_refused_for_time_ordered_cards():
    with pytest.raises(ValueError, match="forward in time"):
        card(timestamp_column="when", search={"validation": "adversarial"})


def test_a_holdout_missing_a_class_is_refused_with_the_fix(adult):
    target = adult["class"].str.strip(" .")
    holdout = (target == ">50K").to_numpy()  # validation rows hold one class only
    with pytest.raises(DataError, match="adversarial_fraction"):
        check_holdout_classes(card(), target, holdout)
    check_holdout_classes(card(task="regression"), target, holdout)  # regression has no classes
