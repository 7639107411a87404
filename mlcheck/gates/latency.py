"""Latency gates: predict timings in process, and a bounded run of HTTP requests over loopback.

Percentiles here are exact (numpy's linear interpolation over every sample), unlike locust's
bucketed ones; thresholds are in milliseconds.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from mlcheck.errors import InfrastructureError
from mlcheck.policy import LatencyPolicy
from mlcheck.results import Comparison, GateResult

__all__ = ["HttpRun", "http_latency_gates", "percentiles_ms", "run_http_requests", "timing_gate"]


def percentiles_ms(seconds: Sequence[float] | np.ndarray) -> dict[str, float]:
    """p50/p95/p99/mean/max in milliseconds of timings given in seconds."""
    values = np.asarray(seconds, dtype=np.float64) * 1000.0
    if values.size == 0:
        return {}
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {
        "p50_ms": float(p50),
        "p95_ms": float(p95),
        "p99_ms": float(p99),
        "mean_ms": float(values.mean()),
        "max_ms": float(values.max()),
        "samples": int(values.size),
    }


def timing_gate(
    name: str, seconds: Sequence[float] | np.ndarray, key: str, threshold_ms: float
) -> GateResult:
    """PASS when the percentile `key` (e.g. "p95_ms") of the timings is at most the threshold."""
    stats = percentiles_ms(seconds)
    if not stats:
        return GateResult.error(name, "no timings were measured", metric=key)
    return GateResult.judged(name, key, stats[key], threshold_ms, Comparison.LE, details=stats)


@dataclass(frozen=True)
class HttpRun:
    """Timings (seconds) of the answered requests, and what went wrong with the others."""

    seconds: tuple[float, ...]
    errors: int
    statuses: dict[str, int]
    wall_seconds: float

    @property
    def requests(self) -> int:
        return len(self.seconds) + self.errors


def run_http_requests(
    base_url: str,
    records: Sequence[dict[str, Any]],
    requests: int,
    concurrency: int = 4,
    timeout: float = 10.0,
    deadline_s: float = 120.0,
) -> HttpRun:
    """POST `requests` single-record predictions from `concurrency` keep-alive connections.

    Bounded in count and time: the run stops at `deadline_s` whatever is left.
    """
    if not records:
        raise InfrastructureError("no rows to send: the current data is empty")
    parts = urlsplit(base_url)
    host, port = parts.hostname, parts.port
    if host is None or port is None:
        raise InfrastructureError(f"url={base_url!r} must look like http://127.0.0.1:8000")
    bodies = [json.dumps(r).encode() for r in records]
    seconds: list[float] = []
    statuses: dict[str, int] = {}
    errors = 0
    lock = threading.Lock()
    stop_at = time.monotonic() + deadline_s
    counter = iter(range(requests))

    def worker(_: int) -> None:
        nonlocal errors
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            while time.monotonic() < stop_at:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                started = time.perf_counter()
                try:
                    conn.request(
                        "POST",
                        "/predict",
                        body=bodies[i % len(bodies)],
                        headers={"Content-Type": "application/json"},
                    )
                    response = conn.getresponse()
                    response.read()
                    status = str(response.status)
                except (OSError, http.client.HTTPException) as exc:
                    status = type(exc).__name__
                    conn.close()
                    conn = http.client.HTTPConnection(host, port, timeout=timeout)
                elapsed = time.perf_counter() - started
                with lock:
                    statuses[status] = statuses.get(status, 0) + 1
                    if status == "200":
                        seconds.append(elapsed)
                    else:
                        errors += 1
        finally:
            conn.close()

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(worker, range(concurrency)))
    return HttpRun(tuple(seconds), errors, statuses, time.perf_counter() - started)


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
