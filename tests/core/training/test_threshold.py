"""The decision threshold: tuned on out-of-fold rows only, shipped inside the model, set aside
for inspection."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import train_test_split

from mleng.card import DatasetCard
from mleng.data.loading import FeatureColumns
from mleng.errors import CardError
from mleng.training.cv import FoldSetup, build_pipeline
from mleng.training.threshold import (
    attach_threshold,
    predict_positive_out_of_fold,
    read_threshold,
    tune_out_of_fold_threshold,
    unwrap_pipeline,
)
from tests.helpers import ADULT, ADULT_CATEGORICAL, ADULT_NUMERIC, thin_adult_positives

COLUMNS = FeatureColumns(ADULT_NUMERIC, ADULT_CATEGORICAL)


@pytest.fixture(scope="module")
def rare_positives() -> pd.DataFrame:
    """Real Adult rows with the >50K class thinned to about 6%: the 0.5 rule misses most of it."""
    frame = thin_adult_positives(12000, seed=3)
    frame["class"] = frame["class"].str.strip(" .")
    return frame


def card(**changes) -> DatasetCard:
    values = {
        "name": "a",
        "path": str(ADULT),
        "target": "class",
        "task": "binary",
        "positive_label": ">50K",
        "model_name": "a",
    }
    values["imbalance"] = {"threshold_metric": "balanced_accuracy"}
    return DatasetCard.model_validate(values | changes)


def test_out_of_fold_predictions_cover_every_row_once_from_a_model_that_did_not_see_it(
    rare_positives,
):
    rows = rare_positives.head(900)
    pipeline = build_pipeline(card(), COLUMNS, "logistic_regression", {"C": 1.0}, 0)
    positions, proba = predict_positive_out_of_fold(
        pipeline, rows[COLUMNS.all], rows["class"], FoldSetup(card(), seed=0)
    )
    assert sorted(positions) == list(range(len(rows)))
    assert proba.shape == (len(rows),) and ((proba >= 0) & (proba <= 1)).all()
    in_sample = pipeline.fit(rows[COLUMNS.all], rows["class"]).predict_proba(rows[COLUMNS.all])[
        :, 1
    ]
    assert not np.allclose(proba, in_sample[positions], atol=1e-3)  # not the in-sample fit's scores


def test_tuned_threshold_lifts_held_out_balanced_accuracy_on_a_rare_class(rare_positives):
    fit_rows, test_rows = train_test_split(
        rare_positives, test_size=0.3, stratify=rare_positives["class"], random_state=0
    )
    pipeline = build_pipeline(card(), COLUMNS, "logistic_regression", {"C": 1.0}, 0)
    choice = tune_out_of_fold_threshold(
        pipeline, fit_rows[COLUMNS.all], fit_rows["class"], FoldSetup(card(), seed=0)
    )
    assert choice is not None and choice.threshold < 0.5 and choice.score > choice.score_at_half
    fitted = pipeline.fit(fit_rows[COLUMNS.all], fit_rows["class"])
    model = attach_threshold(fitted, choice, ">50K", fit_rows[COLUMNS.all], fit_rows["class"])

    proba = fitted.predict_proba(test_rows[COLUMNS.all])[:, list(fitted.classes_).index(">50K")]
    labels = model.predict(test_rows[COLUMNS.all])
    np.testing.assert_array_equal(labels == ">50K", proba >= choice.threshold)
    tuned = balanced_accuracy_score(test_rows["class"], labels)
    at_half = balanced_accuracy_score(test_rows["class"], fitted.predict(test_rows[COLUMNS.all]))
    assert tuned > at_half + 0.05
    assert unwrap_pipeline(model) is fitted and read_threshold(model) == pytest.approx(
        choice.threshold
    )


def test_no_threshold_is_tuned_unless_a_binary_card_asks_for_one(rare_positives):
    rows = rare_positives.head(300)
    pipeline = build_pipeline(card(), COLUMNS, "logistic_regression", {"C": 1.0}, 0)
    assert (
        tune_out_of_fold_threshold(
            pipeline,
            rows[COLUMNS.all],
            rows["class"],
            FoldSetup(card(imbalance={"threshold_metric": None}), 0),
        )
        is None
    )
    fitted = pipeline.fit(rows[COLUMNS.all], rows["class"])
    assert attach_threshold(fitted, None, ">50K", rows, rows["class"]) is fitted
    assert unwrap_pipeline(fitted) is fitted and read_threshold(fitted) is None


def test_a_model_without_probabilities_gets_a_clear_error_instead_of_a_threshold(rare_positives):
    rows = rare_positives.head(300)
    pipeline = build_pipeline(card(), COLUMNS, "sgd", {"loss": "hinge"}, 0)
    with pytest.raises(CardError, match="remove imbalance.threshold_metric"):
        tune_out_of_fold_threshold(pipeline, rows[COLUMNS.all], rows["class"], FoldSetup(card(), 0))
