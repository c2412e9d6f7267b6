"""Corrupted variants of a real Adult sample, each with the finding it must produce.

Every case is a function of a clean sample returning the corrupted frame, the card changes
it needs (a new column declared as a feature, a timestamp), the data-check settings, and the
detector responsible for catching it: one of ours ("report", "leakage", "split", "temporal",
"reference", "labels") or "gx" where only the expectation suite is meant to catch it. Cases
ours catch and the suite also catches say so in `also_gx`, so a flow-level test can check both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
import yaml

from mleng.card import DatasetCard, validate_card
from mleng.card.data_checks import DataChecksSettings
from tests.helpers import ADULT, ADULT_CATEGORICAL, ADULT_NUMERIC, ROOT

TARGET = "class"
POSITIVE = ">50K"


@dataclass(frozen=True)
class CorruptedCase:
    """One corrupted dataset and what must be found in it."""

    name: str
    frame: pd.DataFrame
    detector: str
    column: str | None
    responsible: str
    card_changes: dict[str, Any] = field(default_factory=dict)
    settings: DataChecksSettings = field(default_factory=DataChecksSettings)
    other: pd.DataFrame | None = None  # the test split (split/temporal) or the reference sample
    also_gx: bool = False

    def card(self) -> DatasetCard:
        """The Adult card with this case's changes, validated like a file."""
        return adult_card(**self.card_changes)


@lru_cache(maxsize=4)
def load_adult_sample(rows: int = 3000, seed: int = 11) -> pd.DataFrame:
    """A seeded sample of the real Adult data (cached: every case starts from the same rows)."""
    return pd.read_csv(ADULT).sample(n=rows, random_state=seed).reset_index(drop=True)


def adult_card(**changes: Any) -> DatasetCard:
    """The repository's Adult card, with fields replaced by `changes`."""
    data = yaml.safe_load((ROOT / "configs" / "adult.yaml").read_text())
    data["path"] = str(ADULT)
    return validate_card(data | changes, source="tests/corpus.py")


def synthetic_card(target: str = "y", task: str = "binary", **changes: Any) -> DatasetCard:
    """A minimal card for a made-up frame: features inferred from dtypes unless `changes` say
    otherwise."""
    data = {
        "name": "synthetic",
        "path": "synthetic.csv",
        "target": target,
        "task": task,
        "model_name": "synthetic",
    }
    return validate_card(data | changes, source="tests/corpus.py")


def add_feature(kind: str, column: str) -> dict[str, list[str]]:
    """Card changes declaring one more numeric or categorical feature."""
    if kind == "numeric":
        return {"numeric_columns": [*ADULT_NUMERIC, column]}
    return {"categorical_columns": [*ADULT_CATEGORICAL, column]}


def positives(frame: pd.DataFrame) -> np.ndarray:
    return (frame[TARGET] == POSITIVE).to_numpy()


def add_timestamps(frame: pd.DataFrame, start: str = "2020-01-01") -> pd.DataFrame:
    """One row per hour in the current order, so the frame is a time series."""
    return frame.assign(event_time=pd.date_range(start, periods=len(frame), freq="h"))


def missing_column(clean: pd.DataFrame) -> CorruptedCase:
    return CorruptedCase(
        "missing_column",
        clean.drop(columns=["age"]),
        "missing_column",
        "age",
        "report",
        also_gx=True,
    )


def wrong_types(clean: pd.DataFrame) -> CorruptedCase:
    frame = clean.copy()
    words = {20: "twenty", 30: "thirty", 40: "forty", 50: "fifty"}
    frame["age"] = [words.get(a, str(a)) for a in frame["age"]]
    return CorruptedCase("wrong_types", frame, "wrong_type", "age", "report", also_gx=True)


def nan_and_inf(clean: pd.DataFrame) -> CorruptedCase:
    frame = clean.copy()
    hours = frame["hours-per-week"].to_numpy(dtype=float, copy=True)
    hours[::50], hours[1::50] = np.inf, np.nan
    frame["hours-per-week"] = hours
    return CorruptedCase(
        "nan_and_inf", frame, "infinite_values", "hours-per-week", "report", also_gx=True
    )


def unknown_categories(clean: pd.DataFrame) -> CorruptedCase:
    frame = clean.copy()
    typos = {"Private": "private", "Self-emp-not-inc": "Self-emp"}
    frame["workclass"] = frame["workclass"].replace(typos)
    reference = load_adult_sample(2000, seed=99)
    return CorruptedCase(
        "unknown_categories",
        frame,
        "unseen_categories",
        "workclass",
        "reference",
        other=reference,
        also_gx=True,
    )


def shuffled_labels(clean: pd.DataFrame) -> CorruptedCase:
    frame = clean.assign(**{TARGET: np.random.default_rng(3).permutation(clean[TARGET].to_numpy())})
    return CorruptedCase("shuffled_labels", frame, "learning_curve", None, "report")


def duplicated_rows(clean: pd.DataFrame) -> CorruptedCase:
    frame = pd.concat([clean, clean.sample(frac=0.2, random_state=5)], ignore_index=True)
    return CorruptedCase("duplicated_rows", frame, "duplicate_rows", None, "report")


def target_copy(clean: pd.DataFrame) -> CorruptedCase:
    frame = clean.assign(high_earner=positives(clean).astype(int))
    return CorruptedCase(
        "target_copy",
        frame,
        "target_copy",
        "high_earner",
        "leakage",
        card_changes=add_feature("numeric", "high_earner"),
    )


def id_encodes_target(clean: pd.DataFrame) -> CorruptedCase:
    codes = np.where(positives(clean), "HX", "LQ")
    frame = clean.assign(record_ref=[f"{code}-{i:06d}" for i, code in enumerate(codes)])
    return CorruptedCase(
        "id_encodes_target",
        frame,
        "id_encodes_target",
        "record_ref",
        "leakage",
        card_changes=add_feature("categorical", "record_ref"),
    )


def known_after_event(clean: pd.DataFrame) -> CorruptedCase:
    noise = np.random.default_rng(4).normal(0, 1, len(clean))
    frame = clean.assign(bonus_paid=np.round(1000 * (positives(clean) + noise), 2))
    settings = DataChecksSettings(
        known_at={"bonus_paid": "after_event", "age": "before_prediction"}
    )
    return CorruptedCase(
        "known_after_event",
        frame,
        "future_feature",
        "bonus_paid",
        "leakage",
        card_changes=add_feature("numeric", "bonus_paid"),
        settings=settings,
    )


def recorded_after_prediction(clean: pd.DataFrame) -> CorruptedCase:
    frame = add_timestamps(clean)
    lag = np.where(positives(clean), 30, -30)
    frame["last_review"] = (frame["event_time"] + pd.to_timedelta(lag, unit="D")).dt.strftime(
        "%Y-%m-%d"
    )
    changes = add_feature("categorical", "last_review") | {"timestamp_column": "event_time"}
    return CorruptedCase(
        "recorded_after_prediction",
        frame,
        "recorded_after_prediction",
        "last_review",
        "leakage",
        card_changes=changes,
    )


def train_test_overlap(clean: pd.DataFrame) -> CorruptedCase:
    train, test = clean.iloc[:2400], clean.iloc[2400:]
    test = pd.concat([test.iloc[:450], train.sample(150, random_state=6)], ignore_index=True)
    return CorruptedCase("train_test_overlap", train, "split_overlap", None, "split", other=test)


def temporal_overlap(clean: pd.DataFrame) -> CorruptedCase:
    frame = add_timestamps(clean)
    train, test = frame.iloc[:2400], frame.iloc[2000:]
    return CorruptedCase(
        "temporal_overlap",
        train,
        "temporal_overlap",
        "event_time",
        "temporal",
        other=test,
        card_changes={"timestamp_column": "event_time"},
    )


def personal_data(clean: pd.DataFrame) -> CorruptedCase:
    frame = clean.assign(contact=[f"person{i}@mail.example.org" for i in range(len(clean))])
    return CorruptedCase("personal_data", frame, "personal_data", "contact", "report")


def constant_column(clean: pd.DataFrame) -> CorruptedCase:
    frame = clean.assign(survey_wave=7)
    return CorruptedCase(
        "constant_column",
        frame,
        "constant_column",
        "survey_wave",
        "report",
        card_changes=add_feature("numeric", "survey_wave"),
    )


def level_shift(clean: pd.DataFrame) -> CorruptedCase:
    frame = add_timestamps(clean)
    frame.loc[frame.index >= len(frame) // 2, "hours-per-week"] += 15
    return CorruptedCase(
        "level_shift",
        frame,
        "level_shift",
        "hours-per-week",
        "report",
        card_changes={"timestamp_column": "event_time"},
    )


def selected_sample(clean: pd.DataFrame) -> CorruptedCase:
    frame = clean[clean["age"] < 40].reset_index(drop=True)
    return CorruptedCase(
        "selected_sample",
        frame,
        "selection_bias",
        "age",
        "reference",
        other=load_adult_sample(2000, seed=99),
    )


def biased_labels(clean: pd.DataFrame) -> CorruptedCase:
    frame = clean.copy()
    women = (frame["sex"] == "Female").to_numpy()
    flip = women & positives(frame) & (np.random.default_rng(8).random(len(frame)) < 0.7)
    frame.loc[flip, TARGET] = "<=50K"
    settings = DataChecksSettings(sensitive_columns=["sex"])
    return CorruptedCase("biased_labels", frame, "label_bias", "sex", "labels", settings=settings)


CASES: dict[str, Callable[[pd.DataFrame], CorruptedCase]] = {
    case.__name__: case
    for case in (
        missing_column,
        wrong_types,
        nan_and_inf,
        unknown_categories,
        shuffled_labels,
        duplicated_rows,
        target_copy,
        id_encodes_target,
        known_after_event,
        recorded_after_prediction,
        train_test_overlap,
        temporal_overlap,
        personal_data,
        constant_column,
        level_shift,
        selected_sample,
        biased_labels,
    )
}


def build_case(name: str) -> CorruptedCase:
    """The named case built from the shared clean sample."""
    return CASES[name](load_adult_sample())
