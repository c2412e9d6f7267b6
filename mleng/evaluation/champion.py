"""Baselines and the incumbent, each scored on the rows that make the comparison fair.

The champion is compared with the challenger only on test rows that neither trained on: the
challenger's test rows minus the champion's training rows (their keys are logged with every run).
Rows the champion memorised would otherwise make it win every comparison.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from mlflow import MlflowClient

from mleng.card import DatasetCard
from mleng.data.split import SplitData, format_row_keys
from mleng.evaluation.baselines import fit_baselines, predict_with
from mleng.evaluation.bootstrap import compare_paired, compute_metrics
from mleng.evaluation.costs import (
    EXPECTED_COST,
    build_cost_matrix,
    compare_costs_paired,
    compute_row_costs,
    decide_with_costs,
)
from mleng.evaluation.heuristic import fit_heuristic_baseline
from mleng.evaluation.lookup import fit_lookup_table
from mleng.evaluation.records import Predictions, Resampling, Truth
from mleng.promotion import ChampionComparison, MetricGain
from mleng.tracking import datasets, versions

ZERO_RULE, LOOKUP_TABLE, HEURISTIC = "zero_rule", "lookup_table", "heuristic"


def fit_simple_baselines(card: DatasetCard, split: SplitData, seed: int) -> dict[str, Any]:
    """Zero-rule, random, the lookup table and (when the card gives one) the heuristic rule,
    fitted on the training rows only."""
    baselines = fit_baselines(card.task, split.train_x, split.train_y, seed)
    baselines[LOOKUP_TABLE] = fit_lookup_table(card.task, split.train_x, split.train_y, seed)
    if card.heuristic_baseline is not None:
        rule = card.heuristic_baseline
        baselines[HEURISTIC] = fit_heuristic_baseline(
            rule.expression, rule.then, rule.otherwise, card.task, split.train_x, split.train_y
        )
    return baselines


def predict_baselines(
    card: DatasetCard, baselines: dict[str, Any], rows: Any
) -> dict[str, Predictions]:
    """Each baseline's predictions; with costs, a baseline with probabilities decides by the
    least expected cost on them, so it is judged at its cheapest (as the model is)."""
    predictions = {name: predict_with(model, rows) for name, model in baselines.items()}
    if card.costs is None or card.task == "regression":
        return predictions
    matrix = build_cost_matrix(card.costs, predictions[ZERO_RULE].classes, card.positive_label)
    return {name: decide_with_costs(value, matrix) for name, value in predictions.items()}


def score_with_costs(card: DatasetCard, y_true: Any, predictions: Predictions) -> dict[str, float]:
    """Every metric of the task, plus `expected_cost` per decision when the card has costs."""
    scores = compute_metrics(Truth(card.task, y_true, card.positive_label), predictions)
    if card.costs is not None:
        scores[EXPECTED_COST] = float(np.mean(row_costs(card, y_true, predictions)))
    return scores


def row_costs(card: DatasetCard, y_true: Any, predictions: Predictions) -> np.ndarray:
    """The cost of each row's decision under the card's costs."""
    matrix = None
    if card.task != "regression":
        classes = predictions.classes if predictions.classes is not None else np.unique(y_true)
        matrix = build_cost_matrix(card.costs, classes, card.positive_label)
    return compute_row_costs(card.costs, y_true, predictions, matrix)


def score_baselines(card: DatasetCard, split: SplitData, seed: int) -> dict[str, dict[str, float]]:
    """Zero-rule, random, the lookup table and the heuristic rule (when the card gives one) on
    the test rows, with their expected cost when the card has costs."""
    baselines = fit_simple_baselines(card, split, seed)
    return {
        name: score_with_costs(card, split.test_y, predictions)
        for name, predictions in predict_baselines(card, baselines, split.test_x).items()
    }


def compared_metrics(card: DatasetCard) -> list[str]:
    """The primary metric, and the metric the served decision was tuned for when there is one:
    a tuned threshold changes labels, so labels are gated as well as probabilities."""
    metrics = [card.metric]
    tuned = card.imbalance.threshold_metric
    if card.task == "binary" and tuned is not None and tuned not in metrics:
        metrics.append(tuned)
    return metrics


def compare_with_incumbent(  # noqa: PLR0913 - each input is one fact of the comparison
    client: MlflowClient,
    card: DatasetCard,
    version: str,
    challenger: Predictions,
    split: SplitData,
    seed: int,
    n_resamples: int,
) -> ChampionComparison:
    """Paired bootstrap of challenger against champion `version` on the rows neither saw."""
    run_id = versions.find_version_run(client, card.model_name, version)
    trained_on = datasets.load_row_keys(client, run_id) if run_id else None
    if trained_on is None:
        return ChampionComparison(
            version,
            unavailable_reason="the champion's run logged no training-row keys, so rows it "
            "trained on cannot be told apart",
        )
    unseen = datasets.select_unseen(format_row_keys(split.test_keys), trained_on)
    paired = int(unseen.sum())
    if paired < card.promotion.min_paired_rows:
        return ChampionComparison(version, paired_rows=paired)
    try:
        champion_model = versions.load_version_model(card.model_name, version)
        champion = predict_with(champion_model, split.test_rows[unseen])
    except Exception as error:  # noqa: BLE001 - any failure to score means no evidence either way
        return ChampionComparison(
            version, paired_rows=paired, unavailable_reason=f"{type(error).__name__}: {error}"
        )
    mine = challenger.select(unseen)
    truth = Truth(card.task, split.test_y[unseen], card.positive_label)
    resampling = Resampling(n_resamples, seed=seed)
    if card.promotion.primary == "expected_cost":
        result = compare_costs_paired(
            row_costs(card, truth.y_true, champion), row_costs(card, truth.y_true, mine), resampling
        )
        gain = MetricGain(
            EXPECTED_COST, result.difference, result.low, result.high, result.probability_better
        )
        return ChampionComparison(version, paired_rows=paired, gains=(gain,))
    gains = []
    for metric in compared_metrics(card):
        result = compare_paired(truth, metric, champion, mine, Resampling(n_resamples, seed=seed))
        gains.append(
            MetricGain(
                metric, result.difference, result.low, result.high, result.probability_better
            )
        )
    return ChampionComparison(version, paired_rows=paired, gains=tuple(gains))
