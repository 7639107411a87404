"""Load: locust (a subprocess: it patches gevent) against the served model, bounded in time."""

from pathlib import Path

import pytest

from mlcheck.gates.load import load_gates, locust_command, run_locust
from mlcheck.gates.metrics_count import predict_requests_counted, request_count_gate


@pytest.mark.mlcheck_gate("load")
def test_load(mlcheck_served_model, mlcheck_inputs, record_gate):
    inputs = mlcheck_inputs
    inputs.current  # noqa: B018 - unreadable data is an ERROR here, not a silent locust failure
    policy = inputs.policy.load
    report_dir = Path(inputs.options.report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    policy_file = Path(inputs.policy.source) if Path(inputs.policy.source).is_file() else None
    command = locust_command(
        mlcheck_served_model.url,
        policy,
        report_dir,
        report_dir / "load.json",
        policy_file=policy_file,
        current=inputs.data_path("current"),
        workers=inputs.load_workers,
    )
    before = predict_requests_counted(mlcheck_served_model.url)
    stats, _, _ = run_locust(command, report_dir / "load.json", policy.run_time_s)
    after = predict_requests_counted(mlcheck_served_model.url)
    results = [record_gate(g) for g in load_gates(stats, policy)]
    if stats.requests:
        results.append(record_gate(request_count_gate(stats.requests, after - before)))
    blocked = [r.message for r in results if not r.passed]
    assert not blocked, "\n".join(blocked)
