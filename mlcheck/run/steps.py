"""The steps of a gate run that measure the served model with a probe and then decide with a
gate: serving and MLflow parity, latency over HTTP, the load, and what Prometheus saw.

Each takes the run's `Serving` (or explicit values) and returns `GateResult`s; the suites only
record them. The probes get explicit values (a URL, records, a `LoadRun`), never the run's parts.
The model's and the data's gates are `model_steps` and `data_steps`.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from mlcheck.errors import DataError, InfrastructureError
from mlcheck.gates.latency import http_latency_gates
from mlcheck.gates.load import load_gates, request_count_gate
from mlcheck.gates.serving import mlflow_labels_gate, mlflow_parity_gate, serving_parity_gate
from mlcheck.gates.stack import alert_gate, prometheus_gates
from mlcheck.probes.http import predict_http, predict_requests_counted, run_http_requests
from mlcheck.probes.locust import run_load
from mlcheck.probes.prometheus import next_scrape, read_window
from mlcheck.probes.pyfunc import mlflow_pyfunc_scores, pyfunc_serves_labels
from mlcheck.results import GateResult
from mlcheck.run.serving import Serving
from mlcheck.stack import Stack

__all__ = [
    "http_latency",
    "load_after_counting",
    "mlflow_parity",
    "serving_parity",
    "stack_after_load",
]

#: Rows scored over HTTP and in process for the parity gate.
PARITY_ROWS = 200


def _parity_rows(serving: Serving) -> tuple[list[dict[str, Any]], np.ndarray]:
    """The first rows the serving core accepts, as JSON records, and their offline outputs."""
    keep, records = serving.served_records(PARITY_ROWS)
    if not records:
        raise DataError(
            f"the serving core refuses each of the first {PARITY_ROWS} current rows (see "
            "schema.inputs), so served and offline outputs cannot be compared; fix the data "
            "or the schema"
        )
    return records, serving.scores.head_scores(PARITY_ROWS)[keep]


def serving_parity(url: str, serving: Serving) -> GateResult:
    """Score the first rows serving accepts over HTTP and in process; the scores must agree."""
    records, local = _parity_rows(serving)
    return serving_parity_gate(predict_http(url, records), local, url)


def mlflow_parity(serving: Serving) -> GateResult:
    """Score the first rows serving accepts, JSON-shaped, through MLflow's pyfunc (what
    `mlflow models serve` runs) and in process; MLflow must score them, and the scores must
    agree."""
    records, local = _parity_rows(serving)
    model, task = serving.scores.model, serving.scores.task
    path = model.info.path
    if not (Path(path) / "MLmodel").is_file():  # the model is not to blame: it is gone
        raise InfrastructureError(
            f"model={model.info.uri!r}: its directory {path!r} disappeared during the "
            "run, so MLflow's scoring cannot be checked; keep the model in place while gating"
        )
    labels = pyfunc_serves_labels(path, task)
    try:
        scores = mlflow_pyfunc_scores(path, records, task, labels)
    except DataError as exc:
        return mlflow_parity_gate(None, local, str(exc))
    if labels:
        return mlflow_labels_gate(len(local))
    return mlflow_parity_gate(scores, local, records=records)


def http_latency(url: str, serving: Serving) -> list[GateResult]:
    """A bounded run of single-row requests, judged by `[latency]`."""
    policy = serving.spec.policy.latency
    run = run_http_requests(
        url,
        serving.served_records(1000)[1] or serving.data.records(1000),
        policy.http_requests,
        concurrency=policy.http_concurrency,
    )
    return http_latency_gates(run, policy)


def load_after_counting(url: str, serving: Serving) -> list[GateResult]:
    """A bounded locust run judged by `[load]`, and the check that /metrics counted all of it."""
    load = serving.load_run(url, Path(serving.spec.options.report_dir))
    before = predict_requests_counted(url)
    stats, _, _ = run_load(load)
    after = predict_requests_counted(url)
    gates = load_gates(stats, serving.spec.policy.load)
    if stats.requests:
        gates.append(request_count_gate(stats.requests, after - before))
    return gates


def stack_after_load(stack: Stack, url: str, serving: Serving) -> list[GateResult]:
    """A bounded locust run against the serving core, then the gates read from Prometheus.

    The counters are read from a scrape that started after the load ended (and one before
    it began), and the alerts after the rules had time to fire: `stack.alerts` comes last.
    """
    policy = serving.spec.policy.stack
    client = stack.prometheus_client()
    load = serving.load_run(url, Path(serving.spec.options.report_dir) / "stack")
    before = next_scrape(client)
    stats, _, output = run_load(load)
    after = next_scrape(client)
    if stats.requests == 0:
        raise InfrastructureError(
            "the load sent no request to the serving core, so Prometheus has nothing to judge; "
            f"see {load.out_dir}/load.html; locust's output ends:\n{output[-1500:]}"
        )
    window = read_window(client, before, after, policy.scrape_interval_s)
    gates = prometheus_gates(window, stats.requests, policy)
    # `for:` of the run's rules, and two evaluations to act on the last scrape
    time.sleep(stack.alert_for_s + 2 * policy.scrape_interval_s)
    gates.append(alert_gate(client.held_alerts(), client.url))
    which = {"stack_backend": stack.backend, "stack_reason": stack.reason}
    return [replace(g, details={**g.details, **which}) for g in gates]
