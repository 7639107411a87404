"""Stack gates: what a real Prometheus saw of the serving core during a load, and its alerts.

They decide from readings (`PrometheusWindow`, `Alert`) taken by `mlcheck.probes.prometheus`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, replace
from typing import Any

from mlcheck.gates.load import request_count_gate
from mlcheck.policy import StackPolicy
from mlcheck.probes.readings import Alert, PrometheusWindow
from mlcheck.results import Comparison, GateResult

__all__ = ["DECIDED_BY_GATES", "alert_gate", "prometheus_gates"]


def prometheus_gates(window: PrometheusWindow, sent: int, policy: StackPolicy) -> list[GateResult]:
    """Request count, p95 latency and error ratio of /predict between two scrapes."""
    requests, errors = window.requests, window.errors
    details: dict[str, Any] = {
        "before": asdict(window.before),
        "after": asdict(window.after),
        "requests": requests,
        "errors": errors,
        "predictions": window.after.predictions - window.before.predictions,
        "prometheus": window.prometheus,
    }
    if requests < 0 or errors < 0:
        reason = "a counter went down between the scrapes: the serving core restarted mid-run"
        return [
            GateResult.error(name, reason, metric)
            for name, metric in (
                ("stack.prometheus.p95_ms", "p95_ms"),
                ("stack.prometheus.error_ratio", "error_ratio"),
                ("stack.prometheus.requests", "uncounted requests"),
            )
        ]
    counted = request_count_gate(sent, round(requests), name="stack.prometheus.requests")
    gates = [replace(counted, details={**counted.details, **details})]
    if requests == 0:
        reason = (
            f"Prometheus saw no /predict request between {window.before.at} and {window.after.at}"
        )
        gates.append(GateResult.error("stack.prometheus.p95_ms", reason, "p95_ms"))
        gates.append(GateResult.error("stack.prometheus.error_ratio", reason, "error_ratio"))
        return gates
    if math.isnan(window.p95_ms):
        gates.append(
            GateResult.error(
                "stack.prometheus.p95_ms",
                f"Prometheus returned no value for {window.query}",
                "p95_ms",
            )
        )
    else:
        gates.append(
            GateResult.judged(
                "stack.prometheus.p95_ms",
                "p95_ms",
                window.p95_ms,
                policy.p95_ms,
                Comparison.LE,
                details={**details, "query": window.query},
            )
        )
    gates.append(
        GateResult.judged(
            "stack.prometheus.error_ratio",
            "error_ratio",
            errors / requests,
            policy.max_error_ratio,
            Comparison.LE,
            details=details,
        )
    )
    return gates


#: Alerts on what the gate run itself measured: their own gates decide, with the policy's
#: thresholds (the rules hold the production defaults), so they do not block stack.alerts.
DECIDED_BY_GATES = {
    "MlcheckLowModelAccuracy": "quality.accuracy",
    "MlcheckDataDrift": "drift.dataset",
}


def alert_gate(
    alerts: Sequence[Alert], prometheus: str = "", name: str = "stack.alerts"
) -> GateResult:
    """FAIL when a serving alert fires; pending ones are listed in the details."""
    states = {alert.name: alert.state for alert in alerts}
    firing = sorted(n for n, s in states.items() if s == "firing" and n not in DECIDED_BY_GATES)
    pending = sorted(n for n, s in states.items() if s == "pending")
    elsewhere = sorted(n for n, s in states.items() if s == "firing" and n in DECIDED_BY_GATES)
    note = "; ".join(f"{n} fires too ({DECIDED_BY_GATES[n]} decides)" for n in elsewhere)
    reason = "; ".join(filter(None, [f"firing: {', '.join(firing)}" if firing else "", note]))
    return GateResult.judged(
        name,
        "firing alerts",
        float(len(firing)),
        0.0,
        Comparison.EQ,
        reason=reason,
        details={
            "firing": firing,
            "pending": pending,
            "decided_by_gates": elsewhere,
            "prometheus": prometheus,
        },
    )
