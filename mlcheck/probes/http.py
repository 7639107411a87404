"""The serving core measured over HTTP: scores, a bounded run of timed requests, /metrics counts.

Every call is bounded in time; a server that does not answer is an InfrastructureError.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
from prometheus_client.parser import text_string_to_metric_families

from mlcheck.errors import InfrastructureError
from mlcheck.probes.readings import HttpRun

__all__ = [
    "PredictConnection",
    "post_json",
    "predict_http",
    "predict_requests_counted",
    "records_from_frame",
    "run_http_requests",
]


def _json_values(column: pd.Series) -> list[Any]:
    """A column's values as plain Python values that JSON carries exactly: floats as Python
    floats (their repr round-trips float64, where `DataFrame.to_json` keeps 10 digits),
    integers as ints, a missing value as None (JSON null), times as ISO text."""
    if pd.api.types.is_datetime64_any_dtype(column):
        column = column.map(lambda t: t.isoformat(), na_action="ignore")
    values = column.astype(object)
    return values.where(column.notna(), None).tolist()


def records_from_frame(frame: pd.DataFrame, columns: Sequence[str]) -> list[dict[str, Any]]:
    """JSON-ready records (plain Python values) of `columns` of `frame`, each value exact."""
    names = list(columns)
    values = [_json_values(frame[name]) for name in names]
    return [dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)]


def post_json(url: str, payload: Any, timeout: float = 30.0) -> tuple[int, Any]:
    """POST JSON; returns (status, decoded body). A refused connection is an InfrastructureError."""
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            return exc.code, json.loads(body)
        except ValueError:
            return exc.code, body.decode(errors="replace")
    except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
        raise InfrastructureError(f"the serving core at {url} did not answer: {exc}") from exc


def _output(prediction: dict[str, Any]) -> Any:
    """A prediction's number(s): a value, the class probabilities in order, or P(class 1)."""
    if "value" in prediction:
        return prediction["value"]
    if "probabilities" in prediction:
        return list(prediction["probabilities"].values())
    return prediction["probability"]


#: How many of an answer's row errors a message lists before "and N more".
SHOWN_PROBLEMS = 3


def _problems(body: Any, shown: int = SHOWN_PROBLEMS) -> str:
    """An error answer in one short line: its first `shown` problems (`detail`) and how many
    more there are; any other body as it came, cut to 300 characters."""
    detail = body.get("detail") if isinstance(body, dict) else None
    if not isinstance(detail, list):
        text = str(body)
        return text if len(text) <= 300 else f"{text[:300]}... ({len(text):,} characters)"

    def one(problem: Any) -> str:
        if not isinstance(problem, dict):
            return str(problem)
        where = [
            f"{key} {problem[key]}" for key in ("row", "field") if problem.get(key) is not None
        ]
        return f"{', '.join(where)}: {problem.get('error', problem)}" if where else str(problem)

    listed = "; ".join(one(problem) for problem in detail[:shown])
    more = len(detail) - shown
    return f"{listed}; and {more} more" if more > 0 else listed


def predict_http(base_url: str, records: list[dict[str, Any]], batch: int = 100) -> np.ndarray:
    """The served outputs for `records` (P(class 1), class probabilities or values, as the
    model's task gives them), `batch` records per request."""
    scores: list[Any] = []
    for start in range(0, len(records), batch):
        status, body = post_json(
            f"{base_url}/predict", {"instances": records[start : start + batch]}
        )
        if status != 200:
            raise InfrastructureError(f"{base_url}/predict answered {status}: {_problems(body)}")
        scores.extend(_output(p) for p in body["predictions"])
    return np.array(scores, dtype=np.float64)


class PredictConnection:
    """One keep-alive connection that POSTs JSON bodies to `path` (/predict); after a
    connection error it starts a new connection for the next request."""

    def __init__(self, host: str, port: int, timeout: float = 10.0, path: str = "/predict") -> None:
        self.host, self.port, self.timeout, self.path = host, port, timeout, path
        self._conn = http.client.HTTPConnection(host, port, timeout=timeout)

    def post(self, body: bytes) -> str:
        """The answer's status ("200", "422", ...), or the name of the connection error."""
        try:
            self._conn.request(
                "POST", self.path, body=body, headers={"Content-Type": "application/json"}
            )
            response = self._conn.getresponse()
            response.read()
            return str(response.status)
        except (OSError, http.client.HTTPException) as exc:
            self._conn.close()
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            return type(exc).__name__

    def close(self) -> None:
        self._conn.close()


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
        conn = PredictConnection(host, port, timeout)
        try:
            while time.monotonic() < stop_at:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                started = time.perf_counter()
                status = conn.post(bodies[i % len(bodies)])
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
