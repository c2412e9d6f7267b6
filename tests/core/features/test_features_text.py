"""Free-text columns: vectorized inside the registered pipeline, so the model takes raw text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from mleng.card import DatasetCard
from mleng.card.features import FeatureSettings
from mleng.data.loading import FeatureColumns
from mleng.features.pipeline import build_feature_pipeline, build_model_pipeline
from mleng.features.report import build_features_report
from mleng.features.text import TextVectorizer, find_text_columns
from mleng.serving.fast_path import build_fast_path
from mleng.tracking import contract
from mleng.training.threshold import freeze_with_threshold

DOCSTRINGS = Path(__file__).resolve().parents[3] / "data" / "docstrings.csv.gz"
NUMERIC, CATEGORICAL, TEXT = ["n_parameters"], ["kind"], ["description"]


@pytest.fixture(scope="module")
def docstrings() -> pd.DataFrame:
    """The shipped docstrings of scikit-learn and SciPy, shuffled with a fixed seed."""
    return pd.read_csv(DOCSTRINGS).sample(frac=1.0, random_state=0).reset_index(drop=True)


def split(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame, pd.Series]:
    features, target = frame[NUMERIC + CATEGORICAL + TEXT], frame["library"]
    cut = int(0.75 * len(frame))
    return features.iloc[:cut], target.iloc[:cut], features.iloc[cut:], target.iloc[cut:]


def text_model(estimator, settings: FeatureSettings | None = None):
    features = build_feature_pipeline(
        NUMERIC, CATEGORICAL, settings, task="binary", text_columns=TEXT
    )
    return build_model_pipeline(features, estimator, NUMERIC, CATEGORICAL)


def test_missing_text_is_an_all_zero_row_and_unseen_words_are_ignored():
    texts = pd.DataFrame({"t": ["fit the model", "fit a model", None, "words nobody wrote"]})
    vectorizer = TextVectorizer(min_df=1, ngram_range=(1, 1)).fit(texts.iloc[:2])
    out = vectorizer.transform(texts)
    assert sp.issparse(out)
    assert out[2].nnz == 0 and out[3].nnz == 0
    # one-letter words are not terms (scikit-learn's token pattern)
    assert set(vectorizer.get_feature_names_out()) == {"t__fit", "t__the", "t__model"}


def test_vocabulary_and_hashing_width_respect_max_features(docstrings):
    texts = docstrings[TEXT]
    tfidf = TextVectorizer(max_features=300).fit(texts)
    hashing = TextVectorizer(vectorizer="hashing", max_features=512).fit(texts)
    assert tfidf.transform(texts).shape == (len(texts), 300)
    assert hashing.transform(texts).shape == (len(texts), 512)
    assert len(hashing.get_feature_names_out()) == 512


def test_a_min_df_too_strict_for_a_short_column_falls_back_to_every_term():
    texts = pd.DataFrame({"t": ["alpha beta", "gamma delta"]})
    out = TextVectorizer(min_df=5).fit_transform(texts)
    assert out.shape[1] > 0
    empty = TextVectorizer().fit(pd.DataFrame({"t": [None, "", None]}))
    assert empty.transform(pd.DataFrame({"t": ["anything"]})).shape == (1, 0)


def test_svd_output_is_dense_and_seeded(docstrings):
    texts = docstrings[TEXT].head(300)
    first = TextVectorizer(output="svd", svd_components=20, random_state=3).fit_transform(texts)
    again = TextVectorizer(output="svd", svd_components=20, random_state=3).fit_transform(texts)
    assert isinstance(first, np.ndarray) and first.shape == (300, 20)
    np.testing.assert_allclose(first, again)


@pytest.mark.parametrize("settings", [None, FeatureSettings()], ids=["default", "configured"])
def test_raw_text_rows_go_in_and_the_coercer_keeps_the_text_columns(docstrings, settings):
    train_x, train_y, test_x, test_y = split(docstrings)
    model = text_model(LogisticRegression(C=10.0, max_iter=2000), settings).fit(train_x, train_y)
    assert list(model.named_steps["inputs"].text_columns) == TEXT
    assert find_text_columns(model.named_steps["features"]) == TEXT
    auc = roc_auc_score(test_y == "scikit-learn", model.predict_proba(test_x)[:, 0])
    assert auc > 0.85  # classes_ are sorted: column 0 is scikit-learn
    raw = test_x.head(3).astype(object)
    raw.loc[raw.index[0], "description"] = None
    raw.loc[raw.index[1], "description"] = 12345  # coerced to text, not refused
    assert model.predict_proba(raw).shape == (3, 2)


def test_dense_only_models_get_svd_components_and_sparse_ones_the_terms(docstrings):
    train_x, train_y, _, _ = split(docstrings.head(600))
    boosted = text_model(HistGradientBoostingClassifier(max_iter=20, random_state=0))
    forest = text_model(RandomForestClassifier(n_estimators=10, random_state=0))
    assert boosted.get_params()["features__text__output"] == "svd"
    assert forest.get_params()["features__text__output"] == "sparse"
    boosted.fit(train_x, train_y)
    forest.fit(train_x, train_y)
    assert isinstance(boosted[:-1].transform(train_x.head(5)), np.ndarray)
    assert sp.issparse(forest[:-1].transform(train_x.head(5)))


def test_text_settings_are_searchable_parameters(docstrings):
    model = text_model(LogisticRegression(), FeatureSettings())
    model.set_params(features__columns__text__max_features=50)
    model = clone(model).fit(*split(docstrings.head(400))[:2])
    width = model.named_steps["features"].named_steps["columns"].named_transformers_["text"]
    assert len(width.get_feature_names_out()) == 50


def test_the_contract_takes_text_as_a_string_column_and_onnx_is_not_claimed(docstrings):
    train_x, train_y, test_x, _ = split(docstrings.head(600))
    pipeline = text_model(LogisticRegression(max_iter=2000)).fit(train_x, train_y)
    frozen = freeze_with_threshold(pipeline, 0.4, "scikit-learn", train_x, train_y)
    assert contract.model_text_columns(frozen) == TEXT
    spec = contract.ContractSpec.from_training(train_x, NUMERIC, CATEGORICAL)
    spec = spec.with_model_text(frozen)
    conf = spec.flavor_conf(frozen)
    assert conf["categorical_columns"] == CATEGORICAL + TEXT and conf["text_columns"] == TEXT
    example = contract.example_rows(train_x, NUMERIC, CATEGORICAL)
    assert list(example.columns) == NUMERIC + CATEGORICAL + TEXT
    rows = test_x.head(4).astype(object)
    rows.loc[rows.index[0], "description"] = None
    typed = contract.validate_rows(rows, NUMERIC, conf["categorical_columns"])
    assert np.isnan(typed["description"].iloc[0]) and isinstance(typed["description"].iloc[1], str)
    assert contract.predict_frame(frozen, typed).shape == (4, 3)
    fast = build_fast_path(frozen, (NUMERIC, CATEGORICAL), train_x, test_x)
    assert fast.onnx_bytes is None and fast.tags["mleng.serving.fast_path"] == "sklearn"
    assert "description" in fast.tags["mleng.serving.fast_path_reason"]


def test_features_report_scores_text_by_its_best_term_and_pairs_it_with_nothing(docstrings):
    train_x, train_y, test_x, _ = split(docstrings.head(500))
    card = DatasetCard.model_validate(
        {
            "name": "d",
            "path": str(DOCSTRINGS),
            "target": "library",
            "task": "binary",
            "positive_label": "scikit-learn",
            "model_name": "d",
        }
    )
    columns = FeatureColumns(NUMERIC, CATEGORICAL, TEXT)
    report = build_features_report(train_x, train_y, test_x, columns, card)
    text = report["features"]["description"]
    assert text["kind"] == "text" and text["mutual_information"] > 0.01
    assert text["correlated_with"] == []
    assert 0.0 <= text["unseen_or_out_of_range_test_fraction"] < 0.2
