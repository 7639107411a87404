"""Latency: the model's predict in process (pytest-benchmark) and over HTTP (real uvicorn).

Compare with a saved baseline: run once with `--benchmark-autosave`, later runs with
`--benchmark-compare --benchmark-compare-fail=mean:25%` (see `tox -e latency`).
"""

import pytest

from mlcheck.gates.latency import timing_gate
from mlcheck.run.steps import http_latency


def _timings(benchmark):
    if benchmark.stats is None:  # --benchmark-disable: the function ran once, untimed
        pytest.skip("benchmarks are disabled (--benchmark-disable); no timings to judge")
    return benchmark.stats.stats.data


@pytest.mark.mlcheck_gate("latency.predict.single")
def test_predict_one_row(benchmark, mlcheck_scores, record_gates):
    benchmark(mlcheck_scores.model.predict, mlcheck_scores.data.columns(1))
    limit = mlcheck_scores.spec.policy.latency.single_p95_ms
    record_gates(timing_gate("latency.predict.single", _timings(benchmark), "p95_ms", limit))


@pytest.mark.mlcheck_gate("latency.predict.batch")
def test_predict_batch(benchmark, mlcheck_scores, record_gates):
    policy = mlcheck_scores.spec.policy.latency
    benchmark(mlcheck_scores.model.predict, mlcheck_scores.data.columns(policy.batch_rows))
    record_gates(
        timing_gate("latency.predict.batch", _timings(benchmark), "p95_ms", policy.batch_p95_ms)
    )


@pytest.mark.mlcheck_gate("latency.http")
def test_http_latency(mlcheck_served_model, mlcheck_serving, record_gates):
    record_gates(http_latency(mlcheck_served_model.url, mlcheck_serving))
