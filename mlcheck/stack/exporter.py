"""The gate run's own metrics, scraped by the run's Prometheus as job `mlcheck-gates`.

The serving core never sees labels or the reference data, so model accuracy and data drift
are measured by the gates; this exporter publishes them as gauges for the alert rules:

* `ml_model_accuracy{model}`: the `quality.accuracy` gate's value (0..1).
* `ml_model_rmse{model}` and `ml_model_rmse_threshold{model}`: a regressor's `quality.rmse`
  gate value and its threshold (the alert compares the two, so it holds in any units).
* `ml_data_drift_share{model}`: the `drift.dataset` gate's drifted column share (0..1).
* `ml_data_drift_detected{model}`: 1 when that gate found dataset drift, else 0.
* `mlcheck_gate_value{gate, metric}` and `mlcheck_gate_passed{gate}` for every gate.

In production a scheduled evaluation job pushes the same gauges to a Pushgateway.
"""

from __future__ import annotations

import math
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, start_http_server

from mlcheck.results import GateResult, Outcome
from mlcheck.serving.process import free_port

__all__ = ["GateMetrics"]

ACCURACY_GATE = "quality.accuracy"
RMSE_GATE = "quality.rmse"
DRIFT_GATE = "drift.dataset"


class GateMetrics:
    """Gauges of the gates recorded so far; `start()` serves them on 127.0.0.1."""

    def __init__(self, model: str = "") -> None:
        self.model = model
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.accuracy = Gauge(
            "ml_model_accuracy", "Accuracy measured on labelled data", ["model"], registry=r
        )
        self.rmse = Gauge(
            "ml_model_rmse", "A regressor's RMSE on labelled data", ["model"], registry=r
        )
        self.rmse_threshold = Gauge(
            "ml_model_rmse_threshold",
            "The policy's largest allowed RMSE ([quality.max] rmse)",
            ["model"],
            registry=r,
        )
        self.drift_share = Gauge(
            "ml_data_drift_share", "Share of drifted input columns", ["model"], registry=r
        )
        self.drift_detected = Gauge(
            "ml_data_drift_detected", "1 when dataset drift was detected", ["model"], registry=r
        )
        self.gate_value = Gauge(
            "mlcheck_gate_value", "A gate's measured value", ["gate", "metric"], registry=r
        )
        self.gate_passed = Gauge(
            "mlcheck_gate_passed",
            "1 when the gate passed (or warned), 0 when it blocked",
            ["gate"],
            registry=r,
        )
        self._server: Any = None
        self.url: str | None = None

    def observe(self, result: GateResult) -> None:
        if result.outcome is Outcome.SKIP:
            return
        self.gate_passed.labels(result.name).set(0 if result.outcome.blocks else 1)
        value = result.value
        if value is None or not math.isfinite(value):
            return
        self.gate_value.labels(result.name, result.metric).set(value)
        if result.outcome is Outcome.ERROR:
            return
        if result.name == ACCURACY_GATE:
            self.accuracy.labels(self.model).set(value)
        elif result.name == RMSE_GATE and result.threshold is not None:
            self.rmse.labels(self.model).set(value)
            self.rmse_threshold.labels(self.model).set(result.threshold)
        elif result.name == DRIFT_GATE:
            self.drift_share.labels(self.model).set(value)
            self.drift_detected.labels(self.model).set(1 if result.outcome is Outcome.FAIL else 0)

    def start(self, port: int = 0) -> str:
        """Serve /metrics on loopback, on `port` (0: a free one); returns its base URL."""
        if self.url is None:
            port = port or free_port()
            server, _thread = start_http_server(port, addr="127.0.0.1", registry=self.registry)
            self._server, self.url = server, f"http://127.0.0.1:{port}"
        return self.url

    def stop(self) -> None:
        server, self._server, self.url = self._server, None, None
        if server is not None:
            server.shutdown()
            server.server_close()
