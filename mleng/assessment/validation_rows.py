"""Validation rows that resemble the current data, picked by adversarial validation.

The classifier `mleng.assessment.shift` uses to test for a shift also scores each reference
(training) row by how much it looks like a current (test or production) row. Validating on the
rows that look most current gives a score that speaks for the data the model will meet. Kept
apart from the shift test: that one reports on the data, this one feeds cross-validation
(`mleng.training.cv`), and neither needs the other's permutations or report.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from mleng.assessment.shift import predict_out_of_fold, set_up_adversarial
from mleng.data.loading import FeatureColumns


def score_similarity_to_current(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: FeatureColumns,
    seed: int = 0,
    folds: int = 5,
    max_iter: int = 20,
) -> pd.Series:
    """Each reference row's out-of-fold probability of being a current row, indexed like
    `reference`.

    Out of fold, so the score of a row never comes from a model that saw it with its label.
    """
    if not reference.index.is_unique:
        raise ValueError("the reference frame's index has duplicates; reset it to identify rows")
    setup = set_up_adversarial(reference, current, columns, folds, max_iter, seed)
    with threadpool_limits(limits=1, user_api="openmp"):
        probabilities, _ = predict_out_of_fold(
            setup.features, setup.labels, setup.fold_ids, setup.model
        )
    return pd.Series(
        probabilities[: len(reference)], index=reference.index, name="current_probability"
    )


def select_validation_rows(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: FeatureColumns,
    fraction: float | None = None,
    n: int | None = None,
    seed: int = 0,
) -> pd.Index:
    """The index of the `n` (or `fraction` of) reference rows that look most like the current
    rows, scored out of fold by `score_similarity_to_current`.

    Training on the rest and validating on these gives a validation score that speaks for the
    current data rather than for the training distribution. The index keeps the reference order;
    ties in the score go to the earlier row.
    """
    if (fraction is None) == (n is None):
        raise ValueError("give exactly one of fraction (e.g. 0.2) or n (a number of rows)")
    if fraction is not None and not 0 < fraction < 1:
        raise ValueError(f"fraction must be between 0 and 1, got {fraction}")
    count = round(fraction * len(reference)) if fraction is not None else int(n or 0)
    if not 1 <= count <= len(reference):
        raise ValueError(f"cannot select {count} rows from {len(reference)} reference rows")
    scores = score_similarity_to_current(reference, current, columns, seed)
    chosen = np.argsort(-scores.to_numpy(), kind="stable")[:count]
    return reference.index[np.sort(chosen)]
