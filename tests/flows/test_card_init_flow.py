"""`mleng card init` then `mleng train`, as real processes, with no hand edits: a new file of
each task type ends as a registered model version."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient

from tests.helpers import ROOT

pytestmark = pytest.mark.slow

ADULT_ROWS = 1500  # small files keep the test fast; the default search is used as drafted


def adult_file(folder: Path, frame: pd.DataFrame, drop: str | None = None) -> Path:
    path = folder / "data" / "people.csv"
    path.parent.mkdir(exist_ok=True)
    sample = frame.head(ADULT_ROWS)
    (sample.drop(columns=[drop]) if drop else sample).to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("target", "drop", "task"),
    [
        ("class", None, "binary"),
        ("relationship", "class", "multiclass"),
        ("hours-per-week", None, "regression"),
        ("co2", None, "regression"),  # one weekly series: a timestamp, windows, temporal split
    ],
    ids=["binary", "multiclass", "regression", "series-regression"],
)
def test_card_init_then_train_registers_a_model_with_no_hand_edits(
    run_cli, isolated_store, adult_frame, target, drop, task
):
    if target == "co2":
        data = isolated_store / "data" / "co2_weekly.csv"
        data.parent.mkdir()
        shutil.copy(ROOT / "data" / "co2_weekly.csv", data)
    else:
        data = adult_file(isolated_store, adult_frame, drop)
    relative = data.relative_to(isolated_store).as_posix()

    init = run_cli("card", "init", relative, "--target", target)
    assert init.returncode == 0, init.stdout + init.stderr
    card = isolated_store / "configs" / f"{data.stem}.yaml"
    suite = isolated_store / "expectations" / f"{data.stem}.json"
    assert card.is_file() and suite.is_file()
    assert f"task: {task}" in card.read_text()
    written = card.read_text()

    train = run_cli("train", f"configs/{data.stem}.yaml", "--budget", "3", "--seed", "1")
    assert train.returncode == 0, train.stdout[-3000:] + train.stderr[-3000:]
    assert card.read_text() == written  # nothing edited by hand or by the run
    model = data.stem.replace("_", "-")
    versions = MlflowClient().search_model_versions(f"name='{model}'")
    assert [str(v.version) for v in versions] == ["1"]
    assert "challenger" in MlflowClient().get_registered_model(model).aliases
    assert "passed" in train.stdout  # data validation against the suite card init wrote
