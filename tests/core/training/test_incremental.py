"""The incremental final fit: partial_fit over streamed chunks scores like the in-memory SGD fit,
and the test rows are scored chunk by chunk into a stated, capped sample."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.utils.class_weight import compute_class_weight

from mleng.card import load_card
from mleng.data.chunks import iterate_side, list_blocks, shuffle_blocks
from mleng.data.loading import infer_feature_columns, load_dataset
from mleng.data.split import split_dataset
from mleng.errors import CardError
from mleng.evaluation.records import Predictions
from mleng.training.cv import build_pipeline
from mleng.training.incremental import (
    IncrementalPlan,
    PredictionReservoir,
    balanced_class_weights,
    check_incremental_card,
    fit_incremental,
    predict_chunks,
)
from tests.helpers import write_card

SEED = 3


@pytest.fixture(scope="module")
def adult_card(tmp_path_factory, adult_frame: pd.DataFrame):
    """The 3,000-row Adult sample as a Parquet file of 300-row groups, with a streaming card."""
    folder = tmp_path_factory.mktemp("incremental")
    path = folder / "adult.parquet"
    adult_frame.to_parquet(path, row_group_size=300)
    streaming = {"chunk_rows": 200, "epochs": 5}
    requirements = {"larger_than_memory": True, "streaming": streaming}
    return load_card(write_card(folder, path, format="parquet", requirements=requirements))


def stream_passes(card, columns: list[str]):
    blocks = list_blocks(card)
    return lambda epoch: iterate_side(card, "train", columns, shuffle_blocks(blocks, SEED, epoch))


def test_incremental_fit_scores_close_to_the_in_memory_fit(adult_card):
    whole = load_dataset(adult_card)
    columns = infer_feature_columns(whole, adult_card)
    split = split_dataset(whole, adult_card, columns)
    in_memory = build_pipeline(adult_card, columns, "sgd", {"alpha": 1e-3}, SEED)
    in_memory.fit(split.train_x, split.train_y)

    classes = np.unique(split.train_y)
    plan = IncrementalPlan("class", classes, None, epochs=5)
    # the feature pipeline sees a third of the training rows, as it would a sample
    sample = split.train_rows.sample(n=len(split.train_rows) // 3, random_state=SEED)
    pipeline = build_pipeline(adult_card, columns, "sgd", {"alpha": 1e-3}, SEED)
    fit = fit_incremental(
        pipeline,
        sample[columns.all],
        sample["class"],
        stream_passes(adult_card, list(whole.columns)),
        plan,
    )

    assert fit.rows_per_epoch == len(split.train_rows) and fit.chunks_per_epoch >= 10
    positive = list(classes).index(">50K")
    auc_memory = roc_auc_score(
        split.test_y == ">50K", in_memory.predict_proba(split.test_x)[:, positive]
    )
    auc_stream = roc_auc_score(
        split.test_y == ">50K", fit.pipeline.predict_proba(split.test_x)[:, positive]
    )
    assert auc_memory > 0.85
    assert abs(auc_stream - auc_memory) < 0.02
    # one ordinary fitted Pipeline: raw rows in, it pickles like any registered model
    assert isinstance(fit.pipeline, Pipeline)
    again = pickle.loads(pickle.dumps(fit.pipeline))
    assert np.array_equal(again.predict(split.test_x), fit.pipeline.predict(split.test_x))


def test_incremental_regression_recovers_a_linear_relation(tmp_path: Path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(6000, 3)), columns=["a", "b", "c"])
    frame["y"] = 2 * frame["a"] - frame["b"] + 0.1 * rng.normal(size=len(frame))
    path = tmp_path / "linear.csv"
    frame.to_csv(path, index=False)
    card = load_card(
        write_card(
            tmp_path, path, target="y", task="regression", metric="rmse", positive_label=None,
            numeric_columns=["a", "b", "c"], categorical_columns=[],
            search={"budget": 2, "families": {"sgd": {}}},
            requirements={"larger_than_memory": True, "streaming": {"chunk_rows": 500}},
        )
    )  # fmt: skip
    whole = load_dataset(card)
    columns = infer_feature_columns(whole, card)
    split = split_dataset(whole, card, columns)
    pipeline = build_pipeline(card, columns, "sgd", {"alpha": 1e-5}, SEED)
    plan = IncrementalPlan("y", None, None, epochs=3)
    fit = fit_incremental(
        pipeline, split.train_x.head(500), split.train_y.head(500),
        stream_passes(card, list(whole.columns)), plan,
    )  # fmt: skip
    assert r2_score(split.test_y, fit.pipeline.predict(split.test_x)) > 0.99


def test_balanced_weights_from_counts_equal_scikit_learns():
    labels = np.array(["a"] * 70 + ["b"] * 25 + ["c"] * 5)
    weights = balanced_class_weights({"a": 70, "b": 25, "c": 5})
    expected = compute_class_weight("balanced", classes=np.array(["a", "b", "c"]), y=labels)
    assert np.allclose([weights[k] for k in ("a", "b", "c")], expected)


def test_an_estimator_without_partial_fit_is_refused(adult_card):
    whole = load_dataset(adult_card)
    columns = infer_feature_columns(whole, adult_card)
    pipeline = build_pipeline(adult_card, columns, "random_forest", {}, SEED)
    plan = IncrementalPlan("class", np.array(["<=50K", ">50K"]), None, 1)
    with pytest.raises(ValueError, match="RandomForestClassifier has no partial_fit"):
        fit_incremental(pipeline, whole[columns.all], whole["class"], lambda e: [], plan)


def test_settings_partial_fit_cannot_honour_are_refused(tmp_path: Path, adult_frame):
    path = tmp_path / "a.csv"
    adult_frame.head(50).to_csv(path, index=False)
    card = load_card(
        write_card(
            tmp_path, path, requirements={"larger_than_memory": True},
            imbalance={"strategy": "resample", "sampler": "under"},
        )
    )  # fmt: skip
    with pytest.raises(CardError, match="resample.*class_weight"):
        check_incremental_card(card)


def test_reservoir_keeps_every_row_under_the_cap_and_a_chunking_free_sample_above():
    rng = np.random.default_rng(1)
    keys = rng.integers(0, 2**63, size=1000, dtype=np.uint64)
    truth = rng.integers(0, 2, size=1000)

    def fill(cap: int, chunk: int) -> PredictionReservoir:
        reservoir = PredictionReservoir(cap, seed=4)
        for start in range(0, 1000, chunk):
            part = slice(start, start + chunk)
            proba = np.column_stack([1 - truth[part] * 0.8, truth[part] * 0.8])
            reservoir.add(
                keys[part], truth[part], Predictions(truth[part], proba, np.array([0, 1]))
            )
        return reservoir

    whole = fill(5000, 100)
    assert whole.kept == 1000 and whole.statement() == "on all 1,000 test rows"
    small, other = fill(300, 70), fill(300, 450)
    assert small.kept == 300 and small.statement() == "on a seeded sample of 300 of 1,000 test rows"
    assert np.array_equal(small.truth, other.truth) and np.array_equal(small.proba, other.proba)
    assert np.array_equal(small.predictions().y_pred, small.truth)


def test_predict_chunks_scores_every_test_row(adult_card):
    whole = load_dataset(adult_card)
    columns = infer_feature_columns(whole, adult_card)
    split = split_dataset(whole, adult_card, columns)
    model = build_pipeline(adult_card, columns, "sgd", {}, SEED).fit(split.train_x, split.train_y)
    reservoir = predict_chunks(
        model,
        iterate_side(adult_card, "test", list(whole.columns)),
        columns.all,
        "class",
        PredictionReservoir(10_000, SEED),
    )
    assert reservoir.seen == reservoir.kept == len(split.test_rows)
    assert np.array_equal(reservoir.truth, split.test_y.to_numpy())
    assert np.array_equal(reservoir.predicted, model.predict(split.test_x))


def test_a_skewed_regression_target_gets_no_transform_when_fitted_incrementally(tmp_path: Path):
    from mleng.search.families import DataTraits, choose_families

    path = tmp_path / "a.csv"
    pd.DataFrame({"a": [1.0, 2.0], "y": [1.0, 9.0]}).to_csv(path, index=False)
    card = load_card(
        write_card(
            tmp_path, path, target="y", task="regression", metric="rmse", positive_label=None,
            numeric_columns=["a"], categorical_columns=[],
            search={"budget": 2, "families": {"ridge": {}}},
            requirements={"larger_than_memory": True},
        )
    )  # fmt: skip
    choice = choose_families(card, 1000, 1, DataTraits(0, target_skew=4.0, target_min=0.0))
    assert list(choice.spaces) == ["sgd"]
    assert "target_transform" not in choice.spaces["sgd"]
    assert any("no target transform" in reason for reason in choice.reasons)
