"""Reading the real Prometheus: PromQL queries, scrapes, alerts, and the stack gates.

Every HTTP call is bounded (`timeout_s`), and a Prometheus that stopped answering raises
InfrastructureError at once with the end of its log, so a run never hangs on it.

The gates compare two scrapes of the serving core, one before and one after the load:
request and error counts are the raw counters' differences (exact: nothing extrapolated,
nothing lost to a series that appeared mid-run), and p95 is `histogram_quantile` over the
`increase` of the buckets between exactly those two scrapes.
"""

from __future__ import annotations

import json
import math
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, replace
from typing import Any

from mlcheck.errors import ConfigError, InfrastructureError
from mlcheck.gates.metrics_count import request_count_gate
from mlcheck.policy import StackPolicy
from mlcheck.results import Comparison, GateResult
from mlcheck.stack.config import SERVING_JOB, duration
from mlcheck.stack.services import Service

__all__ = [
    "PrometheusClient",
    "Scrape",
    "alert_gate",
    "metric_names",
    "p95_query",
    "prometheus_gates",
]


class PrometheusClient:
    """The HTTP API of one Prometheus; `service` (when known) adds its log to errors."""

    def __init__(self, url: str, service: Service | None = None, timeout_s: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.service = service
        self.timeout_s = timeout_s

    def _down(self, what: str, exc: BaseException) -> InfrastructureError:
        where = self.service.describe() if self.service else f"Prometheus at {self.url}"
        text = f"{where} stopped answering ({what}: {exc})"
        if self.service is not None:
            running = self.service.running()
            for _ in range(3):  # a process or container that just died takes a moment to show
                if not running:
                    break
                time.sleep(0.5)
                running = self.service.running()
            state = "is still running" if running else "is not running"
            text += f"; the {self.service.backend} service {state}; its log ends:\n"
            text += self.service.log_tail(1500)
        return InfrastructureError(text)

    def get(self, path: str, **params: Any) -> Any:
        """The `data` of an API answer; InfrastructureError when Prometheus does not answer."""
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        url = f"{self.url}{path}" + (f"?{query}" if query else "")
        try:
            with urllib.request.urlopen(url, timeout=self.timeout_s) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            try:
                body = json.loads(exc.read())
            except ValueError:
                raise self._down(path, exc) from exc
            if exc.code in (400, 422):
                raise ConfigError(
                    f"Prometheus rejected {params.get('query', path)!r}: {body.get('error')}"
                ) from exc
            raise self._down(path, exc) from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise self._down(path, exc) from exc
        if body.get("status") != "success":
            raise ConfigError(f"Prometheus answered {path} with an error: {body.get('error')}")
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[tuple[dict[str, str], float]]:
        """An instant query (at time `at`, default now) as (labels, value) pairs."""
        data = self.get("/api/v1/query", query=expr, time=f"{at:.3f}" if at else None)
        if data["resultType"] == "scalar":
            return [({}, float(data["result"][1]))]
        if data["resultType"] != "vector":
            raise ConfigError(f"{expr!r} is not an instant vector query ({data['resultType']})")
        return [(item["metric"], float(item["value"][1])) for item in data["result"]]

    def value(self, expr: str, at: float | None = None, default: float = 0.0) -> float:
        """The sum of an instant query's values; `default` when it returns no series."""
        result = self.query(expr, at)
        return sum(v for _, v in result) if result else default

    def last_scrape(self, job: str = SERVING_JOB) -> float | None:
        """Unix time of the newest scrape of `job` (the sample time of its `up`)."""
        result = self.query(f'max(timestamp(up{{job="{job}"}}))')
        return result[0][1] if result else None

    def wait_for_scrape(self, after: float, job: str = SERVING_JOB, timeout_s: float = 30) -> float:
        """The time of the first scrape of `job` that started after `after` (Unix time)."""
        deadline = time.monotonic() + timeout_s
        while True:
            last = self.last_scrape(job)
            if last is not None and last > after:
                return last
            if time.monotonic() > deadline:
                raise InfrastructureError(
                    f"Prometheus at {self.url} did not scrape job {job!r} within "
                    f"{timeout_s:.0f} s; targets: {self.target_health()}"
                )
            time.sleep(0.2)

    def target_health(self) -> str:
        targets = self.get("/api/v1/targets")["activeTargets"]
        return "; ".join(
            f"{t['labels'].get('job')} {t['scrapeUrl']} {t['health']} {t.get('lastError', '')}"
            for t in targets
        )

    def alerts(self, state: str | None = None) -> list[dict[str, Any]]:
        """The alerts Prometheus holds (`pending` or `firing`), or only those in `state`."""
        alerts = self.get("/api/v1/alerts")["alerts"]
        return [a for a in alerts if state is None or a["state"] == state]

    def wait_for_alert(self, name: str, timeout_s: float) -> dict[str, Any]:
        """The alert `name` once it fires; InfrastructureError naming its state if it did not."""
        deadline = time.monotonic() + timeout_s
        while True:
            firing = [a for a in self.alerts("firing") if a["labels"].get("alertname") == name]
            if firing:
                return firing[0]
            if time.monotonic() > deadline:
                held = [a["labels"].get("alertname") + ":" + a["state"] for a in self.alerts()]
                raise InfrastructureError(
                    f"alert {name!r} did not fire within {timeout_s:.0f} s; "
                    f"alerts held: {', '.join(held) or 'none'}"
                )
            time.sleep(0.5)


SERVER_ERROR = ', status=~"5.."'  # what the error ratio and the alert count as an error


def _sel(job: str, extra: str = "") -> str:
    return f'{{job="{job}", endpoint="/predict"{extra}}}'


def p95_query(job: str, window: str) -> str:
    return (
        "histogram_quantile(0.95, sum by (le) "
        f"(increase(http_request_duration_seconds_bucket{_sel(job)}[{window}])))"
    )


@dataclass(frozen=True)
class Scrape:
    """The serving core's counters in one scrape, as Prometheus stored them."""

    at: float
    requests: float
    errors: float
    predictions: float

    @classmethod
    def read(cls, client: PrometheusClient, at: float, job: str = SERVING_JOB) -> Scrape:
        return cls(
            at=at,
            requests=client.value(f"sum(http_requests_total{_sel(job)})", at),
            errors=client.value(f"sum(http_requests_total{_sel(job, SERVER_ERROR)})", at),
            predictions=client.value(f'sum(ml_predictions_total{{job="{job}"}})', at),
        )

    @classmethod
    def next(
        cls, client: PrometheusClient, job: str = SERVING_JOB, timeout_s: float = 30
    ) -> Scrape:
        """The counters of the first scrape that starts after now."""
        return cls.read(client, client.wait_for_scrape(time.time(), job, timeout_s), job)


def prometheus_gates(
    client: PrometheusClient,
    before: Scrape,
    after: Scrape,
    sent: int,
    policy: StackPolicy,
    job: str = SERVING_JOB,
) -> list[GateResult]:
    """p95 latency, error ratio and request count of /predict between two scrapes."""
    requests = after.requests - before.requests
    errors = after.errors - before.errors
    details: dict[str, Any] = {
        "before": asdict(before),
        "after": asdict(after),
        "requests": requests,
        "errors": errors,
        "predictions": after.predictions - before.predictions,
        "prometheus": client.url,
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
        reason = f"Prometheus saw no /predict request between {before.at} and {after.at}"
        gates.append(GateResult.error("stack.prometheus.p95_ms", reason, "p95_ms"))
        gates.append(GateResult.error("stack.prometheus.error_ratio", reason, "error_ratio"))
        return gates
    # covers the earlier scrape and not the one before it: the increase between the two
    window = duration(after.at - before.at + policy.scrape_interval_s / 2)
    query = p95_query(job, window)
    p95_s = client.value(query, after.at, default=math.nan)
    p95_ms = p95_s * 1000
    gates.append(
        _gate(
            "stack.prometheus.p95_ms", "p95_ms", p95_ms, policy.p95_ms, {**details, "query": query}
        )
    )
    ratio = errors / requests
    gates.append(
        _gate("stack.prometheus.error_ratio", "error_ratio", ratio, policy.max_error_ratio, details)
    )
    return gates


def _gate(
    name: str, metric: str, value: float, threshold: float, details: dict[str, Any]
) -> GateResult:
    if math.isnan(value):
        return GateResult.error(name, f"Prometheus returned no value for {details.get('query')}")
    return GateResult.judged(name, metric, value, threshold, Comparison.LE, details=details)


#: Alerts on what the gate run itself measured: their own gates decide, with the policy's
#: thresholds (the rules hold the production defaults), so they do not block stack.alerts.
DECIDED_BY_GATES = {
    "MlcheckLowModelAccuracy": "quality.accuracy",
    "MlcheckDataDrift": "drift.dataset",
}


def alert_gate(client: PrometheusClient, name: str = "stack.alerts") -> GateResult:
    """FAIL when a serving alert fires now; pending ones are listed in the details."""
    held = client.alerts()
    names = {a["labels"].get("alertname", "?"): a["state"] for a in held}
    firing = sorted(n for n, s in names.items() if s == "firing" and n not in DECIDED_BY_GATES)
    pending = sorted(n for n, s in names.items() if s == "pending")
    elsewhere = sorted(n for n, s in names.items() if s == "firing" and n in DECIDED_BY_GATES)
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
            "prometheus": client.url,
        },
    )


_KEYWORDS = frozenset(
    [
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "inf",
        "nan",
    ]
)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (not functions, labels or keywords).

    A small lexer, enough for the dashboard and the alert rules: strings, label matchers,
    ranges and grouping clauses are dropped first; a name followed by `(` is a function.
    """
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"'(?:[^'\\]|\\.)*'", "''", text)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        word, start = match.group(), match.start()
        if start and (text[start - 1].isdigit() or text[start - 1] in ".$"):
            continue  # the exponent or unit of a number (1e3, 5m), or a $variable
        if text[match.end() :].lstrip().startswith("(") or word.lower() in _KEYWORDS:
            continue
        names.add(word)
    return names
