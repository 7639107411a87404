"""Latency: the model's predict in process (pytest-benchmark) and over HTTP (real uvicorn).

Compare with a saved baseline: run once with `--benchmark-autosave`, later runs with
`--benchmark-compare --benchmark-compare-fail=mean:25%` (see `tox -e latency`).
"""

import pytest

from mlcheck.gates.latency import http_latency_gates, run_http_requests, timing_gate


def _columns(records):
    return {name: [r[name] for r in records] for name in records[0]}


def _timings(benchmark):
    if benchmark.stats is None:  # --benchmark-disable: the function ran once, untimed
        pytest.skip("benchmarks are disabled (--benchmark-disable); no timings to judge")
    return benchmark.stats.stats.data


@pytest.mark.mlcheck_gate("latency.predict.single")
def test_predict_one_row(benchmark, mlcheck_inputs, record_gate):
    columns = _columns(mlcheck_inputs.records(1))
    benchmark(mlcheck_inputs.model.predict_proba, columns)
    limit = mlcheck_inputs.policy.latency.single_p95_ms
    result = record_gate(
        timing_gate("latency.predict.single", _timings(benchmark), "p95_ms", limit)
    )
    assert result.passed, result.message


@pytest.mark.mlcheck_gate("latency.predict.batch")
def test_predict_batch(benchmark, mlcheck_inputs, record_gate):
    policy = mlcheck_inputs.policy.latency
    columns = _columns(mlcheck_inputs.records(policy.batch_rows))
    benchmark(mlcheck_inputs.model.predict_proba, columns)
    gate = timing_gate("latency.predict.batch", _timings(benchmark), "p95_ms", policy.batch_p95_ms)
    result = record_gate(gate)
    assert result.passed, result.message


@pytest.mark.mlcheck_gate("latency.http")
def test_http_latency(mlcheck_served_model, mlcheck_inputs, record_gate):
    policy = mlcheck_inputs.policy.latency
    run = run_http_requests(
        mlcheck_served_model.url,
        mlcheck_inputs.records(1000),
        requests=policy.http_requests,
        concurrency=policy.http_concurrency,
    )
    results = [record_gate(g) for g in http_latency_gates(run, policy)]
    blocked = [r.message for r in results if not r.passed]
    assert not blocked, "\n".join(blocked)
