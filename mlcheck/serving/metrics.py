"""Prometheus metrics of the serving core (names follow the seeds' dashboards)."""

from __future__ import annotations

import collections
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)

from mlcheck.models.load import ModelInfo
from mlcheck.serving.reload import RELOAD_OUTCOMES
from mlcheck.serving.responses import Answer, class_labels
from mlcheck.stats.tasks import Task

__all__ = [
    "CLIENT_CLOSED_REQUEST",
    "HEAD_REFUSAL_REASONS",
    "LATENCY_BUCKETS",
    "MULTIPROC_ENV",
    "ServingMetrics",
]

#: Set (to an empty folder) before the workers start, it makes every worker write its
#: metrics there so /metrics adds them up, whichever worker answers the scrape.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

#: Seconds; fine below 10 ms where a healthy model answers, coarse up to the 500 ms threshold.
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
CONFIDENCE_BUCKETS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
#: A regressor's predicted values: decades on both sides of 0 (the scale is the model's).
VALUE_BUCKETS = (
    *(-(10.0**e) for e in range(6, -2, -1)),
    0.0,
    *(10.0**e for e in range(-1, 7)),
)
#: The `status` of a request whose client went away before the answer (nginx's code): not a
#: 5xx, so the error-ratio alert does not count it.
CLIENT_CLOSED_REQUEST = 499
#: The statuses /predict answers with, created at 0 so that rate() sees their first increase.
PREDICT_STATUSES = (
    "200",
    "400",
    "408",
    "413",
    "415",
    "422",
    str(CLIENT_CLOSED_REQUEST),
    "500",
)
ERROR_REASONS = (
    "malformed",
    "too_deep",
    "too_large",
    "invalid",
    "timeout",
    "disconnected",
    "media_type",  # 415: the body is not sent as application/json
    "host",  # 400: a Host header that --allowed-hosts does not name
    "model",
    "internal",  # 500: a fault of the server itself (logged with its traceback)
)
#: Why a request is answered before any route sees it (mlcheck/serving/protocol.py).
HEAD_REFUSAL_REASONS = ("header_too_large", "too_many_headers", "malformed", "head_timeout")


def observe_many(histogram: Histogram, values: np.ndarray) -> None:
    """`histogram.observe(v)` for every value, as one count per bucket: a 1000-row request
    adds 1000 observations with a handful of increments instead of 1000 locked ones.

    It fills the buckets the way `Histogram.observe` does (the first bucket whose upper bound
    is >= the value); tests/test_serving_metrics.py holds it to `observe` value by value.
    """
    if len(values) == 0:
        return
    bounds = histogram._upper_bounds
    counts = np.bincount(np.searchsorted(bounds, values, side="left"), minlength=len(bounds))
    histogram._sum.inc(float(np.sum(values)))
    for bucket, count in zip(histogram._buckets, counts.tolist(), strict=False):
        if count:
            bucket.inc(count)


class ServingMetrics:
    """Every metric the serving core exports, on a registry of its own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        disable_created_metrics()  # `_created` series double the scrape and no query uses them
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        r = self.registry
        self.requests = Counter(
            "http_requests",
            "HTTP requests by endpoint, method and status",
            ["endpoint", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency in seconds",
            ["endpoint", "method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.predictions = Counter("ml_predictions", "Rows predicted", registry=r)
        self.by_class = Counter(
            "ml_predictions_by_class",
            "Rows predicted, by predicted class",
            ["prediction_class"],
            registry=r,
        )
        self.confidence = Histogram(
            "ml_prediction_confidence",
            "Probability of the predicted class",
            buckets=CONFIDENCE_BUCKETS,
            registry=r,
        )
        self.values = Histogram(
            "ml_prediction_value",
            "A regressor's predicted values",
            buckets=VALUE_BUCKETS,
            registry=r,
        )
        self.errors = Counter(
            "ml_prediction_errors",
            "Predict requests that got no prediction, by reason",
            ["reason"],
            registry=r,
        )
        self.model_info = Gauge(
            "ml_model_info",
            "The served model (value 1)",
            ["uri", "flavor", "version"],
            registry=r,
            multiprocess_mode="max",
        )
        self.captured = Counter(
            "ml_capture_rows", "Served rows written to the capture folder", registry=r
        )
        self.capture_dropped = Counter(
            "ml_capture_dropped_rows",
            "Served rows the capture dropped because its writer was behind",
            registry=r,
        )
        self.reloads = Counter(
            "ml_model_reload",
            "Reloads of a registry alias by outcome (swapped, unchanged, load_failed, "
            "rejected, registry_error)",
            ["outcome"],
            registry=r,
        )
        self.head_refusals = Counter(
            "http_head_refusals",
            "Requests answered before any route saw them, by reason: a head too large or with "
            "too many headers (431), one the HTTP parser refuses (400), one not in on time (408)",
            ["reason"],
            registry=r,
        )
        self.model_load = Gauge(
            "ml_model_load_seconds",
            "Seconds the model took to load",
            registry=r,
            multiprocess_mode="max",
        )

    def exposition(self) -> bytes:
        """What /metrics serves: this process's metrics, or all workers' in multiprocess mode."""
        if os.environ.get(MULTIPROC_ENV):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)

    def observe_request(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        """Count one request and time it. The labelled children are looked up once and kept:
        `labels()` takes a lock and builds its key on every call."""
        key = (endpoint, method, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self.latency.labels(endpoint, method),
                self.requests.labels(endpoint, method, str(status)),
            )
        children[0].observe(seconds)
        children[1].inc()

    def record(self, answer: Answer) -> None:
        """Count one request's predictions: by class and confidence, or their values."""
        self.predictions.inc(len(answer.predictions))
        for label, count in collections.Counter(answer.classes).items():
            self.by_class.labels(label).inc(count)
        observe_many(self.confidence, answer.confidence)
        observe_many(self.values, answer.values)

    def start_at_zero(
        self, task: Task | None = "binary", classes: Sequence[Any] | None = None
    ) -> None:
        """Create the /predict series at 0 before the first request.

        `rate()` cannot see the increase a series had before its first scrape; a 5xx series
        born in the middle of an incident (or while scrapes time out under load) would hide
        its first errors from the error-rate alert.
        """
        for status in PREDICT_STATUSES:
            self.requests.labels("/predict", "POST", status)
        self.latency.labels("/predict", "POST")
        for reason in ERROR_REASONS:
            self.errors.labels(reason)
        for outcome in RELOAD_OUTCOMES:
            self.reloads.labels(outcome)
        for reason in HEAD_REFUSAL_REASONS:
            self.head_refusals.labels(reason)
        if task in ("binary", "multiclass") and (classes is not None or task == "binary"):
            for label in class_labels(task, classes) or []:
                self.by_class.labels(str(label))

    def set_model(self, info: ModelInfo) -> None:
        """The serving model's info series (only its own: a reload replaces the old one)."""
        self.model_info.clear()
        self.model_info.labels(info.uri, info.flavor, info.version or "").set(1)
        self.model_load.set(info.load_seconds)
