"""What the probes measured: plain, frozen data that the gates read.

This module imports no network, thread or subprocess code, so a gate can take a reading as
its input without depending on how it was taken.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

__all__ = ["Alert", "HttpRun", "LoadStats", "PrometheusWindow", "Scrape"]


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


@dataclass(frozen=True)
class LoadStats:
    """What one locust run measured, over every request it sent.

    Locust's percentiles are bucketed (rounded response times), so they are coarser than exact.
    """

    requests: int
    failures: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    rps: float
    users: int = 0
    workers: int = 0

    @property
    def failure_ratio(self) -> float:
        return self.failures / self.requests if self.requests else 1.0

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> LoadStats:
        return cls(**json.loads(text))


@dataclass(frozen=True)
class Scrape:
    """The serving core's /predict counters in one Prometheus scrape, as Prometheus stored them."""

    at: float
    requests: float
    errors: float
    predictions: float


@dataclass(frozen=True)
class PrometheusWindow:
    """What Prometheus saw between two scrapes: the counters at each end and the p95 latency
    over exactly that window (NaN when Prometheus returned no value)."""

    before: Scrape
    after: Scrape
    p95_ms: float
    query: str
    prometheus: str

    @property
    def requests(self) -> float:
        return self.after.requests - self.before.requests

    @property
    def errors(self) -> float:
        return self.after.errors - self.before.errors


@dataclass(frozen=True)
class Alert:
    """An alert Prometheus holds: its rule's name and state (`pending` or `firing`)."""

    name: str
    state: str
