"""A features report: for each raw feature, how predictive, costly, reliable and redundant it is.

Predictive power and association are estimated on at most `SAMPLE_ROWS` training rows so the
report stays cheap on large data; cost is measured by fitting and applying the feature's own
transformer on exactly 10,000 rows (resampled with replacement when there are fewer). A text
column's mutual information is that of its most informative term (word present or not); it takes
part in no association pair (sentences are all distinct, so any association would be spurious),
and its unseen share is that of test texts with no word seen in training.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy.stats.contingency import association
from sklearn.feature_selection import mutual_info_classif, mutual_info_regression

from mleng.card import DatasetCard
from mleng.card.features import FeatureSettings, SelectionSettings
from mleng.features.pipeline import build_feature_pipeline
from mleng.features.text import as_text, build_text_vectorizer
from mleng.reports.formatting import render_table

if TYPE_CHECKING:  # mleng.data imports this package (windowing), so only for annotations
    from mleng.data.loading import FeatureColumns

COST_ROWS = 10_000
COST_REPEATS = 3
SAMPLE_ROWS = 10_000  # training rows that predictive power and associations are estimated on
CORRELATION_THRESHOLD = 0.8  # association from which a pair of features is reported
TEXT_TERMS = 1_000  # terms per text column whose mutual information with the target is measured


def _codes(column: pd.Series) -> np.ndarray:
    """Integer codes with missing as a level of its own."""
    return pd.factorize(column, use_na_sentinel=False)[0]


def _correlation_ratio(categories: pd.Series, values: pd.Series) -> float:
    """Share of a numeric column's spread explained by a categorical one (eta), in [0, 1]."""
    present = values.notna()
    values, groups = values[present].astype(float), _codes(categories[present])
    total = float(((values - values.mean()) ** 2).sum())
    if total == 0:
        return 0.0
    means = values.groupby(groups).transform("mean")
    return float(np.sqrt(((means - values.mean()) ** 2).sum() / total))


def _association(
    left: pd.Series, right: pd.Series, left_numeric: bool, right_numeric: bool
) -> tuple[float, str]:
    """|Spearman| for two numerics, Cramer's V for two categoricals, eta for a mixed pair."""
    if left_numeric and right_numeric:
        value = left.rank().corr(right.rank())
        return (0.0 if pd.isna(value) else abs(float(value))), "spearman"
    if not left_numeric and not right_numeric:
        table = pd.crosstab(_codes(left), _codes(right)).to_numpy()
        if min(table.shape) < 2:
            return 0.0, "cramers_v"
        return float(association(table, method="cramer")), "cramers_v"
    categories, values = (right, left) if left_numeric else (left, right)
    return _correlation_ratio(categories, values), "correlation_ratio"


def _mutual_information(
    X: pd.DataFrame, y: pd.Series, task: str, numeric: list[str], categorical: list[str], seed: int
) -> dict[str, float]:
    columns = [*numeric, *categorical]
    if not columns:
        return {}
    matrix = np.column_stack(
        [X[c].astype(float).fillna(X[c].median()).fillna(0.0).to_numpy() for c in numeric]
        + [_codes(X[c]).astype(float) for c in categorical]
    )
    discrete = np.array([False] * len(numeric) + [True] * len(categorical))
    score = mutual_info_regression if task == "regression" else mutual_info_classif
    values = score(matrix, y.to_numpy(), discrete_features=discrete, random_state=seed)
    return {column: float(value) for column, value in zip(columns, values, strict=True)}


def _text_information(
    X: pd.DataFrame, y: pd.Series, task: str, text: list[str], settings: FeatureSettings, seed: int
) -> dict[str, float]:
    """Each text column's largest mutual information of one term's presence with the target."""
    score = mutual_info_regression if task == "regression" else mutual_info_classif
    information = {}
    for column in text:
        vectorizer = build_text_vectorizer(settings.text, seed).set_params(
            vectorizer="tfidf", max_features=TEXT_TERMS
        )
        terms = vectorizer.fit_transform(X[[column]])
        if terms.shape[1] == 0:
            information[column] = 0.0
            continue
        presence = (terms > 0).astype(float).tocsc()
        values = score(presence, y.to_numpy(), discrete_features=True, random_state=seed)
        information[column] = float(np.max(values))
    return information


def _text_unseen_share(train: pd.Series, test: pd.Series) -> float:
    """Share of present test texts with no word (lower-cased) that any training text has."""
    present = test.dropna()
    if len(present) == 0:
        return 0.0
    vocabulary = {word for text in as_text(train) for word in text.lower().split()}
    unseen = [not set(text.lower().split()) & vocabulary for text in as_text(present)]
    return float(np.mean(unseen))


def _single_column_settings(settings: FeatureSettings, column: str) -> FeatureSettings:
    """The settings as they apply to one column, without selection (which needs all columns)."""
    numeric = settings.numeric.model_copy(
        update={"columns": {k: v for k, v in settings.numeric.columns.items() if k == column}}
    )
    categorical = settings.categorical.model_copy(
        update={"columns": {k: v for k, v in settings.categorical.columns.items() if k == column}}
    )
    return settings.model_copy(
        update={"numeric": numeric, "categorical": categorical, "selection": SelectionSettings()}
    )


def _measure_cost(
    X: pd.DataFrame,
    y: pd.Series,
    column: str,
    kind: str,
    card: DatasetCard,
    seed: int,
) -> tuple[float, float]:
    """Seconds to fit, and to transform, the column's own transformer (as the card encodes it)
    on 10,000 rows (best of 3)."""
    rows = np.random.default_rng(seed).choice(len(X), size=COST_ROWS, replace=len(X) < COST_ROWS)
    frame, target = X[[column]].iloc[rows], y.iloc[rows]
    numeric = [column] if kind == "numeric" else []
    categorical = [column] if kind == "categorical" else []
    settings = _single_column_settings(card.features, column)
    pipeline = build_feature_pipeline(
        numeric,
        categorical,
        settings=settings,
        task=card.task,
        seed=seed,
        text_columns=[column] if kind == "text" else [],
    )
    fit_seconds, transform_seconds = [], []
    for _ in range(COST_REPEATS):  # the best of a few runs, so a cold cache does not count as cost
        started = time.perf_counter()
        pipeline.fit(frame, target)
        fitted = time.perf_counter()
        pipeline.transform(frame)
        fit_seconds.append(fitted - started)
        transform_seconds.append(time.perf_counter() - fitted)
    return min(fit_seconds), min(transform_seconds)


def _test_reliability(train: pd.Series, test: pd.Series, is_numeric: bool) -> float | None:
    """Categorical: share of test rows whose level never occurs in training. Numeric: share
    outside its range."""
    present = test.dropna()
    if len(present) == 0:
        return 0.0
    if is_numeric:
        if train.notna().sum() == 0:
            return 1.0
        outside = (present < train.min()) | (present > train.max())
        return float(outside.mean())
    return float((~present.isin(set(train.dropna()))).mean())


def build_features_report(
    X_train: pd.DataFrame,
    y_train: pd.Series,
    X_test: pd.DataFrame,
    columns: FeatureColumns,
    card: DatasetCard,
    seed: int = 0,
) -> dict[str, Any]:
    """Per raw feature: mutual information, cost per 10,000 rows, missing and unseen shares,
    associates; encoded as `card.features` says, for `card.task`.

    Pairs whose association (|Spearman|, Cramer's V or correlation ratio) reaches
    `CORRELATION_THRESHOLD` are listed in `correlated_pairs` and named in each feature's
    `correlated_with`. Returns plain JSON-serialisable values.
    """
    task = card.task
    numeric, categorical = columns.numeric, columns.categorical
    absent = sorted(set(columns.all) - set(X_train.columns) - set(X_test.columns))
    if absent:
        raise ValueError(f"features {absent} are not columns of X_train/X_test")
    y_train = pd.Series(np.asarray(y_train), index=X_train.index)
    positions = np.random.default_rng(seed).permutation(len(X_train))[:SAMPLE_ROWS]
    sample, sample_y = X_train.iloc[positions], y_train.iloc[positions]
    information = _mutual_information(sample, sample_y, task, numeric, categorical, seed)
    information |= _text_information(sample, sample_y, task, columns.text, card.features, seed)
    paired = [*numeric, *categorical]
    pairs = []
    for i, left in enumerate(paired):
        for right in paired[i + 1 :]:
            value, measure = _association(
                sample[left], sample[right], left in numeric, right in numeric
            )
            if value >= CORRELATION_THRESHOLD:
                pairs.append(
                    {"features": [left, right], "association": round(value, 4), "measure": measure}
                )
    features = {}
    for column in columns.all:
        is_numeric = column in numeric
        kind = "numeric" if is_numeric else ("text" if column in columns.text else "categorical")
        fit_seconds, transform_seconds = _measure_cost(X_train, y_train, column, kind, card, seed)
        unseen = (
            _text_unseen_share(X_train[column], X_test[column])
            if kind == "text"
            else _test_reliability(X_train[column], X_test[column], is_numeric)
        )
        features[column] = {
            "kind": kind,
            "mutual_information": round(information[column], 5),
            "fit_seconds_per_10k_rows": round(fit_seconds, 5),
            "transform_seconds_per_10k_rows": round(transform_seconds, 5),
            "missing_fraction_train": round(float(X_train[column].isna().mean()), 5),
            "missing_fraction_test": round(float(X_test[column].isna().mean()), 5)
            if len(X_test)
            else 0.0,
            "unseen_or_out_of_range_test_fraction": round(unseen or 0.0, 5),
            "correlated_with": [
                p["features"][1 - p["features"].index(column)]
                for p in pairs
                if column in p["features"]
            ],
        }
    return {
        "task": task,
        "rows": {"train": len(X_train), "test": len(X_test), "sampled": len(sample)},
        "correlation_threshold": CORRELATION_THRESHOLD,
        "features": features,
        "correlated_pairs": pairs,
    }


def render_features_markdown(report: dict[str, Any]) -> str:
    """The report as a Markdown table, most predictive feature first, then the correlated pairs."""
    rows = report["rows"]
    header = [
        "feature",
        "kind",
        "mutual information",
        "fit s / 10k rows",
        "transform s / 10k rows",
        "missing train",
        "missing test",
        "unseen / out-of-range test",
        "correlated with",
    ]
    ranked = sorted(report["features"].items(), key=lambda item: -item[1]["mutual_information"])
    table = [
        (
            name,
            row["kind"],
            f"{row['mutual_information']:.4f}",
            f"{row['fit_seconds_per_10k_rows']:.4f}",
            f"{row['transform_seconds_per_10k_rows']:.4f}",
            f"{row['missing_fraction_train']:.2%}",
            f"{row['missing_fraction_test']:.2%}",
            f"{row['unseen_or_out_of_range_test_fraction']:.2%}",
            ", ".join(row["correlated_with"]) or "-",
        )
        for name, row in ranked
    ]
    lines = [
        f"## Features ({report['task']}, {rows['train']} train / {rows['test']} test rows)",
        "",
        render_table(header, table, right_aligned=header[2:-1]),
        "",
        f"### Pairs with association >= {report['correlation_threshold']}",
        "",
    ]
    if not report["correlated_pairs"]:
        lines.append("None.")
    for pair in report["correlated_pairs"]:
        left, right = pair["features"]
        lines.append(f"- {left} ~ {right}: {pair['association']:.3f} ({pair['measure']})")
    return "\n".join(lines) + "\n"
