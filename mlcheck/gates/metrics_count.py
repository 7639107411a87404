"""Nothing lost: the serving core's /metrics must count every request a load test sent."""

from __future__ import annotations

import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from mlcheck.errors import InfrastructureError
from mlcheck.results import Comparison, GateResult

__all__ = ["predict_requests_counted", "request_count_gate"]


def predict_requests_counted(base_url: str) -> int:
    """`http_requests_total` of POST /predict, every status, as /metrics reports it now."""
    try:
        with urllib.request.urlopen(f"{base_url}/metrics", timeout=10) as response:
            text = response.read().decode()
    except (urllib.error.URLError, OSError) as exc:
        raise InfrastructureError(f"{base_url}/metrics did not answer: {exc}") from exc
    total = 0.0
    for family in text_string_to_metric_families(text):
        if family.name != "http_requests":
            continue
        for sample in family.samples:
            if sample.name.endswith("_total") and sample.labels.get("endpoint") == "/predict":
                total += sample.value
    return round(total)


def request_count_gate(sent: int, counted: int, name: str = "load.metrics_count") -> GateResult:
    """PASS when /metrics counted exactly the requests the load test sent."""
    missing = sent - counted
    return GateResult.judged(
        name,
        "uncounted requests",
        float(missing),
        0.0,
        Comparison.EQ,
        reason="" if missing == 0 else f"locust sent {sent}, /metrics counted {counted}",
        details={"sent": sent, "counted": counted},
    )
