"""Helpers shared by tests: the Adult sample's columns, a small search, card writing."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from mleng.card import DatasetCard

ROOT = Path(__file__).resolve().parents[1]
ADULT = ROOT / "data" / "adult.csv.gz"
ADULT_NUMERIC = ["age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week"]
ADULT_CATEGORICAL = [
    "workclass",
    "education",
    "marital-status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "native-country",
]

# The warnings Adult's data report raises, reviewed and accepted as in configs/adult.yaml.
ADULT_REVIEWED_WARNINGS = ["learning_curve", "missing_values", "undocumented_column"]

# One cheap family for flow tests about something other than the search.
LOGISTIC_FAMILIES = {
    "logistic_regression": {"C": {"type": "float", "low": 0.1, "high": 10.0, "log": True}}
}
SMALL_SEARCH = {
    "budget": 6,
    "cv_folds": 3,
    "max_rows": 1500,
    "families": {
        "logistic_regression": {"C": {"type": "float", "low": 0.01, "high": 10.0, "log": True}},
        "random_forest": {
            "n_estimators": {"type": "int", "low": 10, "high": 40},
            "max_depth": {"type": "int", "low": 2, "high": 12},
        },
        "hist_gradient_boosting": {
            "learning_rate": {"type": "float", "low": 0.03, "high": 0.3, "log": True},
            "max_iter": {"type": "int", "low": 20, "high": 60},
        },
    },
}


def write_card(folder: Path, data_path: Path, **overrides) -> Path:
    """Write a dataset card for a data file into `folder`; overrides replace top-level keys."""
    card = {
        "name": "adult_test",
        "path": str(data_path),
        "format": "csv",
        "target": "class",
        "task": "binary",
        "positive_label": ">50K",
        "model_name": "adult-test",
        "categorical_columns": ADULT_CATEGORICAL,
        "numeric_columns": ADULT_NUMERIC,
        "metric": "roc_auc",
        "search": SMALL_SEARCH,
        "expectations": str(folder / "expectations" / "adult_test.json"),
        "promotion": {"allow_data_warnings": ADULT_REVIEWED_WARNINGS},
    }
    card.update(overrides)
    path = folder / "card.yaml"
    path.write_text(yaml.safe_dump(card, sort_keys=False))
    return path


def write_card_with_suite(folder: Path, data_path: Path, **overrides) -> Path:
    """`write_card`, then its suite written by `mleng expectations init`, as a user sets up."""
    from typer.testing import CliRunner

    from mleng.cli import app

    card = write_card(folder, data_path, **overrides)
    result = CliRunner().invoke(app, ["expectations", "init", str(card)])
    assert result.exit_code == 0, result.output
    return card


def thin_adult_positives(n_rows: int, seed: int) -> pd.DataFrame:
    """`n_rows` real Adult rows with the >50K class thinned to a fifth (about 6%), shuffled."""
    frame = pd.read_csv(ADULT).sample(n=n_rows, random_state=seed)
    positives = frame[frame["class"].str.strip(" .") == ">50K"]
    kept = positives.sample(frac=0.2, random_state=seed)
    thinned = pd.concat([frame.drop(positives.index), kept])
    return thinned.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def toy_card(path, **overrides) -> DatasetCard:
    """A minimal binary card (target `y`) over `path`; overrides replace top-level fields."""
    values = {"name": "toy", "path": str(path), "target": "y", "task": "binary", "model_name": "t"}
    return DatasetCard.model_validate(values | overrides)
