"""One monitoring window judged: drift, prediction drift, performance, stability, usage, validity.

Each measure has one calibrated decision; a breach is a fact with its evidence (the event the
monitor flow emits), never a score to squint at. The window must hold `min_rows` rows for the
drift tests: below that, they are skipped and the report says so rather than guessing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field

from mleng.assessment.shift import ShiftReport, ShiftTest, detect_shift
from mleng.card import DatasetCard
from mleng.card.base import StrictModel
from mleng.data.loading import FeatureColumns
from mleng.evaluation import Predictions, Resampling, Truth
from mleng.evaluation.records import LOWER_IS_BETTER
from mleng.monitoring.drift import DriftReport, measure_feature_drift, measure_prediction_drift
from mleng.monitoring.performance import (
    PerformanceReport,
    estimate_performance_without_labels,
    measure_online_performance,
)
from mleng.monitoring.stability import count_non_finite
from mleng.monitoring.usage import UsageReport, compare_hourly_usage
from mleng.monitoring.window import LogWindow
from mleng.training.threshold import read_threshold

DRIFT_EVENT = "mleng.drift.detected"
PERFORMANCE_EVENT = "mleng.performance.degraded"


class MonitorSettings(StrictModel):
    """How a window is judged (the monitor flow's parameters)."""

    window_hours: float = Field(default=24.0, gt=0)
    alpha: float = Field(default=0.05, gt=0, lt=1, description="family-wise false-alarm rate")
    min_rows: int = Field(default=200, ge=10, description="rows a window needs for drift tests")
    min_outcomes: int = Field(default=100, ge=10, description="outcomes for measured metrics")
    max_metric_drop: float = Field(
        default=0.02,
        ge=0,
        description="how far the metric's interval may lie below the version's test estimate",
    )
    resamples: int = Field(default=500, ge=50)
    shift_permutations: int = Field(
        default=19,
        ge=0,
        description="adversarial validation's permutations (0: skip the multivariate check)",
    )
    seed: int = 0


@dataclass(frozen=True)
class Breach:
    """A decision that something is wrong, with what proves it."""

    event: str
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WindowInputs:
    """What a window is judged on besides its rows."""

    card: DatasetCard
    model: Any  # the served version's fitted estimator (sklearn flavour)
    version: str
    reference: pd.DataFrame
    columns: tuple[list[str], list[str]]  # numeric, categorical
    test_metric: float | None  # the version's test estimate of the card's metric
    unseen: pd.DataFrame | None = None  # rows the version never trained on, for its outputs


@dataclass(frozen=True)
class MonitorReport:
    """Everything measured on one window, and the breaches found."""

    rows: int
    requests: int
    drift: DriftReport | None
    prediction_drift: DriftReport | None
    performance: PerformanceReport | None
    stability: dict[str, dict[str, dict[str, int]]]
    usage: UsageReport | None
    breaches: tuple[Breach, ...]
    notes: tuple[str, ...] = ()
    shift: ShiftReport | None = None  # multivariate: informs, the per-feature tests decide

    def metrics(self) -> dict[str, float]:
        """Numbers for MLflow, one time series each."""
        out = {"window_rows": float(self.rows), "window_requests": float(self.requests)}
        if self.drift is not None:
            out["drifted_features"] = float(len(self.drift.drifted_columns))
            for test in self.drift.tests:
                out[f"drift_p.{test.column}.{test.kind}"] = float(test.p_value)
        if self.prediction_drift is not None:
            out["prediction_drift_p"] = float(min(t.p_value for t in self.prediction_drift.tests))
        if self.performance is not None:
            prefix = "estimated" if self.performance.estimated else "online"
            for name, value in self.performance.metrics.items():
                out[f"{prefix}_{name}"] = float(value.value)
                out[f"{prefix}_{name}_ci_low"] = float(value.low)
                out[f"{prefix}_{name}_ci_high"] = float(value.high)
        inputs = self.stability.get("inputs", {})
        out["input_nan"] = float(sum(c["nan"] for c in inputs.values()))
        out["input_inf"] = float(sum(c["inf"] for c in inputs.values()))
        outputs = self.stability.get("outputs", {})
        out["output_non_finite"] = float(sum(c["nan"] + c["inf"] for c in outputs.values()))
        if self.usage is not None:
            out["requests_last_hour"] = float(self.usage.requests)
        if self.shift is not None:
            out["adversarial_auc"] = float(self.shift.auc)
            out["adversarial_p"] = float(self.shift.p_value)
        out["breaches"] = float(len(self.breaches))
        return out


def assess_window(
    window: LogWindow, inputs: WindowInputs, outcomes: pd.DataFrame, settings: MonitorSettings
) -> MonitorReport:
    """Judge one window of served traffic against the version's training rows."""
    numeric, categorical = inputs.columns
    notes: list[str] = []
    breaches: list[Breach] = []
    drift = prediction_drift = shift = None
    scored = window.inputs[window.from_model] if window.n_rows else window.inputs
    if window.n_rows >= settings.min_rows and all(
        c in window.inputs.columns for c in [*numeric, *categorical]
    ):
        drift = measure_feature_drift(
            inputs.reference, window.inputs, numeric, categorical, settings.alpha
        )
        if drift.any_drift:
            breaches.append(describe_drift(drift, inputs, window))
        shift = measure_joint_shift(inputs, window, settings)
        prediction_drift = measure_window_prediction_drift(window, inputs, settings)
        if prediction_drift is not None and prediction_drift.any_drift:
            breaches.append(describe_drift(prediction_drift, inputs, window, what="predictions"))
    else:
        notes.append(
            f"drift not tested: {window.n_rows} rows in the window, {settings.min_rows} needed"
        )
    performance = measure_window_performance(window, inputs, outcomes, settings)
    if performance is None:
        notes.append("performance not measured: too few outcomes and no probabilities")
    else:
        degraded = judge_performance(performance, inputs, settings)
        if degraded is not None:
            breaches.append(degraded)
    stability = {
        "inputs": count_non_finite(scored) if len(scored) else {},
        "outputs": count_non_finite(output_frame(window)),
    }
    usage = None
    if len(window.requests):
        usage = compare_hourly_usage(
            window.requests["received_at"], pd.Timestamp(window.until, unit="s", tz="UTC")
        )
    return MonitorReport(
        window.n_rows,
        len(window.requests),
        drift,
        prediction_drift,
        performance,
        stability,
        usage,
        tuple(breaches),
        tuple(notes),
        shift,
    )


def measure_joint_shift(
    inputs: WindowInputs, window: LogWindow, settings: MonitorSettings
) -> ShiftReport | None:
    """Adversarial validation of the window against the training rows: a shift in how features
    go together that no single feature shows. Its own permutation test, at `alpha`; reported
    beside the per-feature decision rather than added to it, so the window's false-alarm rate
    stays the calibrated one."""
    if settings.shift_permutations == 0:
        return None
    numeric, categorical = inputs.columns
    test = ShiftTest(settings.shift_permutations, 2000, alpha=settings.alpha)
    return detect_shift(
        inputs.reference, window.inputs, FeatureColumns(numeric, categorical), test, settings.seed
    )


def describe_drift(
    report: DriftReport, inputs: WindowInputs, window: LogWindow, what: str = "inputs"
) -> Breach:
    columns = list(report.drifted_columns)
    strongest = min((t for t in report.tests if t.drifted), key=lambda t: t.p_value)
    return Breach(
        DRIFT_EVENT,
        f"{inputs.card.model_name} v{inputs.version}: {what} drifted in {len(columns)} "
        f"column(s) {columns} over {window.n_rows} rows (strongest: {strongest.column}, "
        f"{strongest.test} p={strongest.p_value:.2e} < {report.threshold:.2e}, Bonferroni)",
        {
            "what": what,
            "columns": columns,
            "p_values": {f"{t.column}.{t.kind}": t.p_value for t in report.tests if t.drifted},
            "threshold": report.threshold,
            "rows": window.n_rows,
        },
    )


def output_frame(window: LogWindow) -> pd.DataFrame:
    """The model's answers in the window: class probabilities, or the predicted values."""
    if window.probabilities is not None:
        return window.probabilities[window.from_model].reset_index(drop=True)
    answered = window.predictions[window.from_model]
    return pd.DataFrame({"prediction": pd.to_numeric(answered, errors="coerce")})


def positive_scores(model: Any, probabilities: pd.DataFrame | np.ndarray, card: DatasetCard):
    """The positive (or top) class probability: one number per row to compare."""
    frame = pd.DataFrame(probabilities)
    labels = [str(label) for label in model.classes_]
    frame.columns = labels if len(frame.columns) == len(labels) else frame.columns
    positive = str(card.positive_label) if card.positive_label is not None else labels[-1]
    if card.task == "binary" and positive in frame.columns:
        return frame[positive].to_numpy(dtype="float64")
    return frame.max(axis=1).to_numpy(dtype="float64")


def measure_window_prediction_drift(
    window: LogWindow, inputs: WindowInputs, settings: MonitorSettings
) -> DriftReport | None:
    """The served version's outputs on its training rows against its outputs in the window."""
    answered = window.from_model
    if answered.sum() < settings.min_rows:
        return None
    unseen = inputs.unseen
    enough = unseen is not None and len(unseen) >= settings.min_rows
    model, reference = inputs.model, (unseen if enough else inputs.reference).head(5000)
    if window.probabilities is not None and hasattr(model, "predict_proba"):
        before = positive_scores(model, model.predict_proba(reference), inputs.card)
        now = positive_scores(model, window.probabilities[answered], inputs.card)
        return measure_prediction_drift(before, now, "probability", settings.alpha)
    before = np.asarray(model.predict(reference), dtype="float64")
    now = pd.to_numeric(window.predictions[answered], errors="coerce").to_numpy()
    return measure_prediction_drift(before, now, "value", settings.alpha)


def measure_window_performance(
    window: LogWindow, inputs: WindowInputs, outcomes: pd.DataFrame, settings: MonitorSettings
) -> PerformanceReport | None:
    """Measured on the outcomes when enough came back; else estimated from the probabilities
    (binary models, CBPE); else nothing."""
    card, resampling = inputs.card, Resampling(settings.resamples, 0.95, settings.seed)
    if len(outcomes):  # the model's answers only: a holdout's baseline is not the model
        outcomes = outcomes[window.from_model[outcomes["row"].to_numpy(dtype=int)]]
    if len(outcomes) >= settings.min_outcomes:
        rows = outcomes["row"].to_numpy(dtype=int)
        truth = _typed_outcomes(outcomes["outcome"], inputs.model, card.task)
        proba = None
        if window.probabilities is not None:
            proba = window.probabilities.iloc[rows].to_numpy(dtype="float64")
        predicted = window.predictions.iloc[rows].to_numpy()
        if card.task != "regression":
            predicted = _typed_outcomes(pd.Series(predicted), inputs.model, card.task)
        else:
            predicted = predicted.astype("float64")
        classes = None if proba is None else np.asarray(inputs.model.classes_)
        return measure_online_performance(
            Truth(card.task, truth, card.positive_label),
            Predictions(predicted, proba, classes),
            resampling=resampling,
        )
    if card.task == "binary" and window.probabilities is not None:
        answered = window.from_model
        if answered.sum() < settings.min_rows:
            return None
        scores = positive_scores(inputs.model, window.probabilities[answered], card)
        threshold = read_threshold(inputs.model) or 0.5
        return estimate_performance_without_labels(scores, threshold, resampling)
    return None


def _typed_outcomes(values: pd.Series, model: Any, task: str) -> np.ndarray:
    """Outcomes as the model's label type (JSON gives text or numbers), values as floats."""
    if task == "regression":
        return pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64")
    by_text = {str(label): label for label in np.asarray(model.classes_).tolist()}
    return np.asarray([by_text.get(str(value), value) for value in values], dtype=object)


def judge_performance(
    performance: PerformanceReport, inputs: WindowInputs, settings: MonitorSettings
) -> Breach | None:
    """Degraded when the whole interval of the card's metric lies beyond the version's test
    estimate by more than `max_metric_drop` (below it for scores, above it for losses)."""
    metric = inputs.card.metric
    found = performance.metrics.get(metric) if metric else None
    if found is None or inputs.test_metric is None or not np.isfinite(found.high):
        return None
    loss = metric in LOWER_IS_BETTER
    limit = inputs.test_metric + settings.max_metric_drop * (1 if loss else -1)
    worse = found.low > limit if loss else found.high < limit
    if not worse:
        return None
    kind = "estimated" if performance.estimated else "measured"
    return Breach(
        PERFORMANCE_EVENT,
        f"{inputs.card.model_name} v{inputs.version}: {kind} {metric} "
        f"{found.value:.4f} [{found.low:.4f}, {found.high:.4f}] on {performance.rows} rows, "
        f"against {inputs.test_metric:.4f} on the test set (limit {limit:.4f})",
        {
            "metric": metric,
            "value": found.value,
            "interval": [found.low, found.high],
            "test_estimate": inputs.test_metric,
            "estimated": performance.estimated,
            "rows": performance.rows,
        },
    )
