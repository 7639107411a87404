"""Load gates: locust's p95/p99 latency, failure ratio and throughput vs `[load]`, and the
check that the serving core's /metrics counted every request the load sent.

Locust's percentiles are bucketed (rounded response times), so they are coarser than exact.
"""

from __future__ import annotations

from dataclasses import asdict

from mlcheck.policy import LoadPolicy
from mlcheck.probes.readings import LoadStats
from mlcheck.results import Comparison, GateResult

__all__ = ["load_gates", "request_count_gate"]


def load_gates(stats: LoadStats, policy: LoadPolicy) -> list[GateResult]:
    """p95, p99, failure ratio and requests per second, each against its threshold."""
    if stats.requests == 0:
        return [
            GateResult.error(
                "load.locust",
                "locust sent no request: check --host and that the serving core answers",
                metric="requests",
            )
        ]
    measured = asdict(stats)
    checks = (
        ("load.p95", "p95_ms", stats.p95_ms, policy.p95_ms, Comparison.LE),
        ("load.p99", "p99_ms", stats.p99_ms, policy.p99_ms, Comparison.LE),
        (
            "load.failures",
            "failure_ratio",
            stats.failure_ratio,
            policy.max_failure_ratio,
            Comparison.LE,
        ),
        ("load.throughput", "rps", stats.rps, policy.min_rps, Comparison.GE),
    )
    return [GateResult.judged(*check, details=measured) for check in checks]


def request_count_gate(sent: int, counted: int, name: str = "load.metrics_count") -> GateResult:
    """PASS when the serving core's metrics counted exactly the requests the load sent."""
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
