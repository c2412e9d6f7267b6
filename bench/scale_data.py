"""A seeded N-row x 40-feature Parquet file made from the bundled Adult data, and a card for it.

Nothing is downloaded: rows of data/adult.csv.gz (48,842 rows, 6 numeric + 8 categorical
features, target `class`) are resampled with replacement, the numerics get noise (so resampled
rows are new rows, not copies), and 26 columns are derived to reach 40 features:

- 6 noisy copies of the numerics (`<name>_noisy`, float32);
- 4 interactions (age x hours, education x hours, net capital, age per education year);
- 4 binned versions of numerics as categoricals (`<name>_band`, quantile bands);
- 6 random categoricals (3 to 50 levels, Zipf-like, independent of the target);
- 6 random numerics (normal, lognormal, uniform, counts; float32, independent of the target).

Continuous columns are float32 (the file is half the size and the models see no difference at
7 significant digits); integer-valued ones stay int64. A `row_id` column keys the split, so the
split does not hash 40 columns per row.

Run: python bench/scale_data.py --rows 300000 --out /tmp/scale (writes the Parquet, the card and
its expectation suite there).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
ADULT = ROOT / "data" / "adult.csv.gz"
NUMERIC = ["age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week"]
CATEGORICAL = [
    "workclass", "education", "marital-status", "occupation",
    "relationship", "race", "sex", "native-country",
]  # fmt: skip
BANDED = ["age", "fnlwgt", "hours-per-week", "education-num"]
RANDOM_LEVELS = (3, 5, 8, 12, 20, 50)


@dataclass(frozen=True)
class ScaleData:
    """Where one generated dataset lives."""

    rows: int
    parquet: Path
    card: Path
    suite: Path
    numeric_columns: list[str]
    categorical_columns: list[str]


def jitter_numerics(sample: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Noise on the six Adult numerics, keeping each column's kind (ages stay whole years)."""
    n = len(sample)
    out = sample.copy()
    out["age"] = np.clip(np.rint(sample["age"] + rng.normal(0, 1.0, n)), 17, 90).astype("int64")
    out["fnlwgt"] = (sample["fnlwgt"] * rng.lognormal(0, 0.05, n)).astype("float32")
    hours = np.rint(sample["hours-per-week"] + rng.normal(0, 1.0, n))
    out["hours-per-week"] = np.clip(hours, 1, 99).astype("int64")
    for column in ("capital-gain", "capital-loss"):
        values = sample[column].to_numpy(dtype="float64")
        out[column] = np.where(values > 0, values * rng.lognormal(0, 0.05, n), 0.0).astype(
            "float32"
        )
    return out


def derive_columns(base: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """The 26 extra feature columns: noisy copies, interactions, bands, random columns."""
    n = len(base)
    extra: dict[str, np.ndarray | pd.Series] = {}
    for column in NUMERIC:
        values = base[column].to_numpy(dtype="float64")
        extra[f"{column}_noisy"] = (values + rng.normal(0, 0.1 * values.std(), n)).astype("float32")
    age, hours = base["age"].to_numpy(float), base["hours-per-week"].to_numpy(float)
    years = base["education-num"].to_numpy(float)
    extra["age_x_hours"] = (age * hours).astype("float32")
    extra["education_x_hours"] = (years * hours).astype("float32")
    extra["net_capital"] = (base["capital-gain"] - base["capital-loss"]).astype("float32")
    extra["age_per_education_year"] = (age / np.maximum(years, 1.0)).astype("float32")
    for column in BANDED:
        bands = pd.qcut(base[column].rank(method="first"), 5, labels=False)
        extra[f"{column}_band"] = ("band_" + bands.astype("int64").astype(str)).astype("str")
    for index, levels in enumerate(RANDOM_LEVELS):
        weights = 1 / np.arange(1, levels + 1)
        codes = rng.choice(levels, n, p=weights / weights.sum())
        extra[f"random_category_{index}"] = np.char.add("level_", codes.astype(str)).astype(object)
    extra["random_normal_0"] = rng.normal(size=n).astype("float32")
    extra["random_normal_1"] = rng.normal(size=n).astype("float32")
    extra["random_lognormal"] = rng.lognormal(0, 1, n).astype("float32")
    extra["random_uniform_0"] = rng.random(n).astype("float32")
    extra["random_uniform_1"] = rng.random(n).astype("float32")
    extra["random_counts"] = rng.poisson(3.0, n).astype("int64")
    frame = pd.DataFrame(extra, index=base.index)
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].astype("str")
    return frame


def make_scale_frame(rows: int, seed: int = 0) -> pd.DataFrame:
    """`rows` resampled, noised Adult rows with 40 feature columns, `class` and a `row_id`."""
    rng = np.random.default_rng(seed)
    adult = pd.read_csv(ADULT)
    sample = adult.iloc[rng.integers(0, len(adult), rows)].reset_index(drop=True)
    base = jitter_numerics(sample, rng)
    frame = pd.concat([base, derive_columns(base, rng)], axis=1)
    frame.insert(0, "row_id", np.arange(rows, dtype="int64"))
    return frame


def feature_lists(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Numeric and categorical feature columns of a generated frame (row_id and class excluded)."""
    features = [c for c in frame.columns if c not in ("row_id", "class")]
    numeric = [c for c in features if pd.api.types.is_numeric_dtype(frame[c])]
    return numeric, [c for c in features if c not in numeric]


def write_card(frame: pd.DataFrame, folder: Path, name: str) -> tuple[Path, Path]:
    """The card (format parquet) and its expectation suite, profiled from the frame itself."""
    from mleng.card import load_card
    from mleng.validation.suites import build_suite, save_suite

    numeric, categorical = feature_lists(frame)
    suite_path = folder / "expectations" / f"{name}.json"
    card = {
        "name": name,
        "path": f"{name}.parquet",
        "format": "parquet",
        "target": "class",
        "task": "binary",
        "positive_label": ">50K",
        "model_name": f"{name}-income",
        "id_columns": ["row_id"],
        "categorical_columns": categorical,
        "numeric_columns": numeric,
        "metric": "roc_auc",
        "test_size": 0.2,
        "expectations": f"expectations/{name}.json",
        "imbalance": {"threshold_metric": "balanced_accuracy"},
        "search": yaml.safe_load((ROOT / "configs" / "adult.yaml").read_text())["search"],
        # The derived columns are redundant or random on purpose: their warnings are expected.
        "promotion": {"allow_data_warnings": True},
    }
    card_path = folder / f"{name}.yaml"
    card_path.write_text(yaml.safe_dump(card, sort_keys=False))
    loaded = load_card(card_path)
    save_suite(build_suite(frame, loaded, numeric, categorical), suite_path, overwrite=True)
    return card_path, suite_path


def write_scale_data(rows: int, folder: Path, seed: int = 0) -> ScaleData:
    """Generate `rows` rows into `folder`: the Parquet file, its card and its suite."""
    folder.mkdir(parents=True, exist_ok=True)
    name = f"adult_scale_{rows}"
    frame = make_scale_frame(rows, seed)
    parquet = folder / f"{name}.parquet"
    frame.to_parquet(parquet, index=False, engine="pyarrow")
    card, suite = write_card(frame, folder, name)
    numeric, categorical = feature_lists(frame)
    return ScaleData(rows, parquet, card, suite, numeric, categorical)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data = write_scale_data(args.rows, args.out, args.seed)
    print(
        f"{data.rows} rows, {len(data.numeric_columns)} numeric + "
        f"{len(data.categorical_columns)} categorical features: {data.parquet}, card {data.card}"
    )


if __name__ == "__main__":
    main()
