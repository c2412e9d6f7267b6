"""The model card: what the model was trained on, how it was chosen, how well it does and for
whom, and why it was (or was not) promoted, as markdown a reviewer reads top to bottom.

Every section is optional; a section nobody measured says "not measured" instead of vanishing,
so a missing check is visible rather than silently absent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline

from mleng.assessment.slices import SliceMetric
from mleng.card import DatasetCard, ImbalanceSettings
from mleng.evaluation import LOWER_IS_BETTER, MetricInterval
from mleng.evaluation.costs import EXPECTED_COST
from mleng.evaluation.simple import SimpleVerdict
from mleng.promotion import PromotionDecision
from mleng.quality.findings import Finding
from mleng.reports.formatting import format_number, render_table
from mleng.training.threshold import ThresholdChoice
from mleng.training.weighted_ensemble import WeightedEnsembleBase

NOT_MEASURED = "_not measured_"
LOWER_FIRST = LOWER_IS_BETTER | {EXPECTED_COST}
DATA_SIZE_DETECTORS = ("learning_curve", "too_few_rows")
METRIC_DECIMALS = 4
MAX_STEP_TEXT = 160


@dataclass(frozen=True)
class DataFacts:
    """Where the rows came from, how many, whether they passed validation, what checks found."""

    source: str
    rows: dict[str, int]  # e.g. {"train": 8000, "test": 2000}
    validation: str  # e.g. "passed: 14 of 14 expectations"
    findings: Sequence[str] = ()  # one line per data-quality finding


@dataclass(frozen=True)
class SearchFacts:
    """The search that chose the model; `best_per_family` as `mleng.summary.summarize_families`
    returns it (score, std, trials, params per family, scores in the metric's own units)."""

    strategy: str
    budget: int
    metric: str
    best_per_family: dict[str, dict[str, Any]]
    chosen_family: str | None = None


@dataclass(frozen=True)
class PromotionFacts:
    """The promotion decision with every reason behind it (gates and comparison alike)."""

    promoted: bool
    reasons: Sequence[str]
    champion_version: str | None = None


@dataclass(frozen=True)
class ModelCardFacts:
    """Everything the card reports; a section left None is reported as not measured."""

    model_name: str
    version: str | None = None
    task: str | None = None
    data: DataFacts | None = None
    features: Sequence[str] | None = None  # pipeline steps, e.g. from `describe_pipeline`
    imbalance: ImbalanceSettings | None = None
    threshold: ThresholdChoice | None = None
    search: SearchFacts | None = None
    metrics: dict[str, MetricInterval] | None = None
    confidence: float = 0.95
    baselines: dict[str, dict[str, float]] | None = None  # baseline -> metric -> test value
    slices: Sequence[SliceMetric] | None = None
    robustness: str | Sequence[str] | None = None  # findings, or a rendered markdown report
    shift: str | Sequence[str] | None = None
    promotion: PromotionFacts | None = None
    limits: Sequence[str] | None = None
    figures: dict[str, str] | None = None  # caption -> relative path of a saved figure
    worth: Sequence[str] | None = None  # "is it worth it": lines from `describe_worth`


def build_promotion_facts(decision: PromotionDecision) -> PromotionFacts:
    """The card's promotion section: every gate check of the decision, passed or failed."""
    reasons = [
        f"{'passed' if check.passed else 'FAILED'} {check.name}: {check.detail}"
        for check in decision.checks
    ]
    comparison = decision.comparison
    champion = comparison.champion_version if comparison is not None else None
    return PromotionFacts(decision.promote, reasons, champion)


def describe_pipeline(model: BaseEstimator, prefix: str = "") -> list[str]:
    """One line per step of a fitted or unfitted pipeline, nested steps indented, each leaf shown
    with the parameters that differ from its defaults, and column transformers with their
    columns."""
    if isinstance(model, Pipeline):
        lines = []
        for name, step in model.steps:
            lines += describe_step(name, step, prefix)
        return lines
    return describe_step(type(model).__name__, model, prefix)


def describe_step(name: str, step: Any, prefix: str) -> list[str]:
    """A step's line and, for containers, its children's lines."""
    if step is None or isinstance(step, str):
        return [f"{prefix}- {name}: {step or 'passthrough'}"]
    if isinstance(step, Pipeline):
        return [f"{prefix}- {name}:", *describe_pipeline(step, prefix + "  ")]
    if isinstance(step, WeightedEnsembleBase):  # members and weights, each member's own steps
        members = step.describe_members()
        lines = [f"{prefix}- {name}: weighted average of {len(members)} fitted pipelines"]
        for (member, weight), (_, model) in zip(members, step.members, strict=True):
            lines += describe_step(f"member {member} (weight {weight:.3f})", model, prefix + "  ")
        return lines
    if isinstance(step, ColumnTransformer):
        lines = [f"{prefix}- {name}: ColumnTransformer"]
        for part, transformer, columns in step.transformers:
            named = f"{part} on {format_columns(columns)}"
            lines += describe_step(named, transformer, prefix + "  ")
        return lines
    text = " ".join(repr(step).split())
    text = text if len(text) <= MAX_STEP_TEXT else text[: MAX_STEP_TEXT - 3] + "..."
    return [f"{prefix}- {name}: `{text}`"]


def format_columns(columns: Any, limit: int = 8) -> str:
    """A column list short enough to read: the first few names and how many more."""
    names = [str(column) for column in np.atleast_1d(np.asarray(columns, dtype=object))]
    shown = ", ".join(names[:limit])
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return f"[{shown}{more}]"


def format_metric(value: float | None) -> str:
    """A metric value with four decimals, as every table of the card shows them."""
    return format_number(value, decimals=METRIC_DECIMALS)


def format_interval(interval: MetricInterval) -> str:
    """`0.8123 [0.8010, 0.8230]`."""
    bounds = f"[{format_metric(interval.low)}, {format_metric(interval.high)}]"
    return f"{format_metric(interval.estimate)} {bounds}"


def format_bullets(items: str | Sequence[str] | None, empty: str = "none") -> list[str]:
    """One bullet per item; a single string is a markdown report kept as it is, its headings
    pushed two levels down so they nest under the card's section."""
    if items is None:
        return [NOT_MEASURED]
    if isinstance(items, str):
        block = [
            f"##{line}" if line.startswith("#") else line for line in items.strip().splitlines()
        ]
        return block or [f"_{empty}_"]
    return [f"- {item}" for item in items] or [f"_{empty}_"]


def render_data(data: DataFacts | None) -> list[str]:
    if data is None:
        return [NOT_MEASURED]
    rows = ", ".join(f"{split} {count:,}" for split, count in data.rows.items()) or "n/a"
    lines = [f"- source: `{data.source}`", f"- rows: {rows}", f"- validation: {data.validation}"]
    return lines + ["", "Data findings:", *format_bullets(data.findings, "no findings")]


def render_features(steps: Sequence[str] | None) -> list[str]:
    """Pipeline steps as bullets; lines of `describe_pipeline` are bullets already."""
    if steps is None:
        return [NOT_MEASURED]
    lines = [step if step.lstrip().startswith("- ") else f"- {step}" for step in steps]
    return lines or ["_no steps_"]


def render_imbalance(facts: ModelCardFacts) -> list[str]:
    if facts.imbalance is None and facts.threshold is None:
        return [NOT_MEASURED]
    lines = [f"- strategy: `{facts.imbalance.label}`"] if facts.imbalance is not None else []
    if facts.threshold is not None:
        chosen = facts.threshold
        lines.append(
            f"- decision threshold {chosen.threshold:.4f}, tuned on validation rows for "
            f"{chosen.metric}: {chosen.score:.4f} there, against {chosen.score_at_half:.4f} at 0.5"
        )
    return lines


def render_search(search: SearchFacts | None) -> list[str]:
    if search is None:
        return [NOT_MEASURED]
    lines = [f"- strategy `{search.strategy}`, budget {search.budget} trials, CV {search.metric}"]
    rows = [
        [
            f"{family} (chosen)" if family == search.chosen_family else family,
            format_metric(best.get("score")),
            format_metric(best.get("std")),
            best.get("trials", "n/a"),
            ", ".join(f"{key}={value}" for key, value in best.get("params", {}).items()) or "-",
        ]
        for family, best in search.best_per_family.items()
    ]
    return [*lines, "", render_table(["family", "best CV", "CV std", "trials", "params"], rows)]


def render_metrics(facts: ModelCardFacts) -> list[str]:
    if facts.metrics is None:
        return [NOT_MEASURED]
    rows = [
        [name, format_interval(interval), "lower" if name in LOWER_FIRST else "higher"]
        for name, interval in facts.metrics.items()
    ]
    header = ["metric", f"test estimate [{facts.confidence:.0%} interval]", "better"]
    return [render_table(header, rows)]


def render_baselines(facts: ModelCardFacts) -> list[str]:
    if facts.baselines is None:
        return [NOT_MEASURED]
    names = list(dict.fromkeys(metric for values in facts.baselines.values() for metric in values))
    rows = [
        [baseline, *(format_metric(values.get(metric)) for metric in names)]
        for baseline, values in facts.baselines.items()
    ]
    if facts.metrics is not None:
        model = [facts.metrics.get(metric) for metric in names]
        rows.insert(0, ["model", *(format_metric(m.estimate if m else None) for m in model)])
    return [render_table(["", *names], rows)]


def render_slices(slices: Sequence[SliceMetric] | None) -> list[str]:
    if slices is None:
        return [NOT_MEASURED]
    if not slices:
        return ["_no slice columns chosen_"]
    names = list(dict.fromkeys(metric for item in slices for metric in item.metrics))
    rows = [
        [
            item.column,
            item.group,
            item.rows,
            *(format_interval(item.metrics[m]) if m in item.metrics else "n/a" for m in names),
            "small group: interval unreliable" if item.small else "",
        ]
        for item in slices
    ]
    return [render_table(["column", "group", "rows", *names, "note"], rows)]


def render_promotion(promotion: PromotionFacts | None) -> list[str]:
    if promotion is None:
        return [NOT_MEASURED]
    verdict = "promoted to champion" if promotion.promoted else "not promoted"
    against = f" (champion v{promotion.champion_version})" if promotion.champion_version else ""
    return [f"**{verdict}**{against}", "", *format_bullets(promotion.reasons, "no reason given")]


def render_figure_links(figures: dict[str, str] | None) -> list[str]:
    if not figures:
        return ["_none attached_"]
    return [f"![{caption}]({path})" for caption, path in figures.items()]


@dataclass(frozen=True)
class WorthInputs:
    """What the "is it worth it" section weighs: the paired comparison with the best simple
    baseline (and its cost report), the rule registered instead of the model if any, the
    measured latency, the warn-level data findings (those on data size, from the learning curve,
    are cited as the "too little data" reason) and the chosen model family."""

    card: DatasetCard
    verdict: SimpleVerdict
    adopted: str | None
    latency_ms: float | None
    findings: Sequence[Finding]
    family: str
    metric: MetricInterval | None = None  # the registered model's test estimate of card.metric
    more_data: str | None = None  # the learning curve's extrapolation, from the data stage


def describe_worth(inputs: WorthInputs) -> list[str]:
    """Should this be machine learning at all: the figures, the requirements met or not, and the
    reasons that apply (cost of errors, a simple rule nearly as good, too little data)."""
    card, verdict = inputs.card, inputs.verdict
    lines = [verdict.sentence()]
    if inputs.adopted is not None:
        lines.append(
            f"registered: the simple {verdict.description} instead of the searched model "
            "(promotion.prefer_simple), with the same gate, contract and service"
        )
    if verdict.costs is not None:
        lines += [f"expected cost, {line}" for line in verdict.costs.lines()]
    if card.evaluation.human_performance is not None:
        model = format_interval(inputs.metric) if inputs.metric is not None else NOT_MEASURED
        lines.append(
            f"human performance (card evaluation.human_performance): {card.metric} "
            f"{card.evaluation.human_performance:.4f}; the model: {model}"
        )
    if inputs.more_data:
        lines.append(f"more data (learning-curve extrapolation): {inputs.more_data}")
    return lines + describe_requirements(inputs) + describe_reasons(inputs)


def describe_requirements(inputs: WorthInputs) -> list[str]:
    """Whether the card's explainability and latency requirements are met."""
    requirements = inputs.card.requirements
    if not requirements.explainability:
        explained = "explainability: not required"
    elif inputs.adopted is not None:
        explained = "explainability: met, a rule a reviewer reads in full"
    else:
        explained = f"explainability: required, met by the family it allows ({inputs.family})"
    measured = "not measured" if inputs.latency_ms is None else f"{inputs.latency_ms:.1f} ms"
    if requirements.max_latency_ms is None:
        latency = f"latency: no budget set; median single-row latency {measured}"
    else:
        met = inputs.latency_ms is not None and inputs.latency_ms <= requirements.max_latency_ms
        latency = (
            f"latency: budget {requirements.max_latency_ms:g} ms {'met' if met else 'NOT met'} "
            f"(median single-row latency {measured})"
        )
    return [explained, latency]


def describe_reasons(inputs: WorthInputs) -> list[str]:
    """The reasons against a model that apply here, each with its evidence."""
    verdict, reasons = inputs.verdict, []
    report = verdict.costs
    if report is not None and report.saving.low <= 0:
        reasons.append(
            "reason, cost of errors: the model is not shown to save against the cheapest "
            f"baseline ({report.cheapest_baseline})"
        )
    elif report is None:
        reasons.append("cost of errors: not weighed (the card has no costs: block)")
    if verdict.simple_is_enough:
        reasons.append(f"reason, a simple rule nearly as good: {verdict.description}")
    size = [f.message for f in inputs.findings if f.detector in DATA_SIZE_DETECTORS]
    reasons += [f"reason, too little data: {message}" for message in size]
    if not size:
        reasons.append("data size: no learning-curve finding says more rows would help")
    return reasons


def render_model_card(facts: ModelCardFacts) -> str:
    """The card as markdown, sections in the order a reviewer asks about them."""
    title = f"# Model card: {facts.model_name}" + (f" v{facts.version}" if facts.version else "")
    sections: list[tuple[str, list[str]]] = [
        ("Data", render_data(facts.data)),
        ("Features", render_features(facts.features)),
        ("Class imbalance", render_imbalance(facts)),
        ("Search", render_search(facts.search)),
        ("Test metrics", render_metrics(facts)),
        ("Baselines", render_baselines(facts)),
        ("Slices", render_slices(facts.slices)),
        ("Robustness", format_bullets(facts.robustness, "no findings")),
        ("Shift", format_bullets(facts.shift, "no findings")),
        *([("Is it worth it", format_bullets(facts.worth))] if facts.worth is not None else []),
        ("Promotion", render_promotion(facts.promotion)),
        ("Limits", format_bullets(facts.limits, "none known")),
        ("Figures", render_figure_links(facts.figures)),
    ]
    lines = [title, ""]
    if facts.task:
        lines += [f"Task: {facts.task}", ""]
    for heading, body in sections:
        lines += [f"## {heading}", "", *body, ""]
    return "\n".join(lines)
