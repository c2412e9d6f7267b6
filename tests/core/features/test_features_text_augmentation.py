"""Text augmentation: seeded word dropout, swaps and masking of training rows, never of the rows
a model is scored on."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mleng.card import DatasetCard
from mleng.data.loading import FeatureColumns
from mleng.features.augmentation import TextPerturbation, augment_text_rows, perturb_words
from mleng.training.cv import (
    FoldSetup,
    build_pipeline,
    cross_validate_pipeline,
    fit_pipeline,
    make_augmenter,
    make_folds,
)

DOCSTRINGS = Path(__file__).resolve().parents[3] / "data" / "docstrings.csv.gz"
COLUMNS = FeatureColumns(["n_parameters"], ["kind"], ["description"])
SENTENCE = " ".join(f"w{index}" for index in range(2000))


@pytest.fixture(scope="module")
def docstrings() -> pd.DataFrame:
    return pd.read_csv(DOCSTRINGS).sample(n=450, random_state=1)


def card(**features) -> DatasetCard:
    values = {
        "name": "d",
        "path": str(DOCSTRINGS),
        "target": "library",
        "task": "binary",
        "positive_label": "scikit-learn",
        "model_name": "d",
        "id_columns": ["name"],
        "search": {"cv_folds": 3, "families": {"logistic_regression": {}}, "budget": 1},
    }
    return DatasetCard.model_validate(values | {"features": features})


def test_word_dropout_drops_about_its_share_of_words():
    rng = np.random.default_rng(0)
    kept = perturb_words(SENTENCE, TextPerturbation(word_dropout=0.3, swap=0.0), rng).split()
    # 2,000 Bernoulli(0.7) draws: the kept share is 0.7 within 4 standard deviations (0.041).
    assert abs(len(kept) / 2000 - 0.7) < 0.041
    assert kept == sorted(kept, key=lambda word: int(word[1:]))  # order kept without swaps


def test_swaps_move_words_without_losing_any_and_masks_replace_them():
    rng = np.random.default_rng(1)
    swapped = perturb_words(SENTENCE, TextPerturbation(word_dropout=0.0, swap=0.5), rng).split()
    assert Counter(swapped) == Counter(SENTENCE.split()) and swapped != SENTENCE.split()
    masked = perturb_words(
        SENTENCE, TextPerturbation(word_dropout=0.0, swap=0.0, mask=0.25, mask_token="<m>"), rng
    ).split()
    assert len(masked) == 2000 and abs(masked.count("<m>") / 2000 - 0.25) < 0.04


def test_a_text_never_loses_every_word():
    rng = np.random.default_rng(2)
    for _ in range(50):
        assert perturb_words("only two", TextPerturbation(word_dropout=0.99, swap=0.0), rng)


def test_copies_are_seeded_keep_missing_text_and_leave_other_columns_alone():
    X = pd.DataFrame(
        {"text": ["a long sentence of words", None, "another one here"], "n": [1, 2, 3]},
        index=[10, 11, 12],
    )
    y = pd.Series(["a", "b", "a"], index=X.index)
    perturbation = TextPerturbation(word_dropout=0.3, swap=0.2)
    first_x, first_y = augment_text_rows(X, y, 2, ["text"], perturbation, seed=5)
    again_x, _ = augment_text_rows(X, y, 2, ["text"], perturbation, seed=5)
    other_x, _ = augment_text_rows(X, y, 2, ["text"], perturbation, seed=6)
    pd.testing.assert_frame_equal(first_x, again_x)
    assert not first_x.equals(other_x)
    assert len(first_x) == 9 and first_y.tolist() == ["a", "b", "a"] * 3
    assert first_x["text"].iloc[:3].tolist() == X["text"].tolist()  # originals first, untouched
    assert first_x["text"].isna().tolist() == [False, True, False] * 3
    assert first_x["n"].tolist() == [1, 2, 3] * 3


def test_validation_rows_are_never_augmented(docstrings):
    """Every call of the augmenter gets exactly one training fold, disjoint from its validation
    fold; validation rows reach the scorer as they are in the data."""
    settings = card(text={"augmentation": {"copies": 2, "word_dropout": 0.2, "mask": 0.1}})
    augment = make_augmenter(settings, COLUMNS, seed=0)
    seen: list[set] = []

    def spy(features: pd.DataFrame, target: pd.Series):
        seen.append(set(features.index))
        more_x, more_y = augment(features, target)
        assert len(more_x) == 3 * len(features)
        assert (
            more_x["description"].iloc[len(features) :] != features["description"].iloc[0]
        ).any()
        return more_x, more_y

    features, target = docstrings[COLUMNS.all], docstrings["library"]
    pipeline = build_pipeline(settings, COLUMNS, "logistic_regression", {"C": 5.0}, 0)
    score = cross_validate_pipeline(pipeline, features, target, FoldSetup(settings, 0, spy))
    folds = list(make_folds(settings, 0).split(features, target))
    assert seen == [set(features.index[train]) for train, _ in folds]
    for rows, (_, valid) in zip(seen, folds, strict=True):
        assert not rows & set(features.index[valid])
    assert 0.6 < score.mean <= 1.0


def test_test_rows_are_never_augmented_by_the_refit(docstrings):
    """The refit augments the training rows it is given; predicting the test rows draws no
    perturbation, so two predictions of the same rows agree exactly."""
    settings = card(text={"augmentation": {"copies": 1, "word_dropout": 0.3}})
    features, target = docstrings[COLUMNS.all], docstrings["library"]
    train_x, test_x, train_y = features.iloc[:300], features.iloc[300:], target.iloc[:300]
    test_before = test_x.copy()
    augment = make_augmenter(settings, COLUMNS, seed=0)
    seen: list[pd.Index] = []

    def spy(rows: pd.DataFrame, labels: pd.Series):
        seen.append(rows.index)
        return augment(rows, labels)

    pipeline = build_pipeline(settings, COLUMNS, "logistic_regression", {}, 0)
    model = fit_pipeline(pipeline, train_x, train_y, FoldSetup(settings, 0, spy))
    assert len(seen) == 1 and seen[0].equals(train_x.index)
    first, second = model.predict_proba(test_x), model.predict_proba(test_x)
    pd.testing.assert_frame_equal(test_x, test_before)
    assert first.shape[0] == len(test_x)
    np.testing.assert_array_equal(first, second)


def test_numeric_and_text_augmentation_add_their_copies_side_by_side(docstrings):
    settings = card(
        augmentation={"copies": 1, "noise_fraction": 0.1}, text={"augmentation": {"copies": 2}}
    )
    augment = make_augmenter(settings, COLUMNS, seed=0)
    rows = docstrings[COLUMNS.all].head(20)
    more_x, more_y = augment(rows, docstrings["library"].head(20))
    assert len(more_x) == 20 * 4 and len(more_y) == 80
    # the text copies are made from the rows themselves: their numbers carry no noise
    np.testing.assert_array_equal(
        more_x["n_parameters"].iloc[40:60].to_numpy(), rows["n_parameters"].to_numpy()
    )
    assert make_augmenter(card(), COLUMNS, seed=0) is None
