"""The end-of-run summary a user reads first: what was checked, tried, chosen and registered."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from mleng.card import SearchConfig


@contextmanager
def time_stage(stage_seconds: dict[str, float], stage: str) -> Iterator[None]:
    """Record how long a stage took (seconds, 2 decimals), for the summary's stage table."""
    started = time.perf_counter()
    try:
        yield
    finally:
        stage_seconds[stage] = round(time.perf_counter() - started, 2)


@dataclass
class TrainSummary:
    """Facts about one `train` run, in the order a reviewer asks for them."""

    card_name: str
    metric: str
    validation: str = ""
    rows: dict[str, int] = field(default_factory=dict)
    baselines: dict[str, float] = field(default_factory=dict)
    best_per_family: dict[str, dict[str, Any]] = field(default_factory=dict)
    best_family: str = ""
    search: str = ""
    ensemble: str = ""  # the final ensemble: chosen or not, members, out-of-fold scores
    decision_rule: str = ""
    test_metrics: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    model_name: str = ""
    model_version: str = ""
    aliases: tuple[str, ...] = ()
    decision: str = ""
    reason: str = ""
    experiment_id: str = ""
    parent_run_id: str = ""
    tracking_uri: str = ""
    run_url: str = ""
    data_warnings: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    worth: list[str] = field(default_factory=list)  # is it worth it: model vs the simple rule
    stage_seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _format_params(params: dict[str, Any]) -> str:
    return ", ".join(
        f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}"
        for key, value in params.items()
    )


def render_summary_markdown(summary: TrainSummary) -> str:
    """Markdown tables for the Prefect artifact and the MLflow run."""
    lines = [f"# Training summary: {summary.card_name}", ""]
    lines += ["| item | value |", "|---|---|"]
    lines += [
        f"| data validation | {summary.validation} |",
        f"| rows (train / test) | {summary.rows.get('train', 0)} / {summary.rows.get('test', 0)} |",
        f"| search | {summary.search} |",
        f"| ensemble | {summary.ensemble or '-'} |",
        f"| decision rule | {summary.decision_rule} |",
        (
            f"| registered model | {summary.model_name} v{summary.model_version} "
            f"(aliases: {', '.join(summary.aliases) or '-'}) |"
        ),
        f"| promotion | {summary.decision} |",
        (
            f"| MLflow parent run | [{summary.parent_run_id}]({summary.run_url}) "
            f"(experiment {summary.experiment_id}) |"
        ),
        "",
        "## Promotion",
        f"**{summary.decision}**: {summary.reason}"
        if not summary.checks
        else f"**{summary.decision}**; every check of the gate:",
        "",
        *(f"- {check}" for check in summary.checks),
        *(["", "## Is it worth it", ""] if summary.worth else []),
        *(f"- {line}" for line in summary.worth),
        *(["", "## Data warnings", ""] if summary.data_warnings else []),
        *(f"- {warning}" for warning in summary.data_warnings),
        "",
        f"## Baselines (test {summary.metric})",
        "| baseline | value |",
        "|---|---|",
    ]
    lines += [f"| {name} | {value:.4f} |" for name, value in summary.baselines.items()]
    lines += [
        "",
        f"## Best configuration per family (CV {summary.metric})",
        "| family | CV mean | CV std | trials | params |",
        "|---|---|---|---|---|",
    ]
    for family, best in summary.best_per_family.items():
        marker = " (chosen)" if family == summary.best_family else ""
        lines.append(
            f"| {family}{marker} | {best['score']:.4f} | {best['std']:.4f} | {best['trials']} | "
            f"{_format_params(best['params'])} |"
        )
    lines += [
        "",
        "## Champion candidate on the test set (95% bootstrap intervals)",
        "| metric | value | interval |",
        "|---|---|---|",
    ]
    lines += [
        f"| {name} | {value:.4f} | [{low:.4f}, {high:.4f}] |"
        for name, (value, low, high) in summary.test_metrics.items()
    ]
    lines += ["", "## Time per stage (seconds)", "| stage | seconds |", "|---|---|"]
    lines += [f"| {stage} | {seconds:.1f} |" for stage, seconds in summary.stage_seconds.items()]
    return "\n".join(lines) + "\n"


def summarize_families(results: list[Any], lower_is_better: bool) -> dict[str, dict]:
    """Best trial per family, scores in the metric's own units."""
    sign = -1.0 if lower_is_better else 1.0
    best: dict[str, dict] = {}
    for result in results:
        family = result.trial.family
        entry = best.setdefault(
            family,
            {
                "score": float("nan"),
                "std": float("nan"),
                "params": {},
                "trials": 0,
                "raw": float("-inf"),
            },
        )
        entry["trials"] += 1
        if result.score == result.score and result.score > entry["raw"]:
            entry.update(
                score=sign * result.score,
                std=result.score_std,
                params=dict(result.trial.params),
                stage=result.trial.stage,
                raw=result.score,
            )
    for entry in best.values():
        entry.pop("raw")
    return best


def explain_stop(settings: SearchConfig, n_evaluations: int, elapsed_s: float) -> str:
    """Why the search ended: `budget` (every evaluation spent), `time_budget`, or `patience`
    (which also covers a space with fewer configurations than the budget)."""
    if n_evaluations >= settings.budget:
        return "budget"
    if settings.time_budget_s is not None and elapsed_s >= settings.time_budget_s:
        return "time_budget"
    return "patience"


def describe_search(settings: SearchConfig, n_evaluations: int, stopped_by: str = "") -> str:
    """The search as the summary reports it: strategy, evaluations spent, validation, early stop."""
    stopped = ""
    if stopped_by == "time_budget":
        stopped = f", stopped when its time budget of {settings.time_budget_s:g} s was spent"
    elif n_evaluations < settings.budget and settings.patience is not None:
        stopped = (
            f", stopped early: {settings.patience} fine round(s) in a row gained no more than "
            f"search.min_improvement {settings.min_improvement:g} (or every configuration scored)"
        )
    elif n_evaluations < settings.budget:
        stopped = ", stopped early: every configuration was scored"
    return (
        f"{settings.strategy}, {n_evaluations} of {settings.budget} evaluations, "
        f"validation {settings.validation}{stopped}"
    )
