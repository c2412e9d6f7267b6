"""The `monitor` flow: judge the last window of served traffic; raise an event on a breach."""

from __future__ import annotations

import os
import time

from mleng.runtime import apply_runtime_defaults

apply_runtime_defaults()

from prefect import flow

from mleng.monitoring.monitor import MonitorSettings
from mleng.serving.commands import DEFAULT_LOG
from tasks.data import read_card
from tasks.monitoring import (
    MonitorTarget,
    WindowFindings,
    find_served_version,
    judge_window,
    publish_window,
    raise_alarms,
    read_window,
    validate_window,
    write_labelled_batch,
)


@flow(name="monitor", log_prints=True)
def monitor(  # noqa: PLR0913 - a flow's parameters are its form in the Prefect UI
    card_path: str = "configs/adult.yaml",
    log_url: str | None = None,
    window_hours: float = 24.0,
    until: float | None = None,
    alpha: float = 0.05,
    min_rows: int = 200,
    write_batch: bool = False,
) -> dict:
    """Monitor the champion of a card's model on the prediction service's log.

    Reads the last `window_hours` of served requests (and the outcomes sent to /feedback),
    compares the inputs with the rows the champion trained on (KS and chi-square, Bonferroni
    at `alpha` over all features), its outputs with its outputs on those rows, measures online
    performance (or estimates it from probabilities before outcomes arrive), counts NaN and
    inf, compares usage with the same hour on earlier days and runs the card's expectation
    suite. Metrics go to the MLflow experiment `<model>-monitoring`, one run per version and
    one step per window; each breach emits `mleng.drift.detected` or
    `mleng.performance.degraded`, which the `train` deployment's trigger answers.

    Args:
        card_path: the dataset card of the served model.
        log_url: the prediction log the service writes (`mleng serve --log`); default the
            environment's MLENG_PREDICTION_LOG, else sqlite:///predictions.db here.
        window_hours: how far back the window reaches from `until`.
        until: the window's end as a Unix time (default: now).
        alpha: family-wise false-alarm rate of the drift tests per window.
        min_rows: rows a window needs before drift is tested.
        write_batch: write the window's rows with their outcomes as a new CSV partition of the
            card's data folder, for the next training run.
    """
    card = read_card(card_path)
    log_url = log_url or os.environ.get("MLENG_PREDICTION_LOG") or DEFAULT_LOG
    settings = MonitorSettings(window_hours=window_hours, alpha=alpha, min_rows=min_rows)
    end = until if until is not None else time.time()
    client, version = find_served_version(card)
    if version is None:
        print(f"monitor {card.model_name}: no champion yet, nothing is served to monitor")
        return {"version": None, "rows": 0, "events": [], "run_id": None}
    target = MonitorTarget(card, client, version, log_url)
    window, outcomes = read_window(target, end - window_hours * 3600, end)
    report, images = judge_window(target, window, outcomes, settings)
    validity = validate_window(card, window)
    run_id = publish_window(target, WindowFindings(report, images, validity), end)
    events = raise_alarms(target, report)
    if write_batch:
        print(write_labelled_batch(card, window, outcomes, end))
    print(
        f"monitor {card.model_name} v{version}: {report.rows} rows, "
        f"{len(events)} breach(es) {events or ''}"
    )
    return {"version": version, "rows": report.rows, "events": events, "run_id": run_id}
