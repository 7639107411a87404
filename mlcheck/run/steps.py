"""The steps of a gate run that measure with a probe and then decide with a gate.

Each takes the run's inputs (or explicit values) and returns `GateResult`s; the suites only
record them. The probes get explicit values (a URL, records, a `LoadRun`), never the inputs.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlcheck.data.labels import task_labels
from mlcheck.data.partitions import parquet_rows, partition_files
from mlcheck.engine.dask import sample_partitions_seeded
from mlcheck.errors import DataError, InfrastructureError
from mlcheck.gates.drift import (
    Member,
    column_drift_gates,
    drift_gates,
    prediction_member,
    target_member,
    target_skip,
)
from mlcheck.gates.estimated import estimated_gates
from mlcheck.gates.importance import importance_stability_gate
from mlcheck.gates.latency import http_latency_gates
from mlcheck.gates.load import load_gates, request_count_gate
from mlcheck.gates.serving import mlflow_labels_gate, mlflow_parity_gate, serving_parity_gate
from mlcheck.gates.stack import alert_gate, prometheus_gates
from mlcheck.policy import DEFAULT_SLICE_METRIC
from mlcheck.probes.http import predict_http, predict_requests_counted, run_http_requests
from mlcheck.probes.importance import METHOD, SAMPLE_AGREEMENT, permutation_importances
from mlcheck.probes.locust import run_load
from mlcheck.probes.prometheus import next_scrape, read_window
from mlcheck.probes.pyfunc import mlflow_pyfunc_scores, pyfunc_serves_labels
from mlcheck.results import GateResult
from mlcheck.run.inputs import GateInputs
from mlcheck.stack import Stack
from mlcheck.stats.estimated import ESTIMABLE, realized_metrics
from mlcheck.stats.metrics import metric_values

__all__ = [
    "drift_family",
    "estimated_quality",
    "http_latency",
    "importance_stability",
    "load_after_counting",
    "mlflow_parity",
    "serving_parity",
    "stack_after_load",
]

#: Rows scored over HTTP and in process for the parity gate.
PARITY_ROWS = 200


def _parity_rows(inputs: GateInputs) -> tuple[list[dict[str, Any]], np.ndarray]:
    """The first rows the serving core accepts, as JSON records, and their offline outputs."""
    keep, records = inputs.served_records(PARITY_ROWS)
    if not records:
        raise DataError(
            f"the serving core refuses each of the first {PARITY_ROWS} current rows (see "
            "schema.inputs), so served and offline outputs cannot be compared; fix the data "
            "or the schema"
        )
    return records, inputs.head_scores(PARITY_ROWS)[keep]


def serving_parity(url: str, inputs: GateInputs) -> GateResult:
    """Score the first rows serving accepts over HTTP and in process; the scores must agree."""
    records, local = _parity_rows(inputs)
    return serving_parity_gate(predict_http(url, records), local, url)


def mlflow_parity(inputs: GateInputs) -> GateResult:
    """Score the first rows serving accepts, JSON-shaped, through MLflow's pyfunc (what
    `mlflow models serve` runs) and in process; MLflow must score them, and the scores must
    agree."""
    records, local = _parity_rows(inputs)
    path = inputs.model.info.path
    if not (Path(path) / "MLmodel").is_file():  # the model is not to blame: it is gone
        raise InfrastructureError(
            f"model={inputs.model.info.uri!r}: its directory {path!r} disappeared during the "
            "run, so MLflow's scoring cannot be checked; keep the model in place while gating"
        )
    labels = pyfunc_serves_labels(path, inputs.task)
    try:
        scores = mlflow_pyfunc_scores(path, records, inputs.task, labels)
    except DataError as exc:
        return mlflow_parity_gate(None, local, str(exc))
    if labels:
        return mlflow_labels_gate(len(local))
    return mlflow_parity_gate(scores, local, records=records)


def drift_family(inputs: GateInputs) -> dict[str, GateResult]:
    """The run's drift gates by name, decided as one family: each model input, the dataset
    share, the model's outputs (unless `[drift] prediction = false` or there is no model) and
    the labels (unless `[drift] target = false`; SKIP when a side has none)."""
    policy = inputs.policy.drift
    summary = inputs.summary if inputs.engine == "dask" else None
    outputs: dict[str, Member] = {}
    if policy.prediction and inputs.model_uri is not None:
        if summary is not None:
            scored = summary.prediction
            outputs["drift.prediction"] = (
                scored if scored is not None else "the partitions gave no model outputs",
                summary.prediction_kind,
            )
        else:
            try:
                outputs["drift.prediction"] = prediction_member(
                    inputs.reference_scores, inputs.scores, inputs.task
                )
            except DataError as exc:
                outputs["drift.prediction"] = (str(exc), "numeric")
    target: Member | None = None
    if policy.target and summary is not None:
        kind = "numeric" if inputs.label_task == "regression" else "categorical"
        target = (summary.target, kind) if summary.target is not None else None
    elif policy.target:
        target = target_member(inputs.reference, inputs.current, inputs.target, inputs.label_task)
    if target is not None:
        outputs["drift.target"] = target
    if summary is not None:
        gates = column_drift_gates(summary.drift, inputs.kinds, policy, outputs)
    else:
        gates = drift_gates(inputs.reference, inputs.current, inputs.kinds, policy, outputs)
    named = {g.name: g for g in gates}
    if policy.target and target is None:
        named["drift.target"] = target_skip(inputs.target)
    return named


def http_latency(url: str, inputs: GateInputs) -> list[GateResult]:
    """A bounded run of single-row requests, judged by `[latency]`."""
    policy = inputs.policy.latency
    run = run_http_requests(
        url,
        inputs.served_records(1000)[1] or inputs.records(1000),
        policy.http_requests,
        concurrency=policy.http_concurrency,
    )
    return http_latency_gates(run, policy)


def load_after_counting(url: str, inputs: GateInputs) -> list[GateResult]:
    """A bounded locust run judged by `[load]`, and the check that /metrics counted all of it."""
    load = inputs.load_run(url, Path(inputs.options.report_dir))
    before = predict_requests_counted(url)
    stats, _, _ = run_load(load)
    after = predict_requests_counted(url)
    gates = load_gates(stats, inputs.policy.load)
    if stats.requests:
        gates.append(request_count_gate(stats.requests, after - before))
    return gates


def stack_after_load(stack: Stack, url: str, inputs: GateInputs) -> list[GateResult]:
    """A bounded locust run against the serving core, then the gates read from Prometheus.

    The counters are read from a scrape that started after the load ended (and one before
    it began), and the alerts after the rules had time to fire: `stack.alerts` comes last.
    """
    policy = inputs.policy.stack
    client = stack.prometheus_client()
    load = inputs.load_run(url, Path(inputs.options.report_dir) / "stack")
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


def _importance_rows(
    inputs: GateInputs, kind: str, rows: int, seed: int
) -> tuple[pd.DataFrame, int]:
    """The reference or current data the importances are measured on, and its row count:
    the frame in memory (the probe samples it), or with --engine dask the same seeded sample
    drawn from the partitions one at a time."""
    if inputs.engine != "dask":
        frame = getattr(inputs, kind)
        return frame, len(frame)
    files = partition_files(inputs.data_location(kind), f"--{kind}")
    return sample_partitions_seeded(files, rows, seed), parquet_rows(files, f"--{kind}")


def importance_stability(inputs: GateInputs) -> GateResult:
    """Each feature's permutation importance on a seeded sample of `[importance] rows` rows of
    the reference and of the current data (the same rows with either engine), and the gate on
    how far the ranking and the shares moved; the details state the sample."""
    policy = inputs.policy.importance
    metric = DEFAULT_SLICE_METRIC[inputs.task]
    measured, totals = [], {}
    for kind in ("reference", "current"):
        frame, totals[kind] = _importance_rows(inputs, kind, policy.rows, policy.seed)
        measured.append(
            permutation_importances(
                inputs.model,
                frame,
                inputs.feature_names,
                inputs.target,
                inputs.task,
                metric,
                rows=policy.rows,
                repeats=policy.repeats,
                seed=policy.seed,
                threshold=inputs.policy.quality.decision_threshold,
                name=f"{kind} data",
            )
        )
    reference, current = measured
    sample = {
        "rows": {"reference": reference.rows, "current": current.rows},
        "of": totals,
        "seed": policy.seed,
        "repeats": policy.repeats,
        "rows_predicted": reference.predicted + current.predicted,
        "agreement_with_all_rows": SAMPLE_AGREEMENT,
    }
    return importance_stability_gate(
        reference.mean, current.mean, policy, METHOD, metric, sample=sample
    )


def estimated_quality(inputs: GateInputs) -> list[GateResult]:
    """The classification metrics estimated from the model's probabilities on the current
    data; the reference data's labels say whether the model is calibrated enough for it, and
    the current labels, once joined, show the realized value beside each estimate."""
    task, threshold = inputs.task, inputs.policy.quality.decision_threshold
    scores = inputs.reference_scores
    count = scores.shape[1] if scores.ndim == 2 else 0
    reference_labels = task_labels(
        inputs.reference, inputs.target, task, inputs.model.classes, "reference data", count
    )
    calibration = metric_values(
        reference_labels, scores, ["calibration_error"], threshold, task=task
    )["calibration_error"][0]
    realized = None
    if not inputs.missing_labels and inputs.target in inputs.current.columns:
        names = [r.metric for r in inputs.policy.quality.rules(task) if r.metric in ESTIMABLE[task]]
        # one sort of the scores, not the rows the quality gates prepare for their intervals
        realized = realized_metrics(inputs.labels, inputs.scores, names, task, threshold)
    return estimated_gates(inputs.scores, float(calibration), inputs.policy.quality, task, realized)
