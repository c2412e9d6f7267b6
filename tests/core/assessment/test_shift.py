"""Adversarial validation: a calibrated permutation test of shift and its drivers."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from mleng.assessment.shift import (
    ShiftTest,
    compute_p_value,
    compute_permutation_null,
    detect_shift,
    encode_shift_features,
    predict_out_of_fold,
    render_shift_markdown,
    sample_in_proportion,
    set_up_adversarial,
)
from mleng.data.loading import FeatureColumns
from tests.core.assessment.shift_rows import COLUMNS, NUMERIC, make_rows
from tests.helpers import ADULT_CATEGORICAL, ADULT_NUMERIC

FAST = ShiftTest(n_permutations=9, max_rows=20_000, max_iter=10, alpha=0.1)


def quick_test(n_permutations: int, max_rows: int = 20_000, **changes) -> ShiftTest:
    """A shift test with a small boosting model, so the permutations stay cheap."""
    return ShiftTest(n_permutations, max_rows, **({"max_iter": 5} | changes))


def test_random_halves_of_one_sample_give_roughly_uniform_p_values() -> None:
    p_values = []
    for seed in range(8):
        rows = make_rows(240, seed)
        report = detect_shift(rows.iloc[:120], rows.iloc[120:], COLUMNS, FAST, seed=seed)
        p_values.append(report.p_value)
    p_values = np.array(p_values)
    # Under no shift p is uniform on {0.1, ..., 1}: P(p <= 0.1) = 0.1, and 4 or more of 8 rows
    # would happen with probability 0.4%; the mean is 0.55.
    assert np.sum(p_values <= 0.1) <= 3
    assert 0.3 < p_values.mean() < 0.8
    assert p_values.min() >= 1 / 10


def test_a_shift_in_one_column_gives_the_smallest_p_value_and_ranks_it_first() -> None:
    reference, current = make_rows(200, 1), make_rows(100, 2, x2_shift=1.5)
    report = detect_shift(reference, current, COLUMNS, FAST)
    assert report.auc > 0.75
    assert report.p_value == pytest.approx(1 / 10)
    assert report.shifted
    assert report.drivers[0].column == "x2"
    assert report.drivers[0].importance > 5 * max(abs(d.importance) for d in report.drivers[1:])
    assert max(report.null_aucs) < report.auc
    assert len(report.null_aucs) == 9 and abs(np.mean(report.null_aucs) - 0.5) < 0.05


def test_a_category_seen_only_in_current_rows_is_a_driver() -> None:
    reference, current = make_rows(200, 3), make_rows(100, 4)
    current["c"] = np.where(np.arange(100) % 2 == 0, "new", current["c"])
    report = detect_shift(reference, current, COLUMNS, FAST)
    assert report.shifted and report.drivers[0].column == "c"


def test_the_p_value_counts_the_observed_statistic_as_one_draw() -> None:
    null = np.array([0.4, 0.5, 0.6, 0.7])
    assert compute_p_value(0.65, null) == pytest.approx(2 / 5)
    assert compute_p_value(0.9, null) == pytest.approx(1 / 5)
    assert compute_p_value(0.5, null) == pytest.approx(4 / 5)
    assert compute_p_value(0.9, np.array([])) == 1.0


def test_too_few_permutations_are_noted_and_zero_never_declare_a_shift() -> None:
    reference, current = make_rows(90, 7), make_rows(60, 8, x2_shift=3.0)
    few = detect_shift(reference, current, COLUMNS, quick_test(n_permutations=5))
    assert few.p_value == pytest.approx(1 / 6) and not few.shifted
    assert "smallest possible p-value" in few.notes[0]
    none = detect_shift(reference, current, COLUMNS, quick_test(n_permutations=0))
    assert none.auc > 0.9 and none.p_value == 1.0 and not none.shifted


def test_same_seed_gives_the_same_report() -> None:
    reference, current = make_rows(120, 9), make_rows(60, 10)
    first = detect_shift(reference, current, COLUMNS, quick_test(n_permutations=5))
    again = detect_shift(reference, current, COLUMNS, quick_test(n_permutations=5))
    assert first.to_dict() == again.to_dict()


def test_permutations_scored_at_once_give_the_null_of_one_after_another() -> None:
    reference, current = make_rows(120, 9), make_rows(60, 10)
    setup = set_up_adversarial(reference, current, COLUMNS, 3, 5, seed=4)
    parallel = compute_permutation_null(setup, 6, seed=4)
    rng, serial = np.random.default_rng(4), []
    for _ in range(6):  # the documented null, one permutation at a time
        order = rng.permutation(len(setup.labels))
        proba, _ = predict_out_of_fold(
            setup.features, setup.labels[order], setup.fold_ids[order], setup.model
        )
        serial.append(roc_auc_score(setup.labels[order], proba))
    np.testing.assert_allclose(parallel, serial)


def test_encoding_gives_new_levels_a_code_and_turns_bad_numbers_into_missing() -> None:
    reference = pd.DataFrame({"n": ["1", "x", "3"], "c": ["a", "a", None]})
    current = pd.DataFrame({"n": [np.inf, 2.0], "c": ["new", "a"]})
    features, mask = encode_shift_features(reference, current, FeatureColumns(["n"], ["c"]))
    assert mask.tolist() == [False, True]
    np.testing.assert_array_equal(features[:, 0], [1.0, np.nan, 3.0, np.nan, 2.0])
    np.testing.assert_array_equal(features[:, 1], [0.0, 0.0, np.nan, 1.0, 0.0])


def test_encoding_refuses_columns_missing_from_either_frame() -> None:
    with pytest.raises(ValueError, match="not in both frames"):
        encode_shift_features(
            make_rows(5, 0), make_rows(5, 1).drop(columns="x3"), FeatureColumns(NUMERIC, [])
        )
    with pytest.raises(ValueError, match="at least one"):
        encode_shift_features(make_rows(5, 0), make_rows(5, 1), FeatureColumns([], []))


def test_large_frames_are_sampled_keeping_their_proportions() -> None:
    reference, current = make_rows(3000, 17), make_rows(1000, 18)
    kept_reference, kept_current = sample_in_proportion(reference, current, 400, seed=0)
    assert (len(kept_reference), len(kept_current)) == (300, 100)
    report = detect_shift(reference, current, COLUMNS, quick_test(n_permutations=3, max_rows=400))
    assert (report.reference_rows, report.current_rows) == (300, 100)


def test_too_few_rows_for_the_folds_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 3"):
        detect_shift(make_rows(2, 0), make_rows(50, 1), COLUMNS, FAST)


def test_adult_men_and_women_differ_on_household_columns(adult_frame: pd.DataFrame) -> None:
    categorical = [c for c in ADULT_CATEGORICAL if c not in ("sex", "relationship")]
    men, women = (
        adult_frame[adult_frame["sex"] == "Male"],
        adult_frame[adult_frame["sex"] == "Female"],
    )
    report = detect_shift(
        men,
        women,
        FeatureColumns(ADULT_NUMERIC, categorical),
        quick_test(n_permutations=9, top_k=3),
    )
    assert report.auc > 0.75 and report.p_value == pytest.approx(0.1)
    assert len(report.drivers) == 3
    assert {"marital-status", "occupation"} & {d.column for d in report.drivers[:2]}


def test_report_serialises_to_json_and_renders_the_verdict() -> None:
    reference, current = make_rows(120, 19), make_rows(60, 20, x2_shift=2.0)
    report = detect_shift(reference, current, COLUMNS, FAST)
    payload = json.loads(json.dumps(report.to_dict()))
    assert payload["shifted"] is True and payload["drivers"][0]["column"] == "x2"
    assert payload["null_summary"]["max"] < payload["auc"]
    text = render_shift_markdown(report)
    assert "Shift detected" in text and "| x2 |" in text and "p-value 0.1 " in text


def test_the_test_settings_are_respected_and_impossible_ones_refused() -> None:
    report = detect_shift(
        make_rows(60, 21), make_rows(30, 22), COLUMNS, quick_test(n_permutations=3, top_k=2)
    )
    assert report.n_permutations == 3 and len(report.drivers) == 2
    with pytest.raises(ValueError, match="folds must be >= 2"):
        quick_test(n_permutations=3, folds=1)
    with pytest.raises(ValueError, match="n_permutations must be >= 0"):
        quick_test(n_permutations=-1)
