"""An ensemble of models each fitted on a balanced chunk of the training rows.

Why not imblearn's `BalancedBaggingClassifier` (or `EasyEnsembleClassifier`)? Each of its bags
under-samples the majority class independently, so majority rows repeat across bags and some are
never seen. Here the majority rows are cut into disjoint chunks the size of the minority class:
every majority row trains exactly one member, and every minority row trains all of them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils import check_random_state, get_tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data


def plan_balanced_chunks(
    codes: np.ndarray, random_state: Any = None, max_chunks: int | None = None
) -> list[np.ndarray]:
    """Row indices of each chunk, for class codes 0..k-1.

    With m rows in the rarest class, a class of n rows is shuffled and cut into max(1, n // m)
    near-equal parts (so between m and 2m - 1 rows each); chunk i takes part i (cycling for
    classes with fewer parts) of every class. There are as many chunks as the largest class has
    parts, so its rows are split disjointly; `max_chunks` caps them, leaving some rows unused.
    """
    rng = check_random_state(random_state)
    counts = np.bincount(codes)
    present = np.flatnonzero(counts)
    smallest = counts[present].min()
    parts = {
        label: np.array_split(
            rng.permutation(np.flatnonzero(codes == label)), max(1, counts[label] // smallest)
        )
        for label in present
    }
    n_chunks = max(len(split) for split in parts.values())
    if max_chunks is not None:
        n_chunks = min(n_chunks, max_chunks)
    return [
        np.sort(np.concatenate([split[chunk % len(split)] for split in parts.values()]))
        for chunk in range(n_chunks)
    ]


class BalancedChunkEnsemble(ClassifierMixin, BaseEstimator):
    """One clone of `estimator` per balanced chunk (see `plan_balanced_chunks`), combined by
    averaging probabilities (`voting="soft"`) or by majority vote (`voting="hard"`, whose
    `predict_proba` is the share of votes, ties going to the first class).

    It expects numeric features (sparse allowed when the estimator takes them): use it as the
    model step after the feature pipeline. Default estimator: a decision tree.
    """

    def __init__(
        self,
        estimator: BaseEstimator | None = None,
        voting: str = "soft",
        random_state: int | None = None,
        max_chunks: int | None = None,
    ) -> None:
        self.estimator = estimator
        self.voting = voting
        self.random_state = random_state
        self.max_chunks = max_chunks

    def base_estimator(self) -> BaseEstimator:
        return DecisionTreeClassifier() if self.estimator is None else self.estimator

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        inner = get_tags(self.base_estimator()).input_tags
        tags.input_tags.allow_nan = inner.allow_nan
        tags.input_tags.sparse = inner.sparse
        return tags

    def check_input(self, X: Any, y: Any = "no_validation", reset: bool = False) -> Any:
        """Numeric X (and y when fitting), NaN allowed only if the estimator takes it."""
        inner = get_tags(self.base_estimator()).input_tags
        options: dict[str, Any] = {
            "accept_sparse": ["csr", "csc"] if inner.sparse else False,
            "ensure_all_finite": "allow-nan" if inner.allow_nan else True,
        }
        return validate_data(self, X, y, reset=reset, **options)

    def fit(self, X: Any, y: Any) -> BalancedChunkEnsemble:
        if self.voting not in ("soft", "hard"):
            raise ValueError(f"voting must be 'soft' or 'hard', got {self.voting!r}")
        if self.max_chunks is not None and self.max_chunks < 1:
            raise ValueError(f"max_chunks must be at least 1 or None, got {self.max_chunks}")
        X, y = self.check_input(X, y, reset=True)
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"y has one class ({self.classes_[0]!r}); BalancedChunkEnsemble needs at least two"
            )
        base = self.base_estimator()
        if self.voting == "soft" and not hasattr(base, "predict_proba"):
            raise ValueError(
                f"soft voting averages predict_proba, which {type(base).__name__} lacks; "
                "use voting='hard'"
            )
        rng = check_random_state(self.random_state)
        self.chunks_ = plan_balanced_chunks(codes, rng, self.max_chunks)
        self.estimators_ = []
        for rows in self.chunks_:
            member = clone(base)
            if "random_state" in member.get_params(deep=False):
                member.set_params(random_state=int(rng.randint(np.iinfo(np.int32).max)))
            self.estimators_.append(member.fit(X[rows], codes[rows]))
        return self

    def tally_members(self, X: Any) -> np.ndarray:
        """Per row and class, the summed member probabilities (soft) or votes (hard)."""
        total = np.zeros((X.shape[0], len(self.classes_)))
        for member in self.estimators_:
            if self.voting == "soft":
                total[:, member.classes_] += member.predict_proba(X)
            else:
                total[np.arange(X.shape[0]), member.predict(X)] += 1.0
        return total

    def can_predict_proba(self) -> bool:
        return self.voting == "hard" or hasattr(self.base_estimator(), "predict_proba")

    @available_if(can_predict_proba)
    def predict_proba(self, X: Any) -> np.ndarray:
        """Mean member probabilities (soft) or share of member votes (hard), per class."""
        check_is_fitted(self)
        return self.tally_members(self.check_input(X)) / len(self.estimators_)

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        return self.classes_[np.argmax(self.tally_members(self.check_input(X)), axis=1)]
