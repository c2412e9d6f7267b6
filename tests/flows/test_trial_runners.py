"""Where a round's trials run: a thread pool and a real Dask LocalCluster of two worker
processes give exactly the sequential run's trials and scores for the same seed."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient

from tests.helpers import write_card_with_suite

pytestmark = pytest.mark.slow


def trial_scores(summary) -> dict[str, tuple[dict, float]]:
    """Each child run's name -> (its parameters, its CV score)."""
    client = MlflowClient()
    children = client.search_runs(
        [summary.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{summary.parent_run_id}'",
    )
    return {
        run.info.run_name: (run.data.params, run.data.metrics.get("cv_score", float("nan")))
        for run in children
    }


def card_with_runner(card_path: Path, runner: dict) -> str:
    card = yaml.safe_load(card_path.read_text())
    card["search"] = card["search"] | {"runner": runner}
    card["name"] = f"adult_{runner['kind']}"
    card["model_name"] = f"adult-{runner['kind']}"
    path = card_path.with_name(f"card_{runner['kind']}.yaml")
    path.write_text(yaml.safe_dump(card, sort_keys=False))
    return str(path)


def test_threads_and_a_dask_local_cluster_reproduce_the_sequential_search(
    prefect_server, isolated_store: Path, adult_frame: pd.DataFrame
):
    from flows.train import train

    data_path = isolated_store / "adult_sample.csv"
    adult_frame.to_csv(data_path, index=False)
    base = write_card_with_suite(isolated_store, data_path)
    results = {}
    for runner in ({"kind": "sequential"}, {"kind": "threads"}, {"kind": "dask", "workers": 2}):
        summary = train(
            card_path=card_with_runner(base, runner), budget=6, seed=3, bootstrap_resamples=100
        )
        results[runner["kind"]] = trial_scores(summary)
    sequential = results["sequential"]
    assert len(sequential) == 6
    for kind in ("threads", "dask"):
        assert results[kind].keys() == sequential.keys(), kind
        for name, (params, score) in sequential.items():
            assert results[kind][name][0] == params, (kind, name)
            assert results[kind][name][1] == pytest.approx(score, abs=1e-12), (kind, name)
