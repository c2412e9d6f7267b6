"""Baselines and the incumbent, each scored on the rows that make the comparison fair.

The champion is compared with the challenger only on test rows that neither trained on: the
challenger's test rows minus the champion's training rows (their keys are logged with every run).
Rows the champion memorised would otherwise make it win every comparison.
"""

from __future__ import annotations

from mlflow import MlflowClient

from mleng.card import DatasetCard
from mleng.data.split import SplitData, format_row_keys
from mleng.evaluation.baselines import fit_baselines, predict_with
from mleng.evaluation.bootstrap import compare_paired, compute_metrics
from mleng.evaluation.heuristic import fit_heuristic_baseline
from mleng.evaluation.records import Predictions, Resampling, Truth
from mleng.promotion import ChampionComparison, MetricGain
from mleng.tracking import datasets, versions


def score_baselines(card: DatasetCard, split: SplitData, seed: int) -> dict[str, dict[str, float]]:
    """Zero-rule, random and (when the card gives one) the heuristic rule on the test rows."""
    baselines = fit_baselines(card.task, split.train_x, split.train_y, seed)
    if card.heuristic_baseline is not None:
        rule = card.heuristic_baseline
        baselines["heuristic"] = fit_heuristic_baseline(
            rule.expression, rule.then, rule.otherwise, card.task, split.train_x, split.train_y
        )
    return {
        name: compute_metrics(
            Truth(card.task, split.test_y, card.positive_label), predict_with(model, split.test_x)
        )
        for name, model in baselines.items()
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
    gains = []
    for metric in compared_metrics(card):
        result = compare_paired(truth, metric, champion, mine, Resampling(n_resamples, seed=seed))
        gains.append(
            MetricGain(
                metric, result.difference, result.low, result.high, result.probability_better
            )
        )
    return ChampionComparison(version, paired_rows=paired, gains=tuple(gains))
