"""Free-text columns as features: one TF-IDF or hashing vectorizer per column, inside the pipeline.

`TextVectorizer` is what a text column goes through in the registered model, so serving takes raw
text. Missing text is the empty string (no term, an all-zero row). Its output is sparse, which
linear models and forests take as it is; models that need dense input get the text reduced by
`TruncatedSVD` (`output="svd"`), which `build_model_pipeline` chooses from the estimator's tags.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import HashingVectorizer, TfidfVectorizer
from sklearn.utils.validation import check_is_fitted

TEXT_VECTORIZERS = ("tfidf", "hashing")
TEXT_OUTPUTS = ("sparse", "svd")


def as_text(values: Any) -> list[str]:
    """One column's values as strings, missing values as the empty string."""
    series = pd.Series(np.asarray(values, dtype=object).ravel())
    return series.where(series.notna(), "").astype(str).tolist()


class TextVectorizer(TransformerMixin, BaseEstimator):
    """Vectorize each text column on its own and stack the columns' terms side by side.

    `vectorizer="tfidf"` learns at most `max_features` terms per column from the training rows
    (terms in fewer than `min_df` rows dropped; a column too short for `min_df` falls back to 1);
    `"hashing"` maps terms to `max_features` hashed columns and needs no vocabulary, so a term
    unseen in training still counts. `output="svd"` reduces the stacked terms to at most
    `svd_components` dense components. A column without a single term gives no output columns.
    """

    def __init__(  # noqa: PLR0913 - the estimator contract: every parameter here
        self,
        vectorizer: str = "tfidf",
        max_features: int = 20_000,
        ngram_range: tuple[int, int] = (1, 2),
        min_df: float = 2,
        sublinear_tf: bool = True,
        lowercase: bool = True,
        output: str = "sparse",
        svd_components: int = 100,
        random_state: int | None = 0,
    ) -> None:
        self.vectorizer = vectorizer
        self.max_features = max_features
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.sublinear_tf = sublinear_tf
        self.lowercase = lowercase
        self.output = output
        self.svd_components = svd_components
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None) -> TextVectorizer:
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> Any:
        if self.vectorizer not in TEXT_VECTORIZERS:
            raise ValueError(
                f"vectorizer must be one of {list(TEXT_VECTORIZERS)}, got {self.vectorizer!r}"
            )
        if self.output not in TEXT_OUTPUTS:
            raise ValueError(f"output must be one of {list(TEXT_OUTPUTS)}, got {self.output!r}")
        columns = self._read_columns(X, reset=True)
        self.vectorizers_: list[Any] = []
        parts = []
        for values in columns:
            vectorizer, matrix = self._fit_column(values)
            self.vectorizers_.append(vectorizer)
            parts.append(matrix)
        stacked = self._stack(parts, len(columns[0]) if columns else 0)
        self.svd_ = None
        if self.output == "svd":
            # TruncatedSVD needs fewer components than features; tiny inputs pass through dense.
            components = min(self.svd_components, stacked.shape[1] - 1, stacked.shape[0] - 1)
            if components >= 1:
                self.svd_ = TruncatedSVD(n_components=components, random_state=self.random_state)
                return self.svd_.fit_transform(stacked)
            return stacked.toarray()
        return stacked

    def transform(self, X: Any) -> Any:
        check_is_fitted(self, "vectorizers_")
        columns = self._read_columns(X, reset=False)
        parts = [
            sp.csr_matrix((len(values), 0)) if vectorizer is None else vectorizer.transform(values)
            for vectorizer, values in zip(self.vectorizers_, columns, strict=True)
        ]
        stacked = self._stack(parts, len(columns[0]) if columns else 0)
        if self.output == "svd":
            return self.svd_.transform(stacked) if self.svd_ is not None else stacked.toarray()
        return stacked

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "vectorizers_")
        if self.output == "svd":
            width = self.svd_.n_components if self.svd_ is not None else self._width()
            return np.array([f"text_svd{index}" for index in range(width)], dtype=object)
        names: list[str] = []
        for column, vectorizer in zip(self.feature_names_in_, self.vectorizers_, strict=True):
            if vectorizer is None:
                continue
            if isinstance(vectorizer, HashingVectorizer):
                names += [f"{column}__hash{index}" for index in range(vectorizer.n_features)]
            else:
                names += [f"{column}__{term}" for term in vectorizer.get_feature_names_out()]
        return np.asarray(names, dtype=object)

    def _read_columns(self, X: Any, reset: bool) -> list[list[str]]:
        if isinstance(X, pd.DataFrame):
            names = [str(column) for column in X.columns]
            data = [X.iloc[:, index].to_numpy(dtype=object) for index in range(X.shape[1])]
        else:
            array = np.asarray(X, dtype=object)
            array = array.reshape(-1, 1) if array.ndim == 1 else array
            names = [f"x{index}" for index in range(array.shape[1])]
            data = [array[:, index] for index in range(array.shape[1])]
        if reset:
            self.feature_names_in_ = np.asarray(names, dtype=object)
            self.n_features_in_ = len(names)
        elif len(names) != self.n_features_in_:
            raise ValueError(
                f"TextVectorizer was fitted on {self.n_features_in_} text columns "
                f"{list(self.feature_names_in_)}, got {len(names)}"
            )
        return [as_text(values) for values in data]

    def _fit_column(self, values: list[str]) -> tuple[Any, sp.csr_matrix]:
        """One column's fitted vectorizer and training matrix; (None, empty) for no terms."""
        if self.vectorizer == "hashing":
            hashing = HashingVectorizer(
                n_features=self.max_features,
                ngram_range=tuple(self.ngram_range),
                lowercase=self.lowercase,
                alternate_sign=False,
            )
            return hashing, hashing.transform(values).tocsr()
        for min_df in dict.fromkeys([self.min_df, 1]):
            tfidf = TfidfVectorizer(
                max_features=self.max_features,
                ngram_range=tuple(self.ngram_range),
                min_df=min_df,
                sublinear_tf=self.sublinear_tf,
                lowercase=self.lowercase,
                dtype=np.float64,
            )
            try:
                return tfidf, tfidf.fit_transform(values).tocsr()
            except ValueError:  # "empty vocabulary": min_df pruned every term, or no term at all
                continue
        return None, sp.csr_matrix((len(values), 0))

    def _width(self) -> int:
        return sum(
            0
            if vectorizer is None
            else (
                vectorizer.n_features
                if isinstance(vectorizer, HashingVectorizer)
                else len(vectorizer.vocabulary_)
            )
            for vectorizer in self.vectorizers_
        )

    @staticmethod
    def _stack(parts: list[sp.csr_matrix], n_rows: int) -> sp.csr_matrix:
        if not parts:
            return sp.csr_matrix((n_rows, 0))
        return sp.hstack(parts, format="csr")

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.allow_nan = True
        tags.input_tags.two_d_array = True
        return tags


def build_text_vectorizer(settings: Any, seed: int = 0) -> TextVectorizer:
    """The card's `features.text` settings as a `TextVectorizer` (sparse output)."""
    return TextVectorizer(
        vectorizer=settings.vectorizer,
        max_features=settings.max_features,
        ngram_range=tuple(settings.ngram_range),
        min_df=settings.min_df,
        sublinear_tf=settings.sublinear_tf,
        lowercase=settings.lowercase,
        svd_components=settings.svd_components,
        random_state=seed,
    )


def find_text_vectorizers(features: BaseEstimator) -> dict[str, TextVectorizer]:
    """Every `TextVectorizer` inside a feature step, by its `set_params` path."""
    if isinstance(features, TextVectorizer):
        return {"": features}
    return {
        name: step
        for name, step in features.get_params(deep=True).items()
        if isinstance(step, TextVectorizer)
    }


def find_text_columns(features: BaseEstimator) -> list[str]:
    """The raw columns a feature step vectorizes as text, in order (from its ColumnTransformers)."""
    vectorizers = {id(step) for step in find_text_vectorizers(features).values()}
    columns: list[str] = []
    candidates = [features, *features.get_params(deep=True).values()]
    for candidate in candidates:
        for _, step, names in getattr(candidate, "transformers", None) or []:
            if id(step) in vectorizers and not isinstance(names, str):
                columns += [name for name in names if name not in columns]
    return columns
