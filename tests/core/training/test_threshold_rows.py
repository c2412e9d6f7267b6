"""The decision threshold's folds use a seeded sample of at most THRESHOLD_MAX_ROWS rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mleng.training.threshold import THRESHOLD_MAX_ROWS, cap_threshold_rows
from tests.corpus import synthetic_card


def test_a_large_training_part_is_sampled_for_the_threshold_with_the_class_shares_kept():
    rows = THRESHOLD_MAX_ROWS + 20_000
    rng = np.random.default_rng(0)
    features = pd.DataFrame({"x": rng.normal(size=rows)})
    target = pd.Series(np.where(rng.random(rows) < 0.07, "yes", "no"))
    card = synthetic_card(positive_label="yes")
    sample_x, sample_y = cap_threshold_rows(features, target, card, seed=1)
    assert len(sample_x) == THRESHOLD_MAX_ROWS and sample_x.index.equals(sample_y.index)
    assert abs((sample_y == "yes").mean() - (target == "yes").mean()) < 1e-4
    again_x, _ = cap_threshold_rows(features, target, card, seed=1)
    assert again_x.index.equals(sample_x.index)


def test_a_small_training_part_is_used_whole():
    features = pd.DataFrame({"x": np.arange(100.0)})
    target = pd.Series(["a", "b"] * 50)
    sample_x, sample_y = cap_threshold_rows(features, target, synthetic_card(), seed=0)
    assert sample_x is features and sample_y is target
