"""Shift-aware validation rows: the reference rows an adversarial classifier finds most current."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mleng.assessment.validation_rows import select_validation_rows
from tests.core.assessment.shift_rows import COLUMNS, make_rows


def test_selected_validation_rows_resemble_current_rows_more_than_random_rows() -> None:
    reference = make_rows(600, 11).set_index(pd.Index(np.arange(600) * 3 + 7))
    current = make_rows(300, 12, x2_shift=1.5)
    chosen = select_validation_rows(reference, current, COLUMNS, fraction=0.2)
    assert len(chosen) == 120 and chosen.isin(reference.index).all()
    assert chosen.is_monotonic_increasing
    random_rows = reference.sample(120, random_state=0)
    assert reference.loc[chosen, "x2"].mean() > random_rows["x2"].mean() + 0.8
    # Columns without a shift are not distorted by the selection.
    assert abs(reference.loc[chosen, "x1"].mean() - reference["x1"].mean()) < 0.3


def test_select_validation_rows_needs_exactly_one_valid_size() -> None:
    reference, current = make_rows(60, 13), make_rows(30, 14)
    with pytest.raises(ValueError, match="exactly one"):
        select_validation_rows(reference, current, COLUMNS)
    with pytest.raises(ValueError, match="exactly one"):
        select_validation_rows(reference, current, COLUMNS, fraction=0.1, n=5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        select_validation_rows(reference, current, COLUMNS, fraction=1.5)
    with pytest.raises(ValueError, match="cannot select"):
        select_validation_rows(reference, current, COLUMNS, n=61)
    chosen = select_validation_rows(reference, current, COLUMNS, n=7)
    assert len(chosen) == 7


def test_duplicate_reference_index_is_refused() -> None:
    reference = make_rows(40, 15).set_index(pd.Index([0] * 40))
    with pytest.raises(ValueError, match="duplicates"):
        select_validation_rows(reference, make_rows(20, 16), COLUMNS, n=5)
