"""Load: locust (a subprocess: it patches gevent) against the served model, bounded in time."""

from pathlib import Path

import pytest

from mlcheck.gates.load import load_for_run, load_gates
from mlcheck.gates.metrics_count import predict_requests_counted, request_count_gate


@pytest.mark.mlcheck_gate("load")
def test_load(mlcheck_served_model, mlcheck_inputs, record_gate):
    url = mlcheck_served_model.url
    before = predict_requests_counted(url)
    stats, _, _ = load_for_run(url, mlcheck_inputs, Path(mlcheck_inputs.options.report_dir))
    after = predict_requests_counted(url)
    results = [record_gate(g) for g in load_gates(stats, mlcheck_inputs.policy.load)]
    if stats.requests:
        results.append(record_gate(request_count_gate(stats.requests, after - before)))
    blocked = [r.message for r in results if not r.passed]
    assert not blocked, "\n".join(blocked)
