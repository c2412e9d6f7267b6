"""Split leakage: test rows also in training, training rows dated after the test period starts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mleng.quality import detect_split_overlap, detect_temporal_overlap


def base_frame(rows: int = 1500, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    y = np.where(x + rng.normal(0, 1, rows) > 0, "pos", "neg")
    return pd.DataFrame(
        {"x": x, "noise": rng.normal(size=rows), "c": rng.choice(list("abcd"), rows), "y": y}
    )


def test_split_overlap_counts_test_rows_seen_in_training_and_tolerates_a_few() -> None:
    frame = base_frame()
    train, test = frame.iloc[:1000], frame.iloc[1000:]
    assert detect_split_overlap(train, test, list(frame.columns)) == []
    few = pd.concat([test, train.head(2)])
    many = pd.concat([test, train.head(100)])
    assert detect_split_overlap(train, few, list(frame.columns))[0].policy == "warn"
    (finding,) = detect_split_overlap(train, many, list(frame.columns))
    assert finding.policy == "fail" and finding.evidence["shared_test_rows"] == 100


def test_split_overlap_needs_columns_present_in_both() -> None:
    with pytest.raises(ValueError, match="not in both"):
        detect_split_overlap(base_frame(), base_frame().drop(columns="x"), ["x"])


def test_temporal_overlap_is_flagged_when_training_rows_follow_the_first_test_row() -> None:
    frame = base_frame(100).assign(t=pd.date_range("2023-01-01", periods=100, freq="D"))
    assert detect_temporal_overlap(frame.iloc[:80], frame.iloc[80:], "t") == []
    (finding,) = detect_temporal_overlap(frame.iloc[:80], frame.iloc[70:], "t")
    assert finding.evidence["train_rows_after_test_start"] == 9
