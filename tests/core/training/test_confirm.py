"""Finalists confirmed on more rows: when the search saw a small share of the training rows, a
model whose learning curve overtakes the search's winner is the one refit."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mleng.data.loading import FeatureColumns
from mleng.search.engine import Trial, TrialResult
from mleng.training.confirm import confirm_finalists, needs_confirmation, pick_finalists
from mleng.training.cv import FoldSetup
from tests.corpus import synthetic_card


def result(family: str, score: float, index: int, params: dict | None = None) -> TrialResult:
    return TrialResult(Trial(family, params or {}, "coarse", 0, index), score, 0.0, 0.0)


def test_confirmation_runs_only_when_the_search_saw_a_small_share_of_the_rows():
    assert needs_confirmation(260_000, 10_000, 50_000)
    assert not needs_confirmation(39_000, 10_000, 50_000)  # Adult: 3.9x, the search's ranking
    assert not needs_confirmation(260_000, 10_000, None)
    assert not needs_confirmation(260_000, 60_000, 50_000)


def test_finalists_are_each_familys_best_for_the_best_three_families():
    boosting = "hist_gradient_boosting"
    results = [
        result("ridge", -1.0, 0), result("ridge", -0.9, 1), result(boosting, -1.1, 2),
        result("random_forest", -2.0, 3), result("mlp", float("nan"), 4), result("sgd", -3.0, 5),
    ]  # fmt: skip
    finalists = pick_finalists(results)
    assert [(f.trial.family, f.trial.index) for f in finalists] == [
        ("ridge", 1), ("hist_gradient_boosting", 2), ("random_forest", 3),
    ]  # fmt: skip


def test_a_nonlinear_model_that_wins_on_many_rows_replaces_the_linear_search_winner():
    rng = np.random.default_rng(0)
    rows = 12_000
    x = rng.uniform(-3, 3, size=(rows, 2))
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1]})
    target = pd.Series(x[:, 0] ** 2 + 0.5 * x[:, 1] + rng.normal(0, 0.3, rows))
    card = synthetic_card(task="regression", metric="rmse")
    columns = FeatureColumns(["a", "b"], [])
    # the search (on a small sample) ranked ridge first
    finalists = [
        result("ridge", -1.0, 0, {"alpha": 1.0}),
        result("hist_gradient_boosting", -1.2, 1, {"max_iter": 100}),
    ]
    found = confirm_finalists(finalists, columns, frame, target, FoldSetup(card, 0), 8_000)
    assert found.chosen.trial.family == "hist_gradient_boosting"
    assert found.fit_rows == 8_000 and found.holdout_rows == 2_000
    ridge, boosting = found.scores.values()
    assert boosting > ridge  # negated RMSE: about -0.3 against the quadratic's -2.6
