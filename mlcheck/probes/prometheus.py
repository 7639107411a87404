"""Reading a real Prometheus: PromQL queries, scrapes of the serving core's counters, alerts.

Every HTTP call is bounded (`timeout_s`), and a Prometheus that stopped answering raises
InfrastructureError at once with the end of its log, so a run never hangs on it. What is read
comes back as readings (`Scrape`, `PrometheusWindow`, `Alert`); `mlcheck.gates.stack` decides.
"""

from __future__ import annotations

import json
import math
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Protocol

from mlcheck.errors import ConfigError, InfrastructureError
from mlcheck.probes.readings import Alert, PrometheusWindow, Scrape

__all__ = [
    "SERVING_JOB",
    "PrometheusClient",
    "duration",
    "metric_names",
    "next_scrape",
    "p95_query",
    "read_scrape",
    "read_window",
]

#: The scrape job of the serving core in `stack/prometheus.yml` and every query here.
SERVING_JOB = "mlcheck-serving"


def duration(seconds: float) -> str:
    """A Prometheus duration: whole milliseconds (`1500ms`), or seconds when whole (`2s`)."""
    if seconds <= 0:
        raise ConfigError(f"duration={seconds!r} must be > 0 seconds")
    millis = round(seconds * 1000)
    return f"{millis // 1000}s" if millis % 1000 == 0 else f"{millis}ms"


class Watched(Protocol):
    """What the client needs of the service it reads, to say why it stopped answering."""

    backend: str

    def describe(self) -> str: ...

    def running(self) -> bool: ...

    def log_tail(self, chars: int = 2000) -> str: ...


class PrometheusClient:
    """The HTTP API of one Prometheus; `service` (when known) adds its log to errors."""

    def __init__(self, url: str, service: Watched | None = None, timeout_s: float = 5.0) -> None:
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

    def held_alerts(self) -> list[Alert]:
        """Every alert Prometheus holds now, by rule name and state."""
        return [Alert(a["labels"].get("alertname", "?"), a["state"]) for a in self.alerts()]

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


def read_scrape(client: PrometheusClient, at: float, job: str = SERVING_JOB) -> Scrape:
    """The serving core's counters as Prometheus stored them at time `at`."""
    return Scrape(
        at=at,
        requests=client.value(f"sum(http_requests_total{_sel(job)})", at),
        errors=client.value(f"sum(http_requests_total{_sel(job, SERVER_ERROR)})", at),
        predictions=client.value(f'sum(ml_predictions_total{{job="{job}"}})', at),
    )


def next_scrape(client: PrometheusClient, job: str = SERVING_JOB, timeout_s: float = 30) -> Scrape:
    """The counters of the first scrape that starts after now."""
    return read_scrape(client, client.wait_for_scrape(time.time(), job, timeout_s), job)


def read_window(
    client: PrometheusClient,
    before: Scrape,
    after: Scrape,
    scrape_interval_s: float,
    job: str = SERVING_JOB,
) -> PrometheusWindow:
    """The counters of two scrapes and the p95 latency between exactly those two scrapes.

    Request and error counts are the raw counters' differences (exact: nothing extrapolated);
    p95 is `histogram_quantile` over the `increase` of the buckets in a window that covers the
    earlier scrape and not the one before it. No value (no request between them) is NaN.
    """
    query = p95_query(job, duration(after.at - before.at + scrape_interval_s / 2))
    p95_ms = math.nan
    if after.requests > before.requests:
        p95_ms = client.value(query, after.at, default=math.nan) * 1000
    return PrometheusWindow(before, after, p95_ms, query, client.url)


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
