"""Monitoring tasks: read the window and the reference, judge them, publish, raise the alarm."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from typing import Any

from mlflow import MlflowClient
from PIL import Image
from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event

from mleng.card import DatasetCard, resolve_expectations_path
from mleng.errors import DataError
from mleng.monitoring.figures import render_window_figures
from mleng.monitoring.monitor import (
    MonitorReport,
    MonitorSettings,
    WindowInputs,
    assess_window,
)
from mleng.monitoring.reference import load_reference
from mleng.monitoring.report import drift_table, render_monitor_markdown
from mleng.monitoring.window import (
    LogWindow,
    label_rows,
    read_log_window,
    read_window_outcomes,
)
from mleng.reports.embedding import embed_figures, render_html_page, render_png
from mleng.serving.prediction_log import PredictionLog
from mleng.tracking import monitoring, registry, runs
from mleng.tracking.versions import load_version_model, read_version_tags
from mleng.training.threshold import unwrap_pipeline
from mleng.validation.suites import load_suite, validate_frame

logger = logging.getLogger("mleng.monitoring")


@dataclass(frozen=True)
class MonitorTarget:
    """What a monitor run looks at: the card, the champion version, the log."""

    card: DatasetCard
    client: MlflowClient
    version: str
    log_url: str


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def find_served_version(card: DatasetCard) -> tuple[MlflowClient, str | None]:
    """The champion's version (None before the first one): monitoring judges what is served."""
    client = runs.configure_tracking()
    return client, registry.find_alias_version(client, card.model_name, registry.CHAMPION)


@task(cache_policy=NO_CACHE)
def read_window(target: MonitorTarget, since: float, until: float) -> tuple[LogWindow, Any]:
    """The window's served rows and the outcomes that came back for them."""
    with PredictionLog(target.log_url) as log:
        window = read_log_window(log, target.card.model_name, since, until)
        outcomes = read_window_outcomes(log, window, target.card.model_name)
    return window, outcomes


@task(cache_policy=NO_CACHE)
def judge_window(
    target: MonitorTarget, window: LogWindow, outcomes: Any, settings: MonitorSettings
) -> tuple[MonitorReport, dict[str, bytes]]:
    """Drift, prediction drift, performance, stability and usage of the window, and a picture
    of each drifted feature (PNG bytes by name)."""
    card, client = target.card, target.client
    reference = load_reference(client, card, target.version)
    model = load_version_model(card.model_name, target.version)
    tags = read_version_tags(client, card.model_name, target.version)
    coercer = unwrap_pipeline(model).named_steps["inputs"]  # RawInputCoercer: the contract
    numeric, categorical = list(coercer.numeric_columns), list(coercer.categorical_columns)
    test_metric = tags.get(f"metric.{card.metric}")
    inputs = WindowInputs(
        card,
        model,
        target.version,
        reference.rows,
        (numeric, categorical),
        float(test_metric) if test_metric is not None else None,
        reference.unseen,
    )
    report = assess_window(window, inputs, outcomes, settings)
    figures = render_window_figures(report.drift, reference.rows, window.inputs)
    return report, {name: render_png(figure) for name, figure in figures.items()}


@task(cache_policy=NO_CACHE)
def validate_window(card: DatasetCard, window: LogWindow) -> dict | None:
    """The card's expectation suite on the window's rows (expectations on its columns only:
    the target and table-level counts do not apply to traffic)."""
    path = resolve_expectations_path(card)
    if window.n_rows == 0 or not path.exists():
        return None
    suite = load_suite(path)
    columns = set(window.inputs.columns)
    kept = [e for e in suite["expectations"] if e["kwargs"].get("column") in columns]
    report = validate_frame(window.inputs, {**suite, "expectations": kept}, source="window")
    return {
        "evaluated": len(kept),
        "failed": len(report.failures),
        "failures": [f"{f.expectation} on {f.column}" for f in report.failures],
    }


@dataclass(frozen=True)
class WindowFindings:
    """What a window produced: the report, its pictures, the suite's verdict."""

    report: MonitorReport
    images: dict[str, bytes]
    validity: dict | None


@task(cache_policy=NO_CACHE)
def publish_window(target: MonitorTarget, findings: WindowFindings, until: float) -> str:
    """Metrics at the window's step in the version's monitoring run; the report (with its
    figures) and the drift table as MLflow and Prefect artifacts. Returns the run id."""
    client, card = target.client, target.card
    report, validity = findings.report, findings.validity
    _, run_id = monitoring.find_monitoring_run(client, card.model_name, target.version)
    metrics = report.metrics()
    if validity is not None:
        metrics["validity_failures"] = float(validity["failed"])
    step = monitoring.log_window_metrics(client, run_id, metrics, until)
    title = f"Monitoring {card.model_name} v{target.version}, window {step}"
    markdown = render_monitor_markdown(report, title, validity)
    if findings.images:
        markdown += "\n## What moved\n\n" + "\n".join(
            f"![{name.replace('_', ' ')}](plots/{name}.png)" for name in findings.images
        )
    images = {f"plots/{name}.png": png for name, png in findings.images.items()}
    folder = f"windows/{step}"
    for path, png in images.items():
        client.log_image(run_id, Image.open(io.BytesIO(png)), f"{folder}/{path}")
    runs.log_text(client, run_id, markdown, f"{folder}/report.md")
    embedded = embed_figures(markdown, images)
    runs.log_text(client, run_id, render_html_page(embedded, title), f"{folder}/report.html")
    slug = card.model_name.lower().replace("_", "-")
    create_markdown_artifact(embedded, key=f"monitor-{slug}", description=title)
    table = drift_table(report)
    if table:
        create_table_artifact(table, key=f"drift-{slug}", description=f"{title}: drift tests")
    return run_id


@task(cache_policy=NO_CACHE)
def write_labelled_batch(card: DatasetCard, window: LogWindow, outcomes: Any, until: float) -> str:
    """The window's rows with their outcomes as a new partition of the card's data folder, so
    the next `train` run learns from live traffic. Refused for a card that reads one file or
    SQL: appending to those is the data owner's job."""
    folder = card.path
    if card.format != "csv" or folder is None or not folder.is_dir():
        raise DataError(
            f"the card {card.name!r} reads {card.display_path}, not a folder of CSV partitions; "
            "set its path to a folder to let monitor write labelled batches into it"
        )
    batch = label_rows(window, outcomes, card.target)
    if batch.empty:
        return "no labelled rows in the window"
    path = folder / f"live-{int(until)}.csv"
    partial = folder / f".{path.name}.partial"
    batch.to_csv(partial, index=False)
    partial.rename(path)  # a reader never sees half a batch
    return f"wrote {len(batch)} labelled rows to {path}"


@task(cache_policy=NO_CACHE)
def raise_alarms(target: MonitorTarget, report: MonitorReport) -> list[str]:
    """One Prefect event per breach (the train deployment's trigger listens), and a log line."""
    model = target.card.model_name
    for breach in report.breaches:
        logger.warning("%s: %s", breach.event, breach.reason)
        emit_event(
            event=breach.event,
            resource={
                "prefect.resource.id": f"mleng.model.{model}",
                "prefect.resource.name": model,
                "mleng.version": str(target.version),
            },
            payload={"reason": breach.reason, **breach.evidence},
        )
    return [breach.event for breach in report.breaches]
