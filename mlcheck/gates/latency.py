"""Latency gates: predict timings in process, and a bounded run of HTTP requests over loopback.

Percentiles are exact (`mlcheck.stats.timing`), unlike locust's bucketed ones; thresholds are
in milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mlcheck.policy import LatencyPolicy
from mlcheck.probes.readings import HttpRun
from mlcheck.results import Comparison, GateResult
from mlcheck.stats.timing import percentiles_ms

__all__ = ["http_latency_gates", "timing_gate"]


def timing_gate(
    name: str, seconds: Sequence[float] | np.ndarray, key: str, threshold_ms: float
) -> GateResult:
    """PASS when the percentile `key` (e.g. "p95_ms") of the timings is at most the threshold."""
    stats = percentiles_ms(seconds)
    if not stats:
        return GateResult.error(name, "no timings were measured", metric=key)
    return GateResult.judged(name, key, stats[key], threshold_ms, Comparison.LE, details=stats)


def http_latency_gates(run: HttpRun, policy: LatencyPolicy) -> list[GateResult]:
    """p95 and p99 of the answered requests, and the error rate, against the policy."""
    if run.requests == 0:
        return [GateResult.error("latency.http", "no request was sent before the deadline")]
    if not run.seconds:
        return [
            GateResult.error(
                "latency.http",
                f"none of {run.requests} requests was answered with 200 ({run.statuses}); "
                "is the serving core up and the data in the model's format?",
            )
        ]
    timings = percentiles_ms(run.seconds)
    context: dict[str, Any] = {
        **timings,
        "statuses": run.statuses,
        "requests": run.requests,
        "rps": run.requests / run.wall_seconds,
    }
    failed = f"{run.errors} of {run.requests} requests failed: {run.statuses}" if run.errors else ""
    checks = (
        ("latency.http.p95", "p95_ms", timings["p95_ms"], policy.http_p95_ms, Comparison.LE),
        ("latency.http.p99", "p99_ms", timings["p99_ms"], policy.http_p99_ms, Comparison.LE),
    )
    return [
        *(GateResult.judged(*check, details=context) for check in checks),
        GateResult.judged(
            "latency.http.errors",
            "error_rate",
            run.errors / run.requests,
            policy.http_max_error_rate,
            Comparison.LE,
            reason=failed,
            details=context,
        ),
    ]
