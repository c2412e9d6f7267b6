"""The pipeline's first step coerces raw rows the same way at training and serving time."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from mleng.features.raw import RawInputCoercer


def raw_rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "n": [1, 2, 3],
            "x": ["1.5", "inf", "oops"],
            "c": [1, None, "b"],
            "ignored": ["z", "z", "z"],
        }
    )


def test_numbers_become_float_with_inf_and_garbage_missing():
    coerced = RawInputCoercer(["n", "x"], ["c"]).fit(raw_rows()).transform(raw_rows())
    assert coerced["n"].dtype == "float64" and coerced["x"].dtype == "float64"
    assert coerced["x"].tolist()[0] == 1.5 and coerced["x"].isna().tolist() == [False, True, True]


def test_categories_become_text_and_missing_stays_missing():
    coerced = RawInputCoercer(["n"], ["c"]).fit(raw_rows()).transform(raw_rows())
    assert coerced["c"].tolist()[0] == "1" and pd.isna(coerced["c"].tolist()[1])
    assert list(coerced.columns) == ["n", "c"]


def test_int_and_float_inputs_give_identical_output():
    coercer = RawInputCoercer(["n"], ["c"]).fit(raw_rows())
    as_float = raw_rows().astype({"n": "float64"})
    pd.testing.assert_frame_equal(coercer.transform(raw_rows()), coercer.transform(as_float))


def test_missing_input_column_is_named():
    coercer = RawInputCoercer(["n"], ["c"]).fit(raw_rows())
    with pytest.raises(ValueError, match=r"lack the model's columns \['c'\]"):
        coercer.transform(raw_rows().drop(columns=["c"]))


def test_clone_keeps_parameters():
    coercer = RawInputCoercer(["n"], ["c"])
    assert clone(coercer).get_params() == coercer.get_params()
    assert np.array_equal(coercer.fit(raw_rows()).get_feature_names_out(), ["n", "c"])
