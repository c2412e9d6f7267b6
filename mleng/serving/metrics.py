"""Prometheus metrics of the service, per model version and arm (prometheus-client).

Each service gets its own registry, so two apps in one process (tests) never share counters.
Latency buckets start at 0.25 ms: the fast path answers in about a millisecond, and the default
buckets (5 ms and up) would put every request in the first one.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

LATENCY_BUCKETS = (
    0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
)  # fmt: skip
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 4096)


@dataclass
class ServiceMetrics:
    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    rows: Counter
    errors: Counter
    feedback: Counter
    cache_hits: Counter
    batch_rows: Histogram
    served_version: Gauge

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def create_metrics() -> ServiceMetrics:
    registry = CollectorRegistry()
    by_arm = ["model_version", "arm"]
    return ServiceMetrics(
        registry=registry,
        requests=Counter(
            "mleng_requests",
            "Prediction requests answered, by model version, arm and HTTP status",
            [*by_arm, "status"],
            registry=registry,
        ),
        latency=Histogram(
            "mleng_request_latency_seconds",
            "Time from reading the body to the answer, by model version and arm",
            by_arm,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        ),
        rows=Counter("mleng_rows", "Rows scored", by_arm, registry=registry),
        errors=Counter(
            "mleng_errors",
            "Requests that failed, by kind (invalid_input, model_error, log_unavailable, ...)",
            [*by_arm, "kind"],
            registry=registry,
        ),
        feedback=Counter(
            "mleng_feedback", "Outcomes and rewards received", by_arm, registry=registry
        ),
        cache_hits=Counter(
            "mleng_cache_hits", "Requests answered from the prediction cache", registry=registry
        ),
        batch_rows=Histogram(
            "mleng_batch_rows",
            "Rows per request",
            buckets=BATCH_BUCKETS,
            registry=registry,
        ),
        served_version=Gauge(
            "mleng_alias_version",
            "The version each alias points to, as loaded by this service",
            ["alias"],
            registry=registry,
        ),
    )
