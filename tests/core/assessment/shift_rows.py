"""Seeded rows for the shift tests: three numeric columns and one categorical, with an optional
mean shift of `x2`, so a shift of known size can be planted."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mleng.data.loading import FeatureColumns

NUMERIC = ["x1", "x2", "x3"]
CATEGORICAL = ["c"]
COLUMNS = FeatureColumns(NUMERIC, CATEGORICAL)


def make_rows(rows: int, seed: int, x2_shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x1": rng.normal(size=rows),
            "x2": rng.normal(loc=x2_shift, size=rows),
            "x3": rng.uniform(size=rows),
            "c": rng.choice(["a", "b", "c", "d"], size=rows),
        }
    )
