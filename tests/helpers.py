"""Helpers shared by tests: the Adult sample's columns, a small search, card writing."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
ADULT = ROOT / "data" / "adult.csv.gz"
ADULT_NUMERIC = ["age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week"]
ADULT_CATEGORICAL = ["workclass", "education", "marital-status", "occupation", "relationship", "race", "sex", "native-country"]

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
    }
    card.update(overrides)
    path = folder / "card.yaml"
    path.write_text(yaml.safe_dump(card, sort_keys=False))
    return path
