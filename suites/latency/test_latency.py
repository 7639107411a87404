"""Latency: the model's predict in process (pytest-benchmark) and over HTTP (real uvicorn).

Compare with a saved baseline: run once with `--benchmark-autosave`, later runs with
`--benchmark-compare --benchmark-compare-fail=mean:25%` (see `tox -e latency`).
"""

import pytest

from mlcheck.errors import ConfigError
from mlcheck.gates.latency import timing_gate
from mlcheck.run.steps import http_latency


def _timings(benchmark, config):
    if benchmark.stats is not None:
        return benchmark.stats.stats.data
    if getattr(config, "_benchmarksession", None) and config._benchmarksession.xdist_warning:
        # turned off because pytest-xdist runs this session, not because the user asked
        raise ConfigError(
            "pytest-benchmark turns itself off under pytest-xdist (-n), so the model's predict "
            "cannot be timed; run suites/latency without -n (mlcheck gate does)"
        )
    # --benchmark-disable: the function ran once, untimed
    pytest.skip("benchmarks are disabled (--benchmark-disable); no timings to judge")


@pytest.mark.mlcheck_gate("latency.predict.single")
def test_predict_one_row(benchmark, mlcheck_scores, record_gates, request):
    benchmark(mlcheck_scores.model.predict, mlcheck_scores.data.columns(1))
    limit = mlcheck_scores.spec.policy.latency.single_p95_ms
    timings = _timings(benchmark, request.config)
    record_gates(timing_gate("latency.predict.single", timings, "p95_ms", limit))


@pytest.mark.mlcheck_gate("latency.predict.batch")
def test_predict_batch(benchmark, mlcheck_scores, record_gates, request):
    policy = mlcheck_scores.spec.policy.latency
    benchmark(mlcheck_scores.model.predict, mlcheck_scores.data.columns(policy.batch_rows))
    timings = _timings(benchmark, request.config)
    record_gates(timing_gate("latency.predict.batch", timings, "p95_ms", policy.batch_p95_ms))


@pytest.mark.mlcheck_gate("latency.http")
def test_http_latency(mlcheck_served_model, mlcheck_serving, record_gates):
    record_gates(http_latency(mlcheck_served_model.url, mlcheck_serving))
