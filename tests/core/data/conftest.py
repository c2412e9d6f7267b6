"""A toy dataset on disk, shared by the loading and split tests (its card: `toy_card`)."""

import numpy as np
import pandas as pd
import pytest


@pytest.fixture
def toy_csv(tmp_path):
    """2,000 seeded rows: a float, a small integer, a category, a daily date and a 30/70 label."""
    rng = np.random.default_rng(0)
    n_rows = 2000
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=n_rows),
            "n": rng.integers(0, 5, size=n_rows),
            "c": rng.choice(["a", "b", "c"], size=n_rows),
            "when": pd.date_range("2020-01-01", periods=n_rows, freq="D").astype(str),
            "y": rng.choice(["yes", "no"], size=n_rows, p=[0.3, 0.7]),
        }
    )
    path = tmp_path / "toy.csv"
    frame.to_csv(path, index=False)
    return path
