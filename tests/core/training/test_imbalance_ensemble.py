"""The balanced chunk ensemble: balanced, majority-disjoint chunks and an honest estimator."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.utils.estimator_checks import parametrize_with_checks

from mleng.training.ensembles import BalancedChunkEnsemble, plan_balanced_chunks


@parametrize_with_checks(
    [
        BalancedChunkEnsemble(random_state=0),
        BalancedChunkEnsemble(voting="hard", random_state=0),
        BalancedChunkEnsemble(GaussianNB(), random_state=0),  # takes neither NaN nor sparse
    ],
    # No check is expected to fail; listing none makes an unexpected failure an error.
    expected_failed_checks=lambda estimator: {},
)
def test_ensemble_honours_estimator_contract(estimator: BaseEstimator, check) -> None:  # type: ignore[no-untyped-def]
    check(estimator)


def test_chunks_hold_every_minority_row_and_split_majority_rows_disjointly() -> None:
    codes = np.array([0] * 1930 + [1] * 100)

    chunks = plan_balanced_chunks(codes, random_state=0)

    minority = set(np.flatnonzero(codes == 1))
    majority_parts = [set(chunk) - minority for chunk in chunks]
    assert len(chunks) == 19
    assert all(minority <= set(chunk) for chunk in chunks)
    assert all(100 <= len(part) < 200 for part in majority_parts)  # balanced within a part
    assert sum(len(part) for part in majority_parts) == 1930  # every majority row used ...
    assert len(set().union(*majority_parts)) == 1930  # ... exactly once


def test_max_chunks_keeps_chunks_balanced_and_leaves_majority_rows_out() -> None:
    codes = np.array([0] * 1000 + [1] * 100)

    chunks = plan_balanced_chunks(codes, random_state=0, max_chunks=3)

    assert [len(chunk) for chunk in chunks] == [200, 200, 200]
    assert len(set(np.concatenate(chunks)) - set(range(1000, 1100))) == 300


def test_every_chunk_holds_every_class_when_multiclass() -> None:
    codes = np.array([0] * 600 + [1] * 250 + [2] * 50)

    chunks = plan_balanced_chunks(codes, random_state=0)

    assert len(chunks) == 12
    assert all(np.bincount(codes[chunk], minlength=3).min() == 50 for chunk in chunks)
    assert all(np.bincount(codes[chunk]).max() < 100 for chunk in chunks)


def test_soft_voting_averages_member_probabilities() -> None:
    X, y = make_classification(1200, weights=[0.9, 0.1], random_state=0)

    ensemble = BalancedChunkEnsemble(LogisticRegression(), random_state=0).fit(X, y)

    members = np.mean([member.predict_proba(X) for member in ensemble.estimators_], axis=0)
    np.testing.assert_allclose(ensemble.predict_proba(X), members)
    counts = np.bincount(y)
    assert len(ensemble.estimators_) == len(ensemble.chunks_) == counts.max() // counts.min()


def test_hard_voting_follows_the_majority_of_members() -> None:
    X, y = make_classification(1200, weights=[0.9, 0.1], random_state=1)
    labels = np.where(y == 1, "rare", "common")

    ensemble = BalancedChunkEnsemble(voting="hard", random_state=0).fit(X, labels)

    votes = np.array([member.predict(X) for member in ensemble.estimators_])
    majority = np.where(votes.mean(axis=0) > 0.5, "rare", "common")
    decided = votes.mean(axis=0) != 0.5
    np.testing.assert_array_equal(ensemble.predict(X)[decided], majority[decided])
    assert set(ensemble.classes_) == {"common", "rare"}


def test_balanced_members_find_more_of_the_rare_class_than_one_model() -> None:
    X, y = make_classification(2000, weights=[0.92, 0.08], flip_y=0, random_state=2)

    single = LogisticRegression().fit(X, y).predict(X)
    ensemble = BalancedChunkEnsemble(LogisticRegression(), random_state=0).fit(X, y).predict(X)

    assert ensemble[y == 1].mean() > single[y == 1].mean()


def test_soft_voting_refuses_a_model_without_probabilities() -> None:
    from sklearn.svm import LinearSVC

    X, y = make_classification(200, random_state=0)
    with pytest.raises(ValueError, match="use voting='hard'"):
        BalancedChunkEnsemble(LinearSVC()).fit(X, y)
